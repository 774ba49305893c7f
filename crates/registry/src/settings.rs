//! Registry settings: `/etc/berth/registries.toml` (or `$BERTH_CONFIG`), read once.
//!
//! The file follows podman's `registries.conf` (version 2) rather than containerd's
//! `hosts.toml`: it is one file (containerd wants a directory per registry), it has
//! short-name search registries (containerd has none), and podman, buildah and
//! skopeo users already know it. berth reads the subset it implements and refuses
//! any other key by name, so a setting is never silently ignored:
//!
//! ```toml
//! unqualified-search-registries = ["docker.io"]   # short names: busybox → docker.io/library/busybox
//! max-concurrent-downloads = 3                    # docker's daemon.json name
//!
//! [[registry]]
//! location = "registry.example:5000"
//! insecure = true                                 # plain HTTP allowed
//!
//! [[registry.mirror]]                             # tried in order, then the registry
//! location = "mirror.example:5000"
//! insecure = true
//! ```
//!
//! Loopback registries (`localhost`, `127.0.0.0/8`, `[::1]`) speak plain HTTP
//! without being listed, as docker treats them.

use berth_image::reference::{Reference, ReferenceError, DEFAULT_REGISTRY};
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG: &str = "/etc/berth/registries.toml";
pub const DEFAULT_DOWNLOADS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("reading registry settings {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("registry settings {path}: {error}")]
    Parse {
        path: PathBuf,
        error: Box<toml::de::Error>,
    },
    #[error("registry settings {path}: {what}")]
    Invalid { path: PathBuf, what: String },
    #[error(transparent)]
    Reference(#[from] ReferenceError),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct File {
    unqualified_search_registries: Option<Vec<String>>,
    max_concurrent_downloads: Option<usize>,
    #[serde(default)]
    registry: Vec<RegistryEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryEntry {
    location: String,
    prefix: Option<String>,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror: Vec<MirrorEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MirrorEntry {
    location: String,
    #[serde(default)]
    insecure: bool,
}

/// One place a registry's content can be fetched from: a mirror or the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port]`
    pub host: String,
    pub plain_http: bool,
    pub mirror: bool,
}

/// What the file says, with defaults filled in.
#[derive(Debug, Clone)]
pub struct Settings {
    pub source: Option<PathBuf>,
    pub search: Vec<String>,
    pub max_downloads: usize,
    registries: Vec<RegistryEntry>,
    /// `$DOCKER_CONFIG` or `~/.docker`: where credentials live.
    pub docker_config_dir: PathBuf,
}

impl Settings {
    /// Reads the environment once: `$BERTH_CONFIG` (else /etc/berth/registries.toml,
    /// which may be absent), `$DOCKER_CONFIG` (else `$HOME/.docker`).
    pub fn from_env() -> Result<Self, SettingsError> {
        let explicit = std::env::var_os("BERTH_CONFIG").map(PathBuf::from);
        let docker_config_dir = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
                PathBuf::from(home).join(".docker")
            });
        let path = explicit
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => Some(t),
            // The default file is optional; one named in $BERTH_CONFIG is not.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => None,
            Err(error) => return Err(SettingsError::Read { path, error }),
        };
        let mut s = match &text {
            Some(t) => Self::parse(t, &path)?,
            None => Self::parse("", &path)?,
        };
        if text.is_none() {
            s.source = None;
        }
        s.docker_config_dir = docker_config_dir;
        Ok(s)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, SettingsError> {
        let file: File = toml::from_str(text).map_err(|e| SettingsError::Parse {
            path: path.into(),
            error: Box::new(e),
        })?;
        let invalid = |what: String| SettingsError::Invalid {
            path: path.into(),
            what,
        };
        for r in &file.registry {
            check_host(&r.location).map_err(&invalid)?;
            if let Some(p) = r.prefix.as_deref().filter(|p| *p != r.location) {
                return Err(invalid(format!(
                    "prefix {p:?} differs from location {:?}: remapping a registry is not supported; give location only",
                    r.location
                )));
            }
            for m in &r.mirror {
                check_host(&m.location).map_err(&invalid)?;
            }
        }
        let max_downloads = file.max_concurrent_downloads.unwrap_or(DEFAULT_DOWNLOADS);
        if max_downloads == 0 {
            return Err(invalid(
                "max-concurrent-downloads must be at least 1".into(),
            ));
        }
        let search = file
            .unqualified_search_registries
            .unwrap_or_else(|| vec![DEFAULT_REGISTRY.to_string()]);
        for s in &search {
            check_host(s).map_err(&invalid)?;
        }
        Ok(Settings {
            source: Some(path.into()),
            search,
            max_downloads,
            registries: file.registry,
            docker_config_dir: PathBuf::new(),
        })
    }

    fn entry(&self, registry: &str) -> Option<&RegistryEntry> {
        self.registries.iter().find(|r| r.location == registry)
    }

    pub fn blocked(&self, registry: &str) -> bool {
        self.entry(registry).is_some_and(|r| r.blocked)
    }

    pub fn plain_http(&self, registry: &str) -> bool {
        is_loopback(registry) || self.entry(registry).is_some_and(|r| r.insecure)
    }

    /// Where to pull `registry`'s content from: its mirrors in order, then itself.
    pub fn pull_endpoints(&self, registry: &str) -> Vec<Endpoint> {
        let mut out: Vec<Endpoint> = self
            .entry(registry)
            .map(|r| {
                r.mirror
                    .iter()
                    .map(|m| Endpoint {
                        host: m.location.clone(),
                        plain_http: m.insecure || is_loopback(&m.location),
                        mirror: true,
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(self.push_endpoint(registry));
        out
    }

    /// Pushes go to the registry itself, never to a mirror.
    pub fn push_endpoint(&self, registry: &str) -> Endpoint {
        Endpoint {
            host: registry.to_string(),
            plain_http: self.plain_http(registry),
            mirror: false,
        }
    }

    /// The references a user's name may mean: a qualified name means itself; a short
    /// name (`busybox`, `user/app`) means one per search registry, in order.
    pub fn candidates(&self, input: &str) -> Result<Vec<Reference>, SettingsError> {
        if is_qualified(input) || self.search.is_empty() {
            return Ok(vec![Reference::parse(input)?]);
        }
        self.search
            .iter()
            .map(|reg| {
                let full = if reg == DEFAULT_REGISTRY {
                    input.to_string()
                } else {
                    format!("{reg}/{input}")
                };
                Ok(Reference::parse(&full)?)
            })
            .collect()
    }

    /// Lines for `berth info`.
    pub fn describe(&self) -> Vec<String> {
        let mut out = vec![
            format!(
                "Registry settings: {}",
                self.source
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| format!("{DEFAULT_CONFIG} (absent: defaults)"))
            ),
            format!("Search registries: {}", self.search.join(", ")),
            format!("Max concurrent downloads: {}", self.max_downloads),
        ];
        for r in &self.registries {
            let mirrors: Vec<&str> = r.mirror.iter().map(|m| m.location.as_str()).collect();
            out.push(format!(
                "Registry {}: insecure={} blocked={} mirrors=[{}]",
                r.location,
                r.insecure,
                r.blocked,
                mirrors.join(", ")
            ));
        }
        out
    }
}

/// A name whose first component names a registry (docker's rule).
pub fn is_qualified(input: &str) -> bool {
    match input.split_once('/') {
        Some((first, _)) => first.contains('.') || first.contains(':') || first == "localhost",
        None => false,
    }
}

fn check_host(h: &str) -> Result<(), String> {
    if h.is_empty() || h.contains('/') || h.contains("://") {
        return Err(format!(
            "{h:?} is not a registry host: give host[:port] without scheme or path"
        ));
    }
    Ok(())
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
pub fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name == "localhost"
        || name == "::1"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Settings {
        Settings::parse(t, Path::new("test.toml")).unwrap()
    }

    #[test]
    fn defaults_are_dockers() {
        let s = parse("");
        assert_eq!(s.max_downloads, 3);
        let c = s.candidates("busybox").unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].to_string(), "docker.io/library/busybox:latest");
        assert_eq!(s.pull_endpoints("docker.io").len(), 1);
    }

    #[test]
    fn search_registries_in_order() {
        let s = parse(r#"unqualified-search-registries = ["localhost:5000", "docker.io"]"#);
        let c: Vec<String> = s
            .candidates("app:1")
            .unwrap()
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(
            c,
            ["localhost:5000/app:1", "docker.io/library/app:1"].map(String::from)
        );
        let q = s.candidates("quay.io/a/b").unwrap();
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn mirrors_then_upstream_and_insecure() {
        let s = parse(
            r#"
[[registry]]
location = "reg.example:5000"
insecure = true
[[registry.mirror]]
location = "m1.example"
[[registry.mirror]]
location = "127.0.0.1:9"
"#,
        );
        let e = s.pull_endpoints("reg.example:5000");
        let hosts: Vec<(&str, bool, bool)> = e
            .iter()
            .map(|e| (e.host.as_str(), e.plain_http, e.mirror))
            .collect();
        assert_eq!(
            hosts,
            [
                ("m1.example", false, true),
                ("127.0.0.1:9", true, true),
                ("reg.example:5000", true, false)
            ]
        );
        assert!(!s.plain_http("quay.io"));
    }

    #[test]
    fn refuses_unknown_keys_and_bad_hosts() {
        assert!(Settings::parse("short-name-mode = \"enforcing\"", Path::new("x")).is_err());
        assert!(Settings::parse("[[registry]]\nlocation = \"https://x\"", Path::new("x")).is_err());
        assert!(Settings::parse("max-concurrent-downloads = 0", Path::new("x")).is_err());
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:80",
            "[::1]:5000",
            "127.3.4.5",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["example.com", "10.0.0.1:5000", "localhost.example"] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
