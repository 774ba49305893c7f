//! Credentials where docker keeps them: `config.json` in `$DOCKER_CONFIG` (default
//! `~/.docker`), `auths` entries (base64 `user:password`), and credential helpers
//! (`credsStore` for all registries, `credHelpers` per registry), run as docker runs
//! them: `docker-credential-NAME get|store|erase` with the server on stdin.

use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// docker keys Docker Hub's credentials by its v1 index URL.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("reading {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path} is not valid JSON: {error}; fix or remove it")]
    Json {
        path: PathBuf,
        error: serde_json::Error,
    },
    #[error("writing {path}: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("the auth entry for {server} in {path} is not base64 of user:password")]
    BadAuth { server: String, path: PathBuf },
    #[error("credential helper docker-credential-{helper} {action} failed: {why}")]
    Helper {
        helper: String,
        action: &'static str,
        why: String,
    },
}

#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub secret: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({}, <redacted>)", self.username)
    }
}

/// The key docker uses in `auths` and with helpers.
pub fn server_key(registry: &str) -> String {
    if registry == "docker.io" || registry == "index.docker.io" {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

/// docker also matches `auths` keys written as URLs (`https://host/v1/`).
fn key_host(key: &str) -> &str {
    let no_scheme = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    no_scheme.split('/').next().unwrap_or(no_scheme)
}

pub struct CredentialStore {
    path: PathBuf,
}

impl CredentialStore {
    pub fn new(docker_config_dir: &Path) -> Self {
        CredentialStore {
            path: docker_config_dir.join("config.json"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn load(&self) -> Result<Map<String, Value>, CredentialsError> {
        match std::fs::read(&self.path) {
            Ok(data) if data.iter().all(|b| b.is_ascii_whitespace()) => Ok(Map::new()),
            Ok(data) => serde_json::from_slice(&data).map_err(|error| CredentialsError::Json {
                path: self.path.clone(),
                error,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
            Err(error) => Err(CredentialsError::Read {
                path: self.path.clone(),
                error,
            }),
        }
    }

    fn helper_for(config: &Map<String, Value>, registry: &str) -> Option<String> {
        config
            .get("credHelpers")
            .and_then(|h| h.get(registry))
            .or_else(|| config.get("credsStore"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from)
    }

    /// The credential for `registry`, if any is configured.
    pub fn get(&self, registry: &str) -> Result<Option<Credential>, CredentialsError> {
        let config = self.load()?;
        let key = server_key(registry);
        if let Some(helper) = Self::helper_for(&config, registry) {
            return helper_get(&helper, &key);
        }
        let Some(auths) = config.get("auths").and_then(Value::as_object) else {
            return Ok(None);
        };
        let entry = auths.get(&key).or_else(|| {
            auths
                .iter()
                .find(|(k, _)| key_host(k) == key_host(&key))
                .map(|(_, v)| v)
        });
        let Some(entry) = entry else { return Ok(None) };
        let bad = || CredentialsError::BadAuth {
            server: key.clone(),
            path: self.path.clone(),
        };
        if let Some(auth) = entry
            .get("auth")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
        {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| bad())?;
            let text = String::from_utf8(raw).map_err(|_| bad())?;
            let (user, pass) = text.split_once(':').ok_or_else(bad)?;
            return Ok(Some(Credential {
                username: user.into(),
                secret: pass.into(),
            }));
        }
        let field = |k: &str| entry.get(k).and_then(Value::as_str).map(String::from);
        Ok(match (field("username"), field("password")) {
            (Some(username), Some(secret)) => Some(Credential { username, secret }),
            _ => None,
        })
    }

    /// Saves a credential where docker would: the helper if one is configured,
    /// else `auths` in config.json (mode 0600, replaced atomically).
    pub fn store(&self, registry: &str, cred: &Credential) -> Result<(), CredentialsError> {
        let mut config = self.load()?;
        let key = server_key(registry);
        if let Some(helper) = Self::helper_for(&config, registry) {
            let input = json!({"ServerURL": key, "Username": cred.username, "Secret": cred.secret});
            run_helper(&helper, "store", &input.to_string())?;
            // docker records an empty entry so `docker login` state stays visible.
            auths_mut(&mut config).insert(key, json!({}));
        } else {
            let auth = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", cred.username, cred.secret));
            auths_mut(&mut config).insert(key, json!({ "auth": auth }));
        }
        self.save(&config)
    }

    /// Forgets the credential; returns whether there was one.
    pub fn erase(&self, registry: &str) -> Result<bool, CredentialsError> {
        let mut config = self.load()?;
        let key = server_key(registry);
        let had_entry = auths_mut(&mut config).remove(&key).is_some();
        if let Some(helper) = Self::helper_for(&config, registry) {
            run_helper(&helper, "erase", &key)?;
            self.save(&config)?;
            return Ok(true);
        }
        if had_entry {
            self.save(&config)?;
        }
        Ok(had_entry)
    }

    fn save(&self, config: &Map<String, Value>) -> Result<(), CredentialsError> {
        use std::os::unix::fs::OpenOptionsExt;
        let werr = |error| CredentialsError::Write {
            path: self.path.clone(),
            error,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(werr)?;
        let tmp = dir.join(format!(".config.json.{}", std::process::id()));
        let data = serde_json::to_vec_pretty(config).unwrap_or_default();
        let result = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&data)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(werr)
    }
}

fn auths_mut(config: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let auths = config
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !auths.is_object() {
        *auths = Value::Object(Map::new());
    }
    auths.as_object_mut().expect("just made an object")
}

fn helper_get(helper: &str, key: &str) -> Result<Option<Credential>, CredentialsError> {
    let out = match run_helper(helper, "get", key) {
        Ok(out) => out,
        // The helper protocol's answer for "nothing stored".
        Err(CredentialsError::Helper { why, .. })
            if why.contains("credentials not found in native keychain") =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let v: Value = serde_json::from_str(&out).map_err(|e| CredentialsError::Helper {
        helper: helper.into(),
        action: "get",
        why: format!("its answer is not JSON: {e}"),
    })?;
    let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (username, secret) = (field("Username"), field("Secret"));
    if username.is_empty() && secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credential { username, secret }))
}

fn run_helper(helper: &str, action: &'static str, input: &str) -> Result<String, CredentialsError> {
    let program = format!("docker-credential-{helper}");
    let fail = |why: String| CredentialsError::Helper {
        helper: helper.into(),
        action,
        why,
    };
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            fail(format!(
                "cannot run {program}: {e}; install it or remove it from config.json"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let why = if stdout.is_empty() { stderr } else { stdout };
        return Err(fail(why));
    }
    Ok(stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_auths_like_docker() {
        let dir = tempfile::tempdir().unwrap();
        let store = CredentialStore::new(dir.path());
        assert_eq!(store.get("localhost:5000").unwrap(), None);
        let cred = Credential {
            username: "u".into(),
            secret: "p:w".into(),
        };
        store.store("localhost:5000", &cred).unwrap();
        store.store("docker.io", &cred).unwrap();
        assert_eq!(store.get("localhost:5000").unwrap(), Some(cred.clone()));
        let text = std::fs::read_to_string(store.path()).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["auths"]["localhost:5000"]["auth"], "dTpwOnc=");
        assert!(v["auths"][DOCKER_HUB_KEY].is_object());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(store.erase("localhost:5000").unwrap());
        assert_eq!(store.get("localhost:5000").unwrap(), None);
        assert!(!store.erase("localhost:5000").unwrap());
    }

    #[test]
    fn url_keys_and_other_fields_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{"https://reg.example/v1/":{"auth":"YTpi"}},"psFormat":"x"}"#,
        )
        .unwrap();
        let store = CredentialStore::new(dir.path());
        let c = store.get("reg.example").unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.secret.as_str()), ("a", "b"));
        store
            .store(
                "other:1",
                &Credential {
                    username: "x".into(),
                    secret: "y".into(),
                },
            )
            .unwrap();
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(store.path()).unwrap()).unwrap();
        assert_eq!(v["psFormat"], "x");
    }

    #[test]
    fn credential_helper_protocol() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let script = bin.join("docker-credential-fake");
        std::fs::write(
            &script,
            "#!/bin/sh\nread server\n[ \"$1\" = get ] && [ \"$server\" = reg.example ] && echo '{\"ServerURL\":\"reg.example\",\"Username\":\"hu\",\"Secret\":\"hs\"}' && exit 0\necho 'credentials not found in native keychain'; exit 1\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"credHelpers":{"reg.example":"fake","other":"fake"}}"#,
        )
        .unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        // This is the only test in the crate that reads PATH (it runs the helper).
        std::env::set_var("PATH", path);
        let store = CredentialStore::new(dir.path());
        let c = store.get("reg.example").unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.secret.as_str()), ("hu", "hs"));
        assert_eq!(store.get("other").unwrap(), None);
    }
}
