//! `--init`: a small init as the container's PID 1 that forwards signals to the
//! command and reaps orphaned zombies. Like docker (`/sbin/docker-init`, its tini),
//! berth bind-mounts a static init from the host read-only into the container and
//! puts it before the command; berth ships none of its own: Debian's `tini` package
//! (`tini-static`) or `catatonit` provides it.

use serde_json::{json, Value};
use std::path::Path;

/// Where the init appears inside the container (docker's path).
pub const CONTAINER_PATH: &str = "/sbin/docker-init";

/// Static inits from Debian packages, in order of preference. Only static ones:
/// the container's root need not have a libc.
const CANDIDATES: &[&str] = &["/usr/bin/tini-static", "/usr/bin/catatonit"];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InitError {
    #[error(
        "--init needs a static init on the host and found none ({}): install Debian's \
         tini package (for tini-static) or catatonit, or name one with --init-path",
        CANDIDATES.join(", ")
    )]
    NotInstalled,
    #[error("--init-path {0}: {1}; give the path of an executable static init such as /usr/bin/tini-static")]
    Unusable(String, &'static str),
    #[error("--init and systemd mode conflict: systemd must be the container's PID 1; drop --init (systemd reaps and forwards signals itself) or run with --systemd=false")]
    WithSystemd,
}

/// The host init to use: the one given (`--init-path`), else the first installed.
pub fn resolve(given: Option<&str>) -> Result<String, InitError> {
    match given {
        Some(p) => usable(Path::new(p))
            .map(|()| p.to_string())
            .map_err(|why| InitError::Unusable(p.to_string(), why)),
        None => CANDIDATES
            .iter()
            .find(|c| usable(Path::new(c)).is_ok())
            .map(|c| c.to_string())
            .ok_or(InitError::NotInstalled),
    }
}

fn usable(path: &Path) -> Result<(), &'static str> {
    use std::os::unix::fs::PermissionsExt;
    if !path.is_absolute() {
        return Err("not an absolute path");
    }
    let meta = std::fs::metadata(path).map_err(|_| "no such file")?;
    if !meta.is_file() {
        return Err("not a regular file");
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err("not executable");
    }
    Ok(())
}

/// The init process's argv: the init, `--`, then the command.
pub fn wrap_args(args: &[String]) -> Vec<String> {
    let mut out = vec![CONTAINER_PATH.to_string(), "--".into()];
    out.extend(args.iter().cloned());
    out
}

/// The read-only bind of the host's init.
pub fn mount(host_path: &str) -> Value {
    json!({
        "destination": CONTAINER_PATH,
        "type": "bind",
        "source": host_path,
        "options": ["rbind", "ro", "nosuid", "nodev"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_given_paths_strictly() {
        assert!(matches!(
            resolve(Some("/nonexistent/tini")),
            Err(InitError::Unusable(_, "no such file"))
        ));
        assert!(matches!(
            resolve(Some("tini")),
            Err(InitError::Unusable(_, "not an absolute path"))
        ));
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "x").unwrap();
        std::fs::set_permissions(&plain, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        assert!(matches!(
            resolve(plain.to_str()),
            Err(InitError::Unusable(_, "not executable"))
        ));
        assert!(matches!(
            resolve(dir.path().to_str()),
            Err(InitError::Unusable(_, "not a regular file"))
        ));
        assert_eq!(resolve(Some("/bin/sh")).unwrap(), "/bin/sh");
    }

    #[test]
    fn the_init_comes_before_the_command() {
        assert_eq!(
            wrap_args(&["sh".into(), "-c".into(), "x".into()]),
            ["/sbin/docker-init", "--", "sh", "-c", "x"]
        );
    }
}
