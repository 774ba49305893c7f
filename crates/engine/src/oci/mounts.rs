//! The mount table: docker's default filesystems, berth's generated /etc files, then
//! the user's binds and tmpfs mounts (which win over defaults at the same path).

use crate::model::{BindMount, TmpfsMount};
use serde_json::{json, Value};
use std::path::Path;

pub fn default_mounts(read_only_sys: bool) -> Vec<Value> {
    let sys_opts = if read_only_sys {
        vec!["nosuid", "noexec", "nodev", "ro"]
    } else {
        vec!["nosuid", "noexec", "nodev", "rw"]
    };
    vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
    ]
}

/// /etc/hostname, /etc/hosts and /etc/resolv.conf bound from the container directory.
pub fn etc_mounts(container_dir: &Path) -> Vec<Value> {
    ["hostname", "hosts", "resolv.conf"]
        .iter()
        .map(|f| {
            json!({
                "destination": format!("/etc/{f}"),
                "type": "bind",
                "source": container_dir.join(f),
                "options": ["rbind", "rprivate"],
            })
        })
        .collect()
}

pub fn bind_mount(b: &BindMount, host_path: &Path) -> Value {
    let mode = if b.read_only { "ro" } else { "rw" };
    let propagation = b.propagation.as_deref().unwrap_or("rprivate");
    json!({
        "destination": b.destination,
        "type": "bind",
        "source": host_path,
        "options": ["rbind", propagation, mode],
    })
}

pub fn tmpfs_mount(t: &TmpfsMount) -> Value {
    let mut options: Vec<String> = vec!["nosuid".into(), "nodev".into()];
    if !t.options.iter().any(|o| o == "exec") && !t.options.iter().any(|o| o == "noexec") {
        options.push("noexec".into());
    }
    options.extend(t.options.iter().cloned());
    json!({"destination": t.destination, "type": "tmpfs", "source": "tmpfs", "options": options})
}

/// Later mounts at the same destination replace earlier ones (a user bind over
/// /etc/hosts wins), keeping the first one's position so parents mount first.
pub fn dedupe(mounts: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(mounts.len());
    for m in mounts {
        let dest = m["destination"].clone();
        match out.iter_mut().find(|x| x["destination"] == dest) {
            Some(slot) => *slot = m,
            None => out.push(m),
        }
    }
    out
}

/// Parses `--tmpfs PATH[:opt,opt]`.
pub fn parse_tmpfs(arg: &str) -> Result<TmpfsMount, String> {
    let (dest, opts) = arg.split_once(':').unwrap_or((arg, ""));
    if !dest.starts_with('/') {
        return Err(format!(
            "invalid --tmpfs {arg:?}: the path must be absolute"
        ));
    }
    let options = opts
        .split(',')
        .filter(|o| !o.is_empty())
        .map(str::to_string)
        .collect();
    Ok(TmpfsMount {
        destination: dest.to_string(),
        options,
    })
}

/// The bind propagations `-v` and `--mount bind-propagation=` take (the runtime's
/// names for them, written as given into the OCI mount's options).
pub const PROPAGATIONS: [&str; 6] = [
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// Parses `-v SRC:DST[:ro|rw]`; SRC is a host path (absolute) or a volume name, and
/// `-v /path` alone is an anonymous volume.
pub fn parse_volume(arg: &str) -> Result<BindMount, String> {
    let parts: Vec<&str> = arg.split(':').collect();
    let bad = |why: &str| format!("invalid volume specification {arg:?}: {why}");
    let (source, dest, mode) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => return Err(bad("expected SOURCE:DEST[:ro|rw]")),
    };
    check_container_path(dest).map_err(|why| bad(&why))?;
    let volume = !source.starts_with('/');
    let (mut read_only, mut no_copy, mut propagation) = (false, false, None);
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" => read_only = true,
            "rw" => read_only = false,
            "z" | "Z" => {}
            "nocopy" if volume => no_copy = true,
            m if PROPAGATIONS.contains(&m) && !volume => propagation = Some(m.to_string()),
            other => {
                return Err(bad(&format!(
                    "unknown mode {other:?} (use ro or rw; nocopy for a volume; \
                     [r]private, [r]shared or [r]slave for a host path)"
                )))
            }
        }
    }
    if volume && !source.is_empty() {
        check_volume_name(source).map_err(|why| bad(&why))?;
    }
    Ok(BindMount {
        source: source.to_string(),
        destination: dest.to_string(),
        read_only,
        volume,
        anonymous: source.is_empty(),
        propagation,
        no_copy,
        ..Default::default()
    })
}

/// docker's rule for volume names, `[a-zA-Z0-9][a-zA-Z0-9_.-]+`: the name becomes
/// a directory under the volume root, so `.`, `..` and anything with a `/` must not
/// pass.
pub fn check_volume_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest: Vec<char> = chars.collect();
    let rest_ok = rest
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(*c));
    if first_ok && !rest.is_empty() && rest_ok {
        return Ok(());
    }
    Err(format!(
        "{name:?} is not a valid volume name: use at least two characters of [a-zA-Z0-9_.-], starting with a letter or digit (host paths must be absolute)"
    ))
}

/// A mount point inside the container: absolute, not `/`, and without `.` or `..`
/// segments (whatever they were meant to do, they are not needed).
pub fn check_container_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err("the container path must be absolute".into());
    }
    if path.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(format!(
            "the container path {path:?} may not hold '.' or '..' segments"
        ));
    }
    if path.trim_end_matches('/').is_empty() {
        return Err("the container path cannot be /".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_forms() {
        let b = parse_volume("/h:/c:ro").unwrap();
        assert!(b.read_only && !b.volume);
        let b = parse_volume("data:/c").unwrap();
        assert!(b.volume && !b.anonymous && !b.read_only);
        let b = parse_volume("/c").unwrap();
        assert!(b.volume && b.anonymous);
        assert!(parse_volume("/h:rel").is_err());
        assert!(parse_volume("/h:/c:xx").is_err());
        assert!(parse_volume("a:b:c:d").is_err());
        for bad in [
            "..:/c",
            ".:/c",
            "a:/c",
            "-a:/c",
            "_a:/c",
            "a/b:/c",
            "data:/c/../etc",
            "data:/",
            "data://",
        ] {
            assert!(parse_volume(bad).is_err(), "{bad}");
        }
        assert!(parse_volume("a.b-c_1:/c/d/").is_ok());
        assert!(parse_volume("data:/c:nocopy,ro").unwrap().no_copy);
        let b = parse_volume("/h:/c:rslave").unwrap();
        assert_eq!(b.propagation.as_deref(), Some("rslave"));
        assert!(parse_volume("/h:/c:nocopy").is_err());
        assert!(parse_volume("data:/c:rshared").is_err());
    }

    #[test]
    fn tmpfs_forms() {
        let t = parse_tmpfs("/run:size=64m,exec").unwrap();
        assert_eq!(t.options, vec!["size=64m", "exec"]);
        assert!(!tmpfs_mount(&t).to_string().contains("noexec"));
        assert!(parse_tmpfs("run").is_err());
    }

    #[test]
    fn later_mount_wins() {
        let m = dedupe(vec![
            json!({"destination": "/a", "n": 1}),
            json!({"destination": "/b"}),
            json!({"destination": "/a", "n": 2}),
        ]);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0]["n"], 2);
    }
}
