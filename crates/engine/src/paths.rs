//! Where berth keeps things: persistent state under `BERTH_ROOT` (default
//! /var/lib/berth), runtime state under `BERTH_RUNROOT` (default /run/berth).

use std::path::PathBuf;

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
