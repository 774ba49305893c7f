//! berth's cgroup parent (`<hierarchy>/berth`) in every mounted hierarchy. The runtime
//! creates `berth/<id>` below it; when the last container goes, the parent goes too,
//! so the host's cgroup tree ends as it began. A file lock keeps a container that is
//! being created from losing its parent to a concurrent removal.
//!
//! A system container gets a cgroup namespace and a writable view of its own subtree,
//! but the limits berth set stay out of its reach:
//! * cgroup v1: only the `name=systemd` hierarchy is writable inside; every
//!   controller hierarchy is bound read-only over the namespaced mount (see
//!   `oci::systemd`). Each needs `berth/<id>` to exist before the container starts.
//! * cgroup v2: the limits live on `berth/<id>`, while the container's processes run
//!   in its child `berth/<id>/container`, the root of their cgroup namespace (what
//!   crun's `run.oci.systemd.subgroup` and podman do). Whatever systemd writes there,
//!   the parent's limits hold.

use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::path::{Path, PathBuf};

pub const PARENT: &str = "berth";
/// cgroup v2: the child of `berth/<id>` a system container's processes run in.
pub const SUBGROUP: &str = "container";

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("creating the container's cgroup {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("setting the container's limits on {path}: {source}")]
    Limits {
        path: PathBuf,
        source: libcgroups::v2::manager::V2ManagerError,
    },
    #[error("the container's limits do not form valid OCI resources: {0}")]
    Resources(serde_json::Error),
}

/// How the host's cgroups are laid out, as far as a container's view depends on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupLayout {
    /// cgroup v2 only, mounted at /sys/fs/cgroup.
    Unified,
    /// cgroup v1 (legacy, or hybrid with a cgroup2 mount beside): the v1
    /// hierarchies mounted under /sys/fs/cgroup, which the runtime mounts, namespaced,
    /// in a system container.
    V1(Vec<V1Hierarchy>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Hierarchy {
    pub mount_point: PathBuf,
    /// Mount options: the controllers (`cpu,cpuacct`) or `name=systemd`.
    pub options: Vec<String>,
}

/// Controllers the runtime's v1 cgroup manager (libcgroups) creates `berth/<id>` in
/// and moves the container into.
const RUNTIME_MANAGED_V1: [&str; 12] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "hugetlb",
    "memory",
    "pids",
    "perf_event",
    "blkio",
    "net_prio",
    "net_cls",
    "freezer",
];

impl V1Hierarchy {
    pub fn is_named_systemd(&self) -> bool {
        self.options.iter().any(|o| o == "name=systemd")
    }

    /// Whether the runtime creates the container's cgroup here itself.
    fn runtime_managed(&self) -> bool {
        self.options
            .iter()
            .any(|o| RUNTIME_MANAGED_V1.contains(&o.as_str()))
    }
}

impl CgroupLayout {
    pub fn from_host() -> Self {
        Self::from_mountinfo(host_mount_table())
    }

    fn from_mountinfo(mountinfo: &str) -> Self {
        let mut v1 = Vec::new();
        for m in cgroup_mounts(mountinfo) {
            match m.fstype {
                "cgroup2" if m.mount_point == Path::new(UNIFIED_ROOT) => {
                    return CgroupLayout::Unified
                }
                "cgroup" if m.mount_point.starts_with(UNIFIED_ROOT) => v1.push(V1Hierarchy {
                    mount_point: m.mount_point,
                    options: m.options.split(',').map(String::from).collect(),
                }),
                _ => {}
            }
        }
        CgroupLayout::V1(v1)
    }

    /// Whether a container's processes run in [`SUBGROUP`] below its cgroup.
    pub fn uses_subgroup(&self, systemd: bool) -> bool {
        systemd && *self == CgroupLayout::Unified
    }
}

/// One cgroup or cgroup2 mount, from a mountinfo line.
struct CgroupMount<'a> {
    fstype: &'a str,
    mount_point: PathBuf,
    options: &'a str,
}

/// This process's mount table, read once per process: a monitor looks its
/// hierarchies up at its container's creation and again at its removal, and must
/// remove the cgroups where it made them (a host does not change its hierarchies
/// under running containers anyway).
fn host_mount_table() -> &'static str {
    static TABLE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
}

/// Where cgroup v1's `controller` is mounted, from a mountinfo text.
pub(crate) fn v1_controller_mount(mountinfo: &str, controller: &str) -> Option<PathBuf> {
    cgroup_mounts(mountinfo)
        .into_iter()
        .find(|m| m.fstype == "cgroup" && m.options.split(',').any(|o| o == controller))
        .map(|m| m.mount_point)
}

/// [`v1_controller_mount`] on this host.
pub(crate) fn host_v1_controller_mount(controller: &str) -> Option<PathBuf> {
    v1_controller_mount(host_mount_table(), controller)
}

/// Every cgroup (v1) and cgroup2 mount in `mountinfo`: the one parser the
/// hierarchy lookups below share.
fn cgroup_mounts(mountinfo: &str) -> Vec<CgroupMount<'_>> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let mut post = post.split(' ');
            let (fstype, _source, options) = (post.next()?, post.next()?, post.next()?);
            let mount_point = pre.split(' ').nth(4)?;
            matches!(fstype, "cgroup" | "cgroup2").then(|| CgroupMount {
                fstype,
                mount_point: PathBuf::from(mount_point),
                options,
            })
        })
        .collect()
}

