//! One authenticated connection to one endpoint (a registry or a mirror), over
//! oci-client, and the translation of its errors into what a user can act on.

use crate::credentials::{Credential, CredentialStore, CredentialsError};
use crate::settings::Endpoint;
use berth_image::Reference;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::RegistryOperation;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach {url}: {why}")]
    Unreachable { url: String, why: String },
    #[error("{host} refused the credentials{user}: {why}; check them, then berth login {host}")]
    Unauthorized {
        host: String,
        user: String,
        why: String,
    },
    #[error("{what} not found on {host}")]
    NotFound { host: String, what: String },
    #[error("{host} answered: {why}")]
    Registry { host: String, why: String },
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error("starting the network runtime: {0}")]
    Runtime(std::io::Error),
    #[error("{host} sent a {what} of more than {limit} bytes, berth's limit (containerd's too); nothing was stored: the registry or mirror is broken or hostile")]
    TooLarge {
        host: String,
        what: String,
        limit: u64,
    },
    #[error("preparing an HTTP client: {0}")]
    Http(String),
}

impl ClientError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::NotFound { .. })
    }
}

/// A tokio runtime that lives only as long as one pull or push: the rest of berth
/// (and the container monitor above all) stays free of async.
pub fn runtime() -> Result<tokio::runtime::Runtime, ClientError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("berth-registry")
        .enable_all()
        .build()
        .map_err(ClientError::Runtime)
}

pub struct Session {
    pub client: oci_client::Client,
    /// For the requests berth makes itself (size-capped manifests, see
    /// `document`), with oci-client's settings.
    pub http: reqwest::Client,
    pub endpoint: Endpoint,
    pub auth: RegistryAuth,
    /// The bearer token oci-client obtained, if the registry uses tokens.
    token: Option<String>,
    user: Option<String>,
}

impl Session {
    /// Connects to `endpoint` on behalf of `registry` (they differ for a mirror)
    /// with the credentials docker would use for the endpoint's host, and
    /// authenticates for `op` on `reference`'s repository.
    pub async fn open(
        endpoint: &Endpoint,
        reference: &Reference,
        creds: &CredentialStore,
        op: RegistryOperation,
    ) -> Result<Session, ClientError> {
        let cred = creds.get(&endpoint.host)?;
        Self::open_with(endpoint, reference, cred, op).await
    }

    pub async fn open_with(
        endpoint: &Endpoint,
        reference: &Reference,
        cred: Option<Credential>,
        op: RegistryOperation,
    ) -> Result<Session, ClientError> {
        // ring as rustls' provider; a second install in the same process is a no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = ClientConfig {
            protocol: if endpoint.plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            platform_resolver: None,
            use_monolithic_push: true,
            connect_timeout: Some(Duration::from_secs(15)),
            read_timeout: Some(Duration::from_secs(120)),
            user_agent: concat!("berth/", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        };
        let client = oci_client::Client::new(config);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(120))
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Http(error_chain(&e)))?;
        let user = cred.as_ref().map(|c| c.username.clone());
        let auth = match cred {
            Some(c) if c.username.is_empty() => RegistryAuth::Bearer(c.secret),
            Some(c) => RegistryAuth::Basic(c.username, c.secret),
            None => RegistryAuth::Anonymous,
        };
        let mut session = Session {
            client,
            http,
            endpoint: endpoint.clone(),
            auth,
            token: None,
            user,
        };
        let oref = session.oci_ref(reference);
        session.token = session
            .client
            .auth(&oref, &session.auth, op)
            .await
            .map_err(|e| session.error(e, "authentication"))?;
        Ok(session)
    }

    /// Adds the credentials oci-client would send to a request of berth's own.
    pub fn authorize(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match (&self.token, &self.auth) {
            (Some(token), _) => req.bearer_auth(token),
            (None, RegistryAuth::Basic(user, secret)) => req.basic_auth(user, Some(secret)),
            (None, RegistryAuth::Bearer(token)) => req.bearer_auth(token),
            _ => req,
        }
    }

    /// berth's reference as oci-client addresses it on this endpoint.
    pub fn oci_ref(&self, r: &Reference) -> oci_client::Reference {
        let mut o = match (&r.tag, &r.digest) {
            (_, Some(d)) => oci_client::Reference::with_digest(
                r.registry.clone(),
                r.repository.clone(),
                d.clone(),
            ),
            (t, None) => oci_client::Reference::with_tag(
                r.registry.clone(),
                r.repository.clone(),
                t.clone().unwrap_or_else(|| "latest".into()),
            ),
        };
        if self.endpoint.host != r.registry {
            o.set_mirror_registry(self.endpoint.host.clone());
        }
        o
    }

    pub fn base_url(&self) -> String {
        let scheme = if self.endpoint.plain_http {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}", self.endpoint.host)
    }

    /// Turns oci-client's error into one that names the endpoint and what to do.
    pub fn error(&self, e: OciDistributionError, what: &str) -> ClientError {
        classify(
            &self.endpoint.host,
            &self.base_url(),
            self.user.as_deref(),
            e,
            what,
        )
    }
}

fn classify(
    host: &str,
    url: &str,
    user: Option<&str>,
    e: OciDistributionError,
    what: &str,
) -> ClientError {
    use oci_client::errors::OciErrorCode;
    let host = host.to_string();
    let user = user.map(|u| format!(" of user {u:?}")).unwrap_or_default();
    let unauthorized = |why: String| ClientError::Unauthorized {
        host: host.clone(),
        user: user.clone(),
        why,
    };
    match e {
        OciDistributionError::RequestError(r) if r.is_connect() || r.is_timeout() => {
            ClientError::Unreachable {
                url: url.into(),
                why: error_chain(&r),
            }
        }
        OciDistributionError::UnauthorizedError { url } => {
            unauthorized(format!("401 Unauthorized for {url}"))
        }
        OciDistributionError::AuthenticationFailure(why) => unauthorized(why),
        OciDistributionError::ServerError {
            code: 401, message, ..
        } => unauthorized(message),
        OciDistributionError::ServerError { code: 404, .. } => ClientError::NotFound {
            host,
            what: what.into(),
        },
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            let missing = codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NotFound
                )
            });
            if missing {
                return ClientError::NotFound {
                    host,
                    what: what.into(),
                };
            }
            if codes
                .iter()
                .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
            {
                return unauthorized(envelope.to_string());
            }
            ClientError::Registry {
                host,
                why: envelope.to_string(),
            }
        }
        OciDistributionError::RequestError(r)
            if matches!(r.status().map(|s| s.as_u16()), Some(401 | 403)) =>
        {
            unauthorized(format!("{} for {}", r.status().unwrap_or_default(), what))
        }
        OciDistributionError::RequestError(r) if r.status().is_some_and(|s| s.as_u16() == 404) => {
            ClientError::NotFound {
                host,
                what: what.into(),
            }
        }
        OciDistributionError::RequestError(r) => ClientError::Registry {
            host,
            why: error_chain(&r),
        },
        other => ClientError::Registry {
            host,
            why: other.to_string(),
        },
    }
}

/// reqwest's Display hides the cause ("error sending request"); show the chain.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
