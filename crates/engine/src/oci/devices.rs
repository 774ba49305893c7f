//! `--device HOST[:CONTAINER][:PERMS]` and `--device-cgroup-rule 'c 1:3 rwm'`: the
//! nodes made in the container and the device cgroup rules that let it use them.
//!
//! The host path is resolved when the bundle is written (docker does it at start
//! too): device numbers of hot-plugged devices change across reboots. A symlink on
//! the host (`/dev/disk/by-id/…`) is followed to the node it names, as docker does;
//! whatever it names must be a character or block device: a regular file, a
//! directory or a FIFO is refused rather than turned into a node.
//!
//! The cgroup rules are written to `linux.resources.devices`: the runtime applies
//! them on cgroup v1 (the `devices` controller). On cgroup v2 the filter is an eBPF
//! program, and berth builds libcontainer without its `cgroupsv2_devices` feature:
//! there the rules are not enforced (the node alone is what the container gets;
//! docker's default set of nodes is what the kernel filters on v1 only as well),
//! so a `--device` limited to fewer than `rwm` is refused there ([`check_enforced`])
//! unless an OCI runtime binary, which attaches the filter, runs the container.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::{Component, Path};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeviceError {
    #[error("invalid --device {0:?}: use HOST[:CONTAINER][:PERMS], e.g. /dev/fuse or /dev/sdb:/dev/xvdb:rw (PERMS: any of r, w, m)")]
    Syntax(String),
    #[error("invalid --device {spec:?}: {path:?} must be an absolute path without '..'")]
    NotAbsolute { spec: String, path: String },
    #[error("--device {path}: {why}; name a character or block device node such as /dev/fuse")]
    NotADevice { path: String, why: String },
    #[error("--device {host}:{container}:{perms}: only the device cgroup can hold it to {perms:?}, and none is applied here (cgroup v2, where berth's built-in runtime has no device filter), so the container could do all of rwm; give rwm, or run with --runtime runc")]
    PermsNotEnforced {
        host: String,
        container: String,
        perms: String,
    },
    #[error("invalid --device-cgroup-rule {0:?}: use 'TYPE MAJOR:MINOR PERMS' with TYPE a, b or c, numbers or *, PERMS of r, w, m (e.g. 'c 1:3 rwm')")]
    Rule(String),
}

/// One `--device`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceMapping {
    pub host: String,
    pub container: String,
    /// Some of `rwm`.
    pub permissions: String,
}

/// One `--device-cgroup-rule`: `None` numbers are docker's `*`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceRule {
    /// `a`, `b` or `c`.
    pub kind: String,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub access: String,
}

fn is_perms(s: &str) -> bool {
    !s.is_empty() && s.len() <= 3 && s.chars().all(|c| "rwm".contains(c))
}

fn clean_absolute(p: &str) -> bool {
    p.starts_with('/')
        && Path::new(p)
            .components()
            .all(|c| !matches!(c, Component::ParentDir))
}

/// Parses `--device`, as docker: `HOST`, `HOST:CONTAINER`, `HOST:PERMS` or
/// `HOST:CONTAINER:PERMS`.
pub fn parse_device(spec: &str) -> Result<DeviceMapping, DeviceError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, container, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, p] if is_perms(p) => (*h, *h, *p),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] if is_perms(p) => (*h, *c, *p),
        _ => return Err(DeviceError::Syntax(spec.into())),
    };
    for path in [host, container] {
        if !clean_absolute(path) {
            return Err(DeviceError::NotAbsolute {
                spec: spec.into(),
                path: path.into(),
            });
        }
    }
    Ok(DeviceMapping {
        host: host.into(),
        container: container.into(),
        permissions: perms.into(),
    })
}

/// Parses `--device-cgroup-rule 'c 1:3 rwm'` (`*` for any number).
pub fn parse_rule(spec: &str) -> Result<DeviceRule, DeviceError> {
    let bad = || DeviceError::Rule(spec.into());
    let fields: Vec<&str> = spec.split_whitespace().collect();
    let [kind, numbers, access] = fields.as_slice() else {
        return Err(bad());
    };
    if !["a", "b", "c"].contains(kind) || !is_perms(access) {
        return Err(bad());
    }
    let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
    let number = |n: &str| match n {
        "*" => Ok(None),
        n => n.parse::<u32>().map(|v| Some(v as i64)).map_err(|_| bad()),
    };
    Ok(DeviceRule {
        kind: kind.to_string(),
        major: number(major)?,
        minor: number(minor)?,
        access: access.to_string(),
    })
}

/// A `--device` resolved on the host: the OCI `linux.devices` entry and its
/// cgroup rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedDevice {
    pub node: Value,
    pub rule: Value,
}

