//! berth's cgroup parent (`<hierarchy>/berth`) in every mounted hierarchy. The runtime
//! creates `berth/<id>` below it; when the last container goes, the parent goes too,
//! so the host's cgroup tree ends as it began. A file lock keeps a container that is
//! being created from losing its parent to a concurrent removal.

use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::path::{Path, PathBuf};

pub const PARENT: &str = "berth";

/// Held (shared) while a container's cgroups are created.
pub struct CreationGuard(#[allow(dead_code)] Option<Flock<File>>);

fn lock_file(runroot: &Path) -> Option<File> {
    let _ = std::fs::create_dir_all(runroot);
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(runroot.join("cgroups.lock"))
        .ok()
}

pub fn creation_guard(runroot: &Path) -> CreationGuard {
    CreationGuard(lock_file(runroot).and_then(|f| Flock::lock(f, FlockArg::LockShared).ok()))
}

/// Mount points of every cgroup (v1) and cgroup2 filesystem.
pub fn hierarchies() -> Vec<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let fstype = post.split(' ').next()?;
            let mount_point = pre.split(' ').nth(4)?;
            (fstype == "cgroup" || fstype == "cgroup2").then(|| PathBuf::from(mount_point))
        })
        .collect()
}

/// Removes empty `berth` parents unless a container is being created right now.
pub fn remove_empty_parents(runroot: &Path) {
    let Some(file) = lock_file(runroot) else {
        return;
    };
    let Ok(_lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) else {
        return;
    };
    for h in hierarchies() {
        let _ = std::fs::remove_dir(h.join(PARENT)); // fails harmlessly while non-empty
    }
}