/// The container's cgroup as the runtime sees it (config.json's `cgroupsPath`).
pub fn runtime_path(id: &str, subgroup: bool) -> String {
    match subgroup {
        true => format!("/{PARENT}/{id}/{SUBGROUP}"),
        false => format!("/{PARENT}/{id}"),
    }
}

/// cgroup v2: the `cgroupsPath` a running container was created with. A system
/// container started by a berth without the subgroup runs in `berth/<id>` itself.
pub fn current_runtime_path(id: &str, systemd: bool) -> String {
    let subgroup = Path::new(UNIFIED_ROOT).join(PARENT).join(id).join(SUBGROUP);
    runtime_path(id, systemd && subgroup.is_dir())
}

/// cgroup v1, system containers: `berth/<id>` in the hierarchies the runtime does
/// not manage (other than name=systemd, entered separately; see `spawn`), so each
/// has a directory to bind read-only into the container.
pub fn create_unmanaged_v1(id: &str, layout: &CgroupLayout) -> Result<(), CgroupError> {
    let CgroupLayout::V1(hierarchies) = layout else {
        return Ok(());
    };
    for h in hierarchies {
        if !h.runtime_managed() && !h.is_named_systemd() {
            let path = h.mount_point.join(PARENT).join(id);
            std::fs::create_dir_all(&path)
                .map_err(|source| CgroupError::Create { path, source })?;
        }
    }
    Ok(())
}

/// cgroup v2, system containers: puts the container's limits on `berth/<id>`, the
/// parent of the cgroup namespace root its processes run in, so nothing written
/// inside lifts them. Called once the runtime created the container (and with it
/// `berth/<id>`, its controllers enabled) and before it starts.
pub fn hold_limits(id: &str, limits: &serde_json::Value) -> Result<(), CgroupError> {
    let resources: oci_spec::runtime::LinuxResources =
        serde_json::from_value(limits.clone()).map_err(CgroupError::Resources)?;
    let relative = PathBuf::from(PARENT).join(id);
    let path = Path::new(UNIFIED_ROOT).join(&relative);
    let limits_error = |source| CgroupError::Limits {
        path: path.clone(),
        source,
    };
    let manager = libcgroups::v2::manager::Manager::new(UNIFIED_ROOT.into(), relative)
        .map_err(limits_error)?;
    use libcgroups::common::CgroupManager;
    manager
        .apply(&libcgroups::common::ControllerOpt {
            resources: &resources,
            freezer_state: None,
            oom_score_adj: None,
            disable_oom_killer: false,
        })
        .map_err(limits_error)
}

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
pub const UNIFIED_ROOT: &str = "/sys/fs/cgroup";

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
    cgroup_mounts(host_mount_table())
        .into_iter()
        .map(|m| m.mount_point)
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
    host_v1_controller_mount("name=systemd")
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

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/rdma rw,relatime - cgroup cgroup rw,rdma
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 23 0:40 / /mnt/elsewhere rw,relatime - cgroup cgroup rw,pids
";

    #[test]
    fn finds_a_v1_controller_by_its_whole_option() {
        let at = |c| v1_controller_mount(HYBRID, c);
        assert_eq!(
            at("cpuacct"),
            Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"))
        );
        assert_eq!(
            at("name=systemd"),
            Some(PathBuf::from("/sys/fs/cgroup/systemd"))
        );
        assert_eq!(
            at("cpu,cpuacct"),
            None,
            "one option, not the directory's name"
        );
        assert_eq!(at("freezer"), None);
    }

    #[test]
    fn reads_the_host_layout() {
        let CgroupLayout::V1(h) = CgroupLayout::from_mountinfo(HYBRID) else {
            panic!("hybrid is v1");
        };
        let points: Vec<_> = h.iter().map(|h| h.mount_point.clone()).collect();
        assert_eq!(
            points,
            ["cpu,cpuacct", "memory", "rdma", "systemd"].map(|n| Path::new(UNIFIED_ROOT).join(n)),
            "v1 hierarchies under /sys/fs/cgroup only"
        );
        let managed: Vec<bool> = h.iter().map(|h| h.runtime_managed()).collect();
        assert_eq!(managed, [true, true, false, false]);
        assert!(h[3].is_named_systemd() && !h[0].is_named_systemd());
        let unified = "30 23 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(CgroupLayout::from_mountinfo(unified), CgroupLayout::Unified);
    }

    #[test]
    fn only_system_containers_on_v2_run_in_a_subgroup() {
        let v1 = CgroupLayout::from_mountinfo(HYBRID);
        assert!(CgroupLayout::Unified.uses_subgroup(true));
        assert!(!CgroupLayout::Unified.uses_subgroup(false));
        assert!(!v1.uses_subgroup(true));
        assert_eq!(runtime_path("abc", true), "/berth/abc/container");
        assert_eq!(runtime_path("abc", false), "/berth/abc");
    }

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
