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
    let guard =
        CreationGuard(lock_file(runroot).and_then(|f| Flock::lock(f, FlockArg::LockShared).ok()));
    remember_root_controllers();
    guard
}

/// cgroup v2: the runtime enables every available controller in the root cgroup's
/// cgroup.subtree_control on its way down to `berth/<id>`. What the root had before
/// the first berth cgroup is kept here and put back when the `berth` parent goes.
const ROOT_CONTROLLERS_SAVED: &str = "/run/berth-root-subtree_control.before";
const UNIFIED_ROOT: &str = "/sys/fs/cgroup";

fn remember_root_controllers() {
    let control = Path::new(UNIFIED_ROOT).join("cgroup.subtree_control");
    let parent = Path::new(UNIFIED_ROOT).join(PARENT);
    if !Path::new(UNIFIED_ROOT).join("cgroup.controllers").exists()
        || parent.exists()
        || Path::new(ROOT_CONTROLLERS_SAVED).exists()
    {
        return;
    }
    if let Ok(before) = std::fs::read_to_string(control) {
        let _ = std::fs::write(ROOT_CONTROLLERS_SAVED, before);
    }
}

fn restore_root_controllers() {
    let Ok(before) = std::fs::read_to_string(ROOT_CONTROLLERS_SAVED) else {
        return;
    };
    let control = Path::new(UNIFIED_ROOT).join("cgroup.subtree_control");
    let now = std::fs::read_to_string(&control).unwrap_or_default();
    for added in controllers_added(&before, &now) {
        // Fails harmlessly if something else started using the controller meanwhile.
        let _ = std::fs::write(&control, format!("-{added}"));
    }
    let _ = std::fs::remove_file(ROOT_CONTROLLERS_SAVED);
}

/// Controllers enabled in `now` that were not in `before` (subtree_control texts).
fn controllers_added<'a>(before: &str, now: &'a str) -> Vec<&'a str> {
    let before: Vec<&str> = before.split_whitespace().collect();
    now.split_whitespace()
        .filter(|c| !before.contains(c))
        .collect()
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
    if !Path::new(UNIFIED_ROOT).join(PARENT).exists() {
        restore_root_controllers();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_the_runtime_enabled_at_the_root() {
        // What the cgroup v2 VM showed: systemd had memory and pids, the runtime added the rest.
        assert_eq!(
            controllers_added("memory pids\n", "cpuset cpu io memory hugetlb pids\n"),
            vec!["cpuset", "cpu", "io", "hugetlb"]
        );
        assert!(controllers_added("memory pids", "memory pids").is_empty());
    }
}
