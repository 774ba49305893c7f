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

/// Mount point of the named `name=systemd` v1 hierarchy, on legacy and hybrid hosts.
pub fn named_systemd_hierarchy() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mounts.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let mut post = post.split(' ');
        let (fstype, _source, options) = (post.next()?, post.next()?, post.next()?);
        let mount_point = pre.split(' ').nth(4)?;
        (fstype == "cgroup" && options.split(',').any(|o| o == "name=systemd"))
            .then(|| PathBuf::from(mount_point))
    })
}

/// A container's cgroup in the `name=systemd` hierarchy, which libcontainer does not
/// create: systemd inside the container needs it to exist and be its namespace root.
pub fn systemd_cgroup(id: &str) -> Option<PathBuf> {
    named_systemd_hierarchy().map(|h| h.join(PARENT).join(id))
}

/// Removes a container's cgroup directory and everything systemd created below it,
/// deepest first, in every hierarchy. Cgroups hold no files to delete, only
/// directories to rmdir once their processes are gone.
pub fn remove_container_cgroups(id: &str) {
    for h in hierarchies() {
        remove_tree(&h.join(PARENT).join(id));
    }
}

fn remove_tree(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_tree(&e.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// Moves the calling process into `cgroup` (creating it): children it creates are
/// then born there, so their cgroup namespace roots there.
pub fn enter(cgroup: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(cgroup)?;
    std::fs::write(cgroup.join("cgroup.procs"), std::process::id().to_string())
}
