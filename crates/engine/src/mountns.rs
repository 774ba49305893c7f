//! The monitor's own mount namespace, where its container's rootfs overlay lives.
//!
//! With the overlay mounted on the host, every running container added a line to
//! the host's mount table, and the table is read over and over on every start:
//! libcontainer parses `/proc/self/mountinfo` once per cgroup v1 controller when it
//! creates and again when it deletes a container (about 40 parses per `run --rm`),
//! so each start cost more the more containers ran (issue 11). The monitor now
//! unshares a mount namespace before it mounts anything: the overlay is seen only by
//! the monitor and its container, and the host's table stays as it was whatever the
//! number of containers. Host tools (`findmnt`, `df`) no longer list a line per
//! container either.
//!
//! The namespace is a slave of the host's: mounts and unmounts made on the host
//! still reach it (an unmounted host filesystem is not kept alive by a thousand
//! monitors), while nothing mounted in it goes back. It dies with the monitor, and
//! with it the overlay, so a monitor killed with SIGKILL leaves no mount behind
//! once its container is gone.
//!
//! Reading a running container's files from the host goes through the monitor's
//! root ([`crate::bundle::host_view`]); commit, diff and export read the upper and lower
//! directories, which are plain directories on the host.

use crate::EngineError;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use std::path::{Path, PathBuf};

/// Moves the calling process into a new mount namespace that receives the host's
/// mount events and sends none back. The caller must be single-threaded (the
/// monitor is): unshare(CLONE_NEWNS) refuses a process whose threads share its
/// filesystem context.
pub fn enter_private() -> Result<(), EngineError> {
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| EngineError::Sys("unshare mount namespace", e))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(|e| EngineError::Sys("make the monitor's mounts slaves of the host's", e))
}

/// `path` as seen from the mount namespace of process `pid`, reached from the
/// host through `/proc/PID/root`.
pub fn path_in(pid: i32, path: &Path) -> PathBuf {
    let relative = path.strip_prefix("/").unwrap_or(path);
    PathBuf::from(format!("/proc/{pid}/root")).join(relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_goes_through_the_process_root() {
        assert_eq!(
            path_in(42, Path::new("/var/lib/berth/containers/abc/rootfs")),
            PathBuf::from("/proc/42/root/var/lib/berth/containers/abc/rootfs")
        );
    }
}
