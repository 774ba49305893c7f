//! HTTP(S) downloads for `ADD <url>` and URL contexts, with reqwest's
//! blocking client (rustls with the ring provider, as the registry client
//! uses, so one TLS stack is linked). Redirects are followed; a status other
//! than 2xx is an error.

use std::io::Write;
use std::time::Duration;

/// Downloads `url` into `out`; returns the `Last-Modified` time (seconds).
pub fn fetch(url: &str, out: &mut dyn Write) -> Result<berth_build::host::Fetched, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())?;
    let mut resp = client.get(url).send().map_err(|e| error_chain(&e))?;
    if !resp.status().is_success() {
        return Err(format!("the server answered {}", resp.status()));
    }
    let modified = resp
        .headers()
        .get(reqwest::header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
        .map(|t| t.timestamp());
    resp.copy_to(out).map_err(|e| error_chain(&e))?;
    Ok(berth_build::host::Fetched { modified })
}

/// reqwest's errors keep the cause (connection refused, …) in their sources.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        text.push_str(&format!(": {s}"));
        cur = s.source();
    }
    text
}
