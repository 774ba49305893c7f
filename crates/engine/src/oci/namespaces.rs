//! `--pid`, `--ipc`, `--uts` (private, host or container:X) and `--cgroupns`
//! (host or private): which namespaces the container gets of its own, which it
//! shares with the host, and which it joins in a running container.
//!
//! Systemd mode needs systemd to be PID 1 of its own PID namespace and a cgroup
//! namespace of its own (its cgroup tree, `oci::systemd`): `--pid host`,
//! `--pid container:X` and `--cgroupns host` are refused there. `--ipc host` and
//! `--uts host` are allowed: the container has no CAP_SYS_ADMIN to set the host's
//! name, and IPC objects are only shared, as docker shares them.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NamespaceError {
    #[error("invalid --{flag} {value:?}: use {allowed}")]
    Mode {
        flag: &'static str,
        value: String,
        allowed: &'static str,
    },
    #[error("--{flag} {value} cannot be used in systemd mode: {why}; drop it, or run without systemd mode (--systemd=false)")]
    Systemd {
        flag: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("conflicting options: {flag} and --uts host (the container shares the host's names, which it cannot change); drop {flag}, or drop --uts host")]
    UtsHostNamed { flag: &'static str },
    #[error("cannot join the {what} namespace of container {name}: it is not running; start it first (berth start {name})")]
    NotRunning { what: &'static str, name: String },
}

/// Whose namespace of one kind the container uses.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum NamespaceMode {
    /// Its own (docker's default).
    #[default]
    Private,
    /// The host's.
    Host,
    /// A running container's, by id (a name until create resolves it).
    Container(String),
}

impl NamespaceMode {
    pub fn is_private(&self) -> bool {
        *self == NamespaceMode::Private
    }

    /// As docker shows it in `inspect` (empty for the default).
    pub fn name(&self) -> String {
        match self {
            NamespaceMode::Private => String::new(),
            NamespaceMode::Host => "host".into(),
            NamespaceMode::Container(c) => format!("container:{c}"),
        }
    }
}

/// `--cgroupns`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum CgroupnsMode {
    Host,
    Private,
}

/// Parses `--pid`/`--ipc`/`--uts`. `ipc` also takes docker's `shareable` (every
/// private IPC namespace can be joined here) .
pub fn parse_mode(flag: &'static str, value: &str) -> Result<NamespaceMode, NamespaceError> {
    let allowed = match flag {
        "ipc" => "private, shareable, host or container:NAME",
        "uts" => "private or host",
        _ => "private, host or container:NAME",
    };
    let bad = || NamespaceError::Mode {
        flag,
        value: value.into(),
        allowed,
    };
    Ok(match value {
        "" | "private" => NamespaceMode::Private,
        "shareable" if flag == "ipc" => NamespaceMode::Private,
        "host" => NamespaceMode::Host,
        other => match other.strip_prefix("container:") {
            Some(c) if !c.is_empty() && flag != "uts" => NamespaceMode::Container(c.into()),
            _ => return Err(bad()),
        },
    })
}

/// Parses `--cgroupns host|private`.
pub fn parse_cgroupns(value: &str) -> Result<CgroupnsMode, NamespaceError> {
    match value {
        "host" => Ok(CgroupnsMode::Host),
        "private" => Ok(CgroupnsMode::Private),
        _ => Err(NamespaceError::Mode {
            flag: "cgroupns",
            value: value.into(),
            allowed: "host or private",
        }),
    }
}

/// Refuses what systemd mode cannot boot with.
pub fn check_systemd(
    pid: &NamespaceMode,
    cgroupns: Option<CgroupnsMode>,
) -> Result<(), NamespaceError> {
    if !pid.is_private() {
        return Err(NamespaceError::Systemd {
            flag: "pid",
            value: pid.name(),
            why: "systemd must be PID 1 of the container's own PID namespace",
        });
    }
    if cgroupns == Some(CgroupnsMode::Host) {
        return Err(NamespaceError::Systemd {
            flag: "cgroupns",
            value: "host".into(),
            why: "systemd mode gives the container a cgroup namespace of its own, with its own cgroup tree",
        });
    }
    Ok(())
}

