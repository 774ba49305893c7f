//! Where berth keeps things: persistent state under `BERTH_ROOT` (default
//! /var/lib/berth), runtime state under `BERTH_RUNROOT` (default /run/berth).
//!
//! Both trees are private to root (0700), as docker made its own after
//! CVE-2021-41091: they hold every container's environment (the database,
//! config.json, the runtime's state), its output (container.log), its files (the
//! mounted rootfs, where a setuid binary or a device node made inside would
//! otherwise serve any host user) and the monitors' sockets. 0700, not docker's
//! 0710/0711: berth maps no user namespaces, so nothing but root ever walks these
//! paths — containers reach their rootfs, volumes and sockets through mounts root
//! made before the container's pivot_root. Files holding secrets are also created
//! 0600 themselves, so they stay private wherever they are copied with their mode.

use std::fs::{File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of BERTH_ROOT and BERTH_RUNROOT.
pub const PRIVATE_DIR: u32 = 0o700;
/// Mode of the files that hold a container's environment or output.
pub const PRIVATE_FILE: u32 = 0o600;

#[derive(Debug, thiserror::Error)]
#[error(
    "making {path} private to root (mode 0700): {source}; check that it is a directory root owns"
)]
pub struct PathsError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

#[derive(Debug, Clone)]
pub struct Paths {
    pub root: PathBuf,
    pub runroot: PathBuf,
}

impl Paths {
    pub fn from_env() -> Self {
        let var = |k: &str, d: &str| {
            std::env::var_os(k)
                .map(PathBuf::from)
                .unwrap_or_else(|| d.into())
        };
        Paths {
            root: var("BERTH_ROOT", "/var/lib/berth"),
            runroot: var("BERTH_RUNROOT", "/run/berth"),
        }
    }

    /// Creates both roots private to root, and makes private ones an older berth
    /// left readable to all. Cheap: a stat each once they exist.
    pub fn ensure_private(&self) -> Result<(), PathsError> {
        for dir in [&self.root, &self.runroot] {
            make_private_dir(dir).map_err(|source| PathsError {
                path: dir.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// Persistent per-container directory: upper/work, rootfs mount point, logs,
    /// config.json (it is the OCI bundle), hosts/hostname/resolv.conf.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    /// Per-container runtime directory: attach and console sockets.
    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.runroot.join("c").join(&id[..id.len().min(12)])
    }

    pub fn runtime_state(&self) -> PathBuf {
        self.runroot.join("runtime")
    }

    pub fn volume_dir(&self, name: &str) -> PathBuf {
        self.root.join("volumes").join(name)
    }

    pub fn log_file(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("container.log")
    }

    pub fn attach_socket(&self, id: &str) -> PathBuf {
        self.run_dir(id).join("attach.sock")
    }

    pub fn rootfs(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("rootfs")
    }
}

fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    // Created 0700 (parents too, when BERTH_ROOT points somewhere new), never
    // created open and narrowed afterwards.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR)
        .create(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, Permissions::from_mode(mode & !0o077))?;
    }
    Ok(())
}

/// Opens `path` for writing, created 0600; an existing file (from an older berth)
/// is narrowed to 0600 before anything is written to it.
pub fn open_private(path: &Path, append: bool) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .mode(PRIVATE_FILE)
        .open(path)?;
    let mode = file.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        file.set_permissions(Permissions::from_mode(mode & !0o077))?;
    }
    Ok(file)
}

/// Writes `data` to `path`, readable by root only (see [`open_private`]).
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    open_private(path, false)?.write_all(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn roots_are_created_private_and_old_ones_narrowed() {
        let tmp = std::env::temp_dir().join(format!("berth-paths-{}", std::process::id()));
        let paths = Paths {
            root: tmp.join("new/root"),
            runroot: tmp.join("old"),
        };
        std::fs::create_dir_all(&paths.runroot).unwrap();
        std::fs::set_permissions(&paths.runroot, Permissions::from_mode(0o755)).unwrap();
        paths.ensure_private().unwrap();
        assert_eq!(mode(&paths.root), 0o700);
        assert_eq!(mode(&paths.runroot), 0o700);
        std::fs::set_permissions(&paths.runroot, Permissions::from_mode(0o711)).unwrap();
        paths.ensure_private().unwrap();
        assert_eq!(mode(&paths.runroot), 0o700);
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn private_files_are_created_and_kept_0600() {
        let tmp = std::env::temp_dir().join(format!("berth-files-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let new = tmp.join("config.json");
        write_private(&new, b"{}").unwrap();
        assert_eq!(mode(&new), 0o600);
        let old = tmp.join("container.log");
        std::fs::write(&old, "old\n").unwrap();
        std::fs::set_permissions(&old, Permissions::from_mode(0o644)).unwrap();
        open_private(&old, true)
            .unwrap()
            .write_all(b"new\n")
            .unwrap();
        assert_eq!(mode(&old), 0o600);
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "old\nnew\n");
        write_private(&new, b"[]").unwrap();
        assert_eq!(std::fs::read_to_string(&new).unwrap(), "[]");
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
