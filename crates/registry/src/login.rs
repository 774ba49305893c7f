//! `login`/`logout`: check credentials against the registry the way docker does,
//! then keep them where docker reads them.
//!
//! Hand-written over reqwest (the HTTP stack oci-client itself uses) because
//! oci-client has no "ping /v2/ with these credentials" call: its basic auth is
//! only ever sent, never verified, until some later request fails.

use crate::client::{error_chain, runtime, ClientError};
use crate::credentials::{Credential, CredentialStore, CredentialsError};
use crate::settings::Settings;
use reqwest::StatusCode;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(
        "{registry} rejected the username or password for {user:?} ({status}); nothing was saved"
    )]
    Rejected {
        registry: String,
        user: String,
        status: String,
    },
    #[error("{registry} answered {status} to the login check; is it a registry?")]
    Unexpected { registry: String, status: String },
}

/// The host to talk to for `registry` (Docker Hub's API lives elsewhere).
fn api_host(registry: &str) -> &str {
    if registry == "docker.io" {
        "index.docker.io"
    } else {
        registry
    }
}

/// Verifies `cred` on `registry`, then stores it. Returns where it was stored.
pub fn login(settings: &Settings, registry: &str, cred: &Credential) -> Result<String, LoginError> {
    let host = api_host(registry);
    let scheme = if settings.plain_http(registry) {
        "http"
    } else {
        "https"
    };
    let url = format!("{scheme}://{host}/v2/");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = runtime()?;
    let unreachable = |e: reqwest::Error| ClientError::Unreachable {
        url: url.clone(),
        why: error_chain(&e),
    };
    rt.block_on(async {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(unreachable)?;
        let first = http.get(&url).send().await.map_err(unreachable)?;
        if first.status().is_success() {
            return Ok(());
        }
        let rejected = |status: StatusCode| LoginError::Rejected {
            registry: registry.into(),
            user: cred.username.clone(),
            status: status.to_string(),
        };
        if first.status() != StatusCode::UNAUTHORIZED {
            return Err(LoginError::Unexpected {
                registry: registry.into(),
                status: first.status().to_string(),
            });
        }
        let challenge = first
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let check = match bearer_params(&challenge) {
            Some((realm, service)) => {
                let mut q = vec![("account", cred.username.clone())];
                if let Some(s) = service {
                    q.push(("service", s));
                }
                let mut u = reqwest::Url::parse(&realm).map_err(|e| LoginError::Unexpected {
                    registry: registry.into(),
                    status: format!("a bad token realm {realm:?}: {e}"),
                })?;
                u.query_pairs_mut().extend_pairs(q);
                http.get(u)
            }
            None => http.get(&url),
        };
        let resp = check
            .basic_auth(&cred.username, Some(&cred.secret))
            .send()
            .await
            .map_err(unreachable)?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            s @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => Err(rejected(s)),
            s => Err(LoginError::Unexpected {
                registry: registry.into(),
                status: s.to_string(),
            }),
        }
    })?;
    drop(rt);
    let store = CredentialStore::new(&settings.docker_config_dir);
    store.store(registry, cred)?;
    Ok(store.path().display().to_string())
}

pub fn logout(settings: &Settings, registry: &str) -> Result<bool, LoginError> {
    Ok(CredentialStore::new(&settings.docker_config_dir).erase(registry)?)
}

/// `Bearer realm="…",service="…"` → (realm, service); None for other schemes.
fn bearer_params(challenge: &str) -> Option<(String, Option<String>)> {
    let rest = challenge.trim();
    let (scheme, params) = rest.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    for part in split_params(params) {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').to_string();
        match k.trim().to_ascii_lowercase().as_str() {
            "realm" => realm = Some(v),
            "service" => service = Some(v),
            _ => {}
        }
    }
    realm.map(|r| (r, service))
}

/// Splits on commas outside quotes (scopes hold commas: `repository:a:pull,push`).
fn split_params(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges() {
        let (realm, service) = bearer_params(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull,push""#,
        )
        .unwrap();
        assert_eq!(realm, "https://auth.example/token");
        assert_eq!(service.as_deref(), Some("registry.example"));
        assert!(bearer_params(r#"Basic realm="x""#).is_none());
        assert_eq!(api_host("docker.io"), "index.docker.io");
    }
}