/// `--uts host` has no names of its own to set: a hostname or domain name given
/// with it would be dropped, so it is refused as docker refuses it.
pub fn check_uts(
    uts: &NamespaceMode,
    hostname: Option<&str>,
    domainname: Option<&str>,
) -> Result<(), NamespaceError> {
    if *uts != NamespaceMode::Host {
        return Ok(());
    }
    match (hostname, domainname) {
        (Some(_), _) => Err(NamespaceError::UtsHostNamed { flag: "--hostname" }),
        (_, Some(_)) => Err(NamespaceError::UtsHostNamed {
            flag: "--domainname",
        }),
        _ => Ok(()),
    }
}

/// The namespaces to join in running containers, as /proc/PID/ns paths.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Joins {
    pub pid: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub uts: Option<PathBuf>,
}

/// The pid, ipc, uts and (when private) cgroup entries of `linux.namespaces`.
pub fn entries(
    modes: [&NamespaceMode; 3],
    cgroupns: Option<CgroupnsMode>,
    joins: &Joins,
) -> Vec<Value> {
    let mut out = Vec::new();
    for ((kind, mode), join) in ["pid", "ipc", "uts"]
        .into_iter()
        .zip(modes)
        .zip([&joins.pid, &joins.ipc, &joins.uts])
    {
        match (mode, join) {
            (NamespaceMode::Host, _) => {}
            (NamespaceMode::Container(_), Some(path)) => {
                out.push(json!({"type": kind, "path": path}))
            }
            _ => out.push(json!({"type": kind})),
        }
    }
    if cgroupns == Some(CgroupnsMode::Private) {
        out.push(json!({"type": "cgroup"}));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uts_host_takes_no_names() {
        let host = NamespaceMode::Host;
        assert!(check_uts(&host, None, None).is_ok());
        assert!(check_uts(&NamespaceMode::Private, Some("h"), Some("d")).is_ok());
        assert_eq!(
            check_uts(&host, Some("h"), None),
            Err(NamespaceError::UtsHostNamed { flag: "--hostname" })
        );
        assert_eq!(
            check_uts(&host, None, Some("example.com")),
            Err(NamespaceError::UtsHostNamed {
                flag: "--domainname"
            })
        );
    }

    #[test]
    fn modes_parse_as_docker() {
        assert_eq!(parse_mode("pid", "host").unwrap(), NamespaceMode::Host);
        assert_eq!(
            parse_mode("ipc", "container:db").unwrap(),
            NamespaceMode::Container("db".into())
        );
        assert_eq!(
            parse_mode("ipc", "shareable").unwrap(),
            NamespaceMode::Private
        );
        assert!(parse_mode("uts", "container:x").is_err());
        assert!(parse_mode("pid", "container:").is_err());
        assert!(parse_mode("pid", "none")
            .unwrap_err()
            .to_string()
            .contains("private, host or container:NAME"));
        assert_eq!(parse_cgroupns("host").unwrap(), CgroupnsMode::Host);
        assert!(parse_cgroupns("x").is_err());
    }

    #[test]
    fn systemd_needs_its_own_pid_and_cgroup_namespaces() {
        assert!(check_systemd(&NamespaceMode::Private, None).is_ok());
        assert!(check_systemd(&NamespaceMode::Host, None).is_err());
        assert!(check_systemd(&NamespaceMode::Container("x".into()), None).is_err());
        assert!(check_systemd(&NamespaceMode::Private, Some(CgroupnsMode::Host)).is_err());
    }

    #[test]
    fn entries_share_join_or_own() {
        let joins = Joins {
            pid: Some("/proc/7/ns/pid".into()),
            ..Default::default()
        };
        let e = entries(
            [
                &NamespaceMode::Container("c".into()),
                &NamespaceMode::Host,
                &NamespaceMode::Private,
            ],
            Some(CgroupnsMode::Private),
            &joins,
        );
        assert_eq!(
            e,
            vec![
                json!({"type": "pid", "path": "/proc/7/ns/pid"}),
                json!({"type": "uts"}),
                json!({"type": "cgroup"}),
            ]
        );
    }
}
