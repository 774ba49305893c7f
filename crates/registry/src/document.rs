//! Manifests and indexes fetched with a size cap. oci-client reads a manifest
//! answer whole into memory, however long it is: a broken or hostile registry (or
//! mirror) that streams without end would fill memory. This GET reads at most
//! [`MAX_MANIFEST_BYTES`] (containerd's limit for manifests and indexes, 4 MiB;
//! real ones are a few KiB) and refuses the rest, before anything is stored. It
//! sends the credentials the session's oci-client authenticated with.

use crate::client::{ClientError, Session};
use oci_client::errors::{OciDistributionError, OciEnvelope};
use sha2::{Digest as _, Sha256};

/// The most a manifest or index may weigh (containerd's `MaxManifestSize`).
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// The most an image config may weigh: configs carry the history and the
/// environment, rarely more than tens of KiB; 8 MiB leaves room for any real one.
pub const MAX_CONFIG_BYTES: u64 = 8 << 20;

/// GETs the manifest `oref` names; returns its bytes and digest (checked against
/// the digest asked for and the registry's `Docker-Content-Digest`).
pub async fn get_manifest(
    session: &Session,
    oref: &oci_client::Reference,
    accept: &[&str],
    what: &str,
) -> Result<(bytes::Bytes, String), ClientError> {
    let url = manifest_url(session, oref);
    let mut req = session.http.get(&url).header("Accept", accept.join(", "));
    req = session.authorize(req);
    let resp = req
        .send()
        .await
        .map_err(|e| session.error(OciDistributionError::RequestError(e), what))?;
    let status = resp.status();
    let header_digest = resp
        .headers()
        .get("Docker-Content-Digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let too_large = || ClientError::TooLarge {
        host: session.endpoint.host.clone(),
        what: what.to_string(),
        limit: MAX_MANIFEST_BYTES,
    };
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_MANIFEST_BYTES)
    {
        return Err(too_large());
    }
    let body = read_capped(resp, MAX_MANIFEST_BYTES)
        .await
        .map_err(|e| match e {
            Capped::Over => too_large(),
            Capped::Net(e) => session.error(OciDistributionError::RequestError(e), what),
        })?;
    if !status.is_success() {
        return Err(status_error(session, status.as_u16(), &url, &body, what));
    }
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&body)));
    let expected = oref.digest().map(str::to_string).or(header_digest);
    if let Some(exp) = expected.filter(|e| e.starts_with("sha256:") && *e != digest) {
        return Err(ClientError::Registry {
            host: session.endpoint.host.clone(),
            why: format!("the {what} it sent hashes to {digest}, not {exp}; nothing was stored"),
        });
    }
    Ok((bytes::Bytes::from(body), digest))
}

/// oci-client's manifest URL: the endpoint (a mirror names the upstream
/// registry in `?ns=`), the repository, the digest or tag.
fn manifest_url(session: &Session, oref: &oci_client::Reference) -> String {
    let scheme = if session.endpoint.plain_http {
        "http"
    } else {
        "https"
    };
    let target = oref.digest().or(oref.tag()).unwrap_or("latest");
    let ns = oref
        .namespace()
        .map(|n| format!("?ns={n}"))
        .unwrap_or_default();
    format!(
        "{scheme}://{}/v2/{}/manifests/{target}{ns}",
        oref.resolve_registry(),
        oref.repository()
    )
}

enum Capped {
    Over,
    Net(reqwest::Error),
}

async fn read_capped(mut resp: reqwest::Response, limit: u64) -> Result<Vec<u8>, Capped> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(Capped::Net)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(Capped::Over);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A failed answer as oci-client would have reported it, so the endpoint
/// fallback (not found → next mirror) and the messages stay the same.
fn status_error(session: &Session, code: u16, url: &str, body: &[u8], what: &str) -> ClientError {
    let e = match serde_json::from_slice::<OciEnvelope>(body) {
        Ok(envelope) if code != 401 => OciDistributionError::RegistryError {
            envelope,
            url: url.to_string(),
        },
        _ => OciDistributionError::ServerError {
            code,
            url: url.to_string(),
            message: String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned(),
        },
    };
    session.error(e, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Endpoint;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// A registry that answers the API check, then streams a manifest without
    /// end (chunked, no length). Returns its address and the bytes it sent.
    fn endless_registry() -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = sent.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut conn = conn;
                    let mut first = String::new();
                    if reader.read_line(&mut first).is_err() {
                        return;
                    }
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                        line.clear();
                    }
                    if !first.contains("/manifests/") {
                        let _ = conn.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                        );
                        return;
                    }
                    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
                    let chunk = format!("{:x}\r\n{}\r\n", 65536, " ".repeat(65536));
                    // At most 1 GiB, should the client never stop reading.
                    for _ in 0..16384 {
                        if conn.write_all(chunk.as_bytes()).is_err() {
                            return;
                        }
                        counter.fetch_add(65536, Ordering::Relaxed);
                    }
                });
            }
        });
        (addr, sent)
    }

    #[test]
    fn an_endless_manifest_is_refused_at_the_cap() {
        let (addr, sent) = endless_registry();
        let rt = crate::client::runtime().unwrap();
        let ep = Endpoint {
            host: addr.clone(),
            plain_http: true,
            mirror: false,
        };
        let reference = berth_image::Reference::parse(&format!("{addr}/hostile:1")).unwrap();
        let err = rt
            .block_on(async {
                let s =
                    Session::open_with(&ep, &reference, None, oci_client::RegistryOperation::Pull)
                        .await?;
                let oref = s.oci_ref(&reference);
                get_manifest(&s, &oref, crate::manifest::ACCEPT, "manifest").await
            })
            .unwrap_err();
        assert!(matches!(err, ClientError::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains("4194304"), "{err}");
        let read = sent.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            read < 64 << 20,
            "stopped near the cap, not after {read} bytes"
        );
    }
}