/// Looks the host node up (following links to the node they name) and checks
/// that it is a device.
pub fn resolve(d: &DeviceMapping) -> Result<ResolvedDevice, DeviceError> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let not_device = |why: String| DeviceError::NotADevice {
        path: d.host.clone(),
        why,
    };
    // metadata follows the links to the node; the path they lead to is looked up
    // only to name it in an error.
    let meta = std::fs::metadata(&d.host).map_err(|e| not_device(e.to_string()))?;
    let ft = meta.file_type();
    let kind = if ft.is_char_device() {
        "c"
    } else if ft.is_block_device() {
        "b"
    } else {
        let what = if ft.is_dir() {
            "a directory"
        } else if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "a regular file"
        };
        let via = match std::fs::canonicalize(&d.host) {
            Ok(real) if real != Path::new(&d.host) => {
                format!(" (it leads to {})", real.display())
            }
            _ => String::new(),
        };
        return Err(not_device(format!("it is {what}{via}, not a device")));
    };
    let (major, minor) = (libc::major(meta.rdev()), libc::minor(meta.rdev()));
    Ok(ResolvedDevice {
        node: json!({
            "path": d.container, "type": kind, "major": major, "minor": minor,
            "fileMode": meta.mode() & 0o777, "uid": meta.uid(), "gid": meta.gid(),
        }),
        rule: json!({
            "allow": true, "type": kind, "major": major, "minor": minor,
            "access": d.permissions,
        }),
    })
}

/// Refuses a `--device` with fewer permissions than `rwm` where nothing enforces
/// them (`cgroup_enforces` false): the node alone would give the container all of
/// them, so the flag would be accepted and not honoured.
pub fn check_enforced(devices: &[DeviceMapping], cgroup_enforces: bool) -> Result<(), DeviceError> {
    let limited = devices
        .iter()
        .find(|d| !"rwm".chars().all(|c| d.permissions.contains(c)));
    match limited {
        Some(d) if !cgroup_enforces => Err(DeviceError::PermsNotEnforced {
            host: d.host.clone(),
            container: d.container.clone(),
            perms: d.permissions.clone(),
        }),
        _ => Ok(()),
    }
}

/// A `--device-cgroup-rule` as an OCI device cgroup entry.
pub fn rule_json(r: &DeviceRule) -> Value {
    let mut v = json!({"allow": true, "type": r.kind, "access": r.access});
    if let Some(m) = r.major {
        v["major"] = json!(m);
    }
    if let Some(m) = r.minor {
        v["minor"] = json!(m);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_forms_follow_docker() {
        let d = parse_device("/dev/fuse").unwrap();
        assert_eq!(
            (d.container.as_str(), d.permissions.as_str()),
            ("/dev/fuse", "rwm")
        );
        let d = parse_device("/dev/sdb:/dev/xvdb:r").unwrap();
        assert_eq!(
            (d.container.as_str(), d.permissions.as_str()),
            ("/dev/xvdb", "r")
        );
        let d = parse_device("/dev/null:rw").unwrap();
        assert_eq!(
            (d.container.as_str(), d.permissions.as_str()),
            ("/dev/null", "rw")
        );
        assert!(matches!(
            parse_device("dev/null"),
            Err(DeviceError::NotAbsolute { .. })
        ));
        assert!(matches!(
            parse_device("/dev/null:/dev/../etc/x"),
            Err(DeviceError::NotAbsolute { .. })
        ));
        assert!(matches!(
            parse_device("/a:/b:rwx"),
            Err(DeviceError::Syntax(_))
        ));
    }

    #[test]
    fn limited_permissions_need_a_device_cgroup() {
        let full = parse_device("/dev/fuse").unwrap();
        let read = parse_device("/dev/sdb:/dev/xvdb:r").unwrap();
        let mixed = parse_device("/dev/null:mrw").unwrap();
        assert!(check_enforced(&[full.clone(), mixed.clone()], false).is_ok());
        assert!(check_enforced(&[full.clone(), read.clone()], true).is_ok());
        let err = check_enforced(&[full, read], false).unwrap_err();
        assert!(
            matches!(&err, DeviceError::PermsNotEnforced { perms, .. } if perms == "r"),
            "{err}"
        );
        assert!(err.to_string().contains("--runtime runc"), "{err}");
    }

    #[test]
    fn rules_parse_with_wildcards() {
        let r = parse_rule("c 1:3 rwm").unwrap();
        assert_eq!((r.major, r.minor), (Some(1), Some(3)));
        let r = parse_rule("b *:* r").unwrap();
        assert_eq!(
            rule_json(&r),
            json!({"allow": true, "type": "b", "access": "r"})
        );
        for bad in ["x 1:3 r", "c 1 r", "c 1:3", "c a:b r", "c 1:3 q"] {
            assert!(parse_rule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_device_nodes_resolve() {
        let null = resolve(&parse_device("/dev/null:/dev/mynull:rw").unwrap()).unwrap();
        assert_eq!(null.node["major"], 1);
        assert_eq!(null.node["minor"], 3);
        assert_eq!(null.node["path"], "/dev/mynull");
        assert_eq!(null.rule["access"], "rw");
        let d = tempfile::tempdir().unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
        let err = resolve(&parse_device(link.to_str().unwrap()).unwrap()).unwrap_err();
        assert!(
            err.to_string()
                .contains("regular file (it leads to /etc/passwd)"),
            "{err}"
        );
        let err = resolve(&parse_device("/tmp").unwrap()).unwrap_err();
        assert!(err.to_string().contains("a directory"), "{err}");
    }
}
