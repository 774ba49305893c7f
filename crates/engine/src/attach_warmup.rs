//! Starts the kernel's wait for a cgroup migration early, beside the monitor's own
//! work, instead of on the container's critical path.
//!
//! Every write of a process to a `cgroup.procs` file takes the kernel's
//! `cgroup_threadgroup_rwsem` for writing. That lock is a percpu rwsem, whose write
//! side first waits for a full RCU grace period (`rcu_sync_enter`) unless another
//! writer held it within about one grace period before. libcontainer's intermediate
//! process writes itself into the container's cgroups, so each start waited for a
//! whole grace period there, with nothing else to do: 9 ms per run on this 2-core
//! VM at a busy hour (`perf sched timehist`, 18 of 20 runs), the same for bare
//! runc. A migration of a single thread through a v1 `tasks` file does not take
//! the lock, and libcontainer 0.7 has no `CLONE_INTO_CGROUP` (which avoids the
//! migration on cgroup v2), so the wait itself cannot be left out from here.
//!
//! What berth can do is to start it sooner: as a monitor starts (launched while
//! `run` still creates the container, see `launch`), a helper forked from it moves
//! itself into berth's parent cgroup in one v1 hierarchy, which starts the grace
//! period beside the command's and the monitor's own work (the database, the
//! overlay, the bundle), and then moves itself there again every few
//! milliseconds, which keeps the lock's fast path open until the container's
//! processes are in. The helper is killed once the container is created, before it
//! is started, or when the run is abandoned. It is in a hierarchy that limits
//! nothing it does ([`WARMUP_CONTROLLERS`]), holds no descriptor of the monitor's
//! but the cgroup file, and dies with the monitor.
//!
//! On cgroup v2 berth's parent must stay free of processes (the "no internal
//! processes" rule: the runtime enables controllers below it), so the helper does
//! not move: it writes itself to the parent's `cgroup.procs`, which the kernel
//! refuses with `EBUSY`, but only after it took the lock, so the refused write
//! starts and keeps the grace period all the same. That needs the parent to exist
//! with a domain controller enabled for its children, as it does while another
//! container runs; on a v2 host with no container running the first start goes
//! without (the parent is the runtime's to make, with its controllers).

use crate::cgroups::{CgroupLayout, PARENT, UNIFIED_ROOT};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult, Pid};
use rustix::fd::OwnedFd;
use rustix::fs::{openat, Mode, OFlags};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// v1 controllers whose cgroups limit nothing the helper does (cpuset is left
/// out: a task cannot join a cpuset cgroup before its cpus and mems are set; pids
/// and memory count their members).
const WARMUP_CONTROLLERS: [&str; 3] = ["freezer", "devices", "blkio"];

/// cgroup v2 controllers that only a domain cgroup can enable for its children
/// (no threaded mode): one of them in the parent's `cgroup.subtree_control` makes
/// the kernel refuse a process there (`cgroup_migrate_vet_dst`).
const DOMAIN_CONTROLLERS: [&str; 5] = ["memory", "io", "hugetlb", "rdma", "misc"];

/// How often the helper moves itself again: well under the shortest grace period.
const PERIOD: libc::timespec = libc::timespec {
    tv_sec: 0,
    tv_nsec: 2_000_000,
};

/// The most rounds the helper makes (half a second): a run that takes longer to
/// create its container (a pull, a busy host) does without rather than keep the
/// helper migrating, which briefly holds up every fork on the host each time.
const MAX_ROUNDS: u32 = 250;

/// The running helper. Dropping it kills and reaps the helper and, unless
/// [`AttachWarmup::created`] said a container's cgroups now fill it, removes the
/// `berth` parents left empty.
pub struct AttachWarmup {
    helper: Option<Pid>,
    sweep: Option<PathBuf>,
}

/// Where the helper writes itself.
#[derive(Debug, PartialEq, Eq)]
pub enum WarmupCgroup {
    /// cgroup v1: berth's own parent in the first mounted [`WARMUP_CONTROLLERS`]
    /// hierarchy, made if missing, which the helper moves into. Not a cgroup of
    /// the container's: one the helper's death leaves empty is removed with the
    /// parents whenever a container goes (`cgroups::remove_empty_parents`),
    /// whoever was killed.
    MoveInto(PathBuf),
    /// cgroup v2: berth's parent, if it refuses the helper (see the module's
    /// docs and [`refuses_processes`]); never made here.
    RefusedBy(PathBuf),
}

/// The cgroup for the helper on this host's layout, if any.
pub fn warmup_cgroup(layout: &CgroupLayout) -> Option<WarmupCgroup> {
    let CgroupLayout::V1(hierarchies) = layout else {
        return Some(WarmupCgroup::RefusedBy(
            Path::new(UNIFIED_ROOT).join(PARENT),
        ));
    };
    WARMUP_CONTROLLERS.iter().find_map(|controller| {
        hierarchies
            .iter()
            .find(|h| h.options.iter().any(|o| o == controller))
            .map(|h| WarmupCgroup::MoveInto(h.mount_point.join(PARENT)))
    })
}

/// Whether a v2 cgroup whose `cgroup.subtree_control` reads `enabled` refuses
/// processes: it enables a domain controller for its children.
fn refuses_processes(enabled: &str) -> bool {
    enabled
        .split_whitespace()
        .any(|c| DOMAIN_CONTROLLERS.contains(&c))
}

/// The cgroup's `cgroup.procs`, open for writing, where the helper is to write.
/// On v2 the parent's controllers are read and its `cgroup.procs` opened through
/// one descriptor of the parent: a parent removed and made again in between (by
/// a concurrent sweep and another start) answers ENODEV, and a new bare one is
/// never the one written to.
fn open_procs(target: &WarmupCgroup) -> Option<OwnedFd> {
    let write = OFlags::WRONLY | OFlags::CLOEXEC;
    let dir = match target {
        WarmupCgroup::MoveInto(dir) => {
            return rustix::fs::open(dir.join("cgroup.procs"), write, Mode::empty()).ok()
        }
        WarmupCgroup::RefusedBy(dir) => dir,
    };
    let parent = rustix::fs::open(dir, OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).ok()?;
    let control = openat(
        &parent,
        "cgroup.subtree_control",
        OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let mut buf = [0u8; 256];
    let n = rustix::io::read(&control, &mut buf).ok()?;
    refuses_processes(std::str::from_utf8(&buf[..n]).ok()?)
        .then(|| openat(&parent, "cgroup.procs", write, Mode::empty()).ok())?
}

impl AttachWarmup {
    /// Forks the helper; does nothing where there is no hierarchy for it or the
    /// cgroup cannot be made (the runtime then reports the real problem).
    pub fn start(layout: &CgroupLayout, runroot: &Path) -> Self {
        let mut warmup = Self {
            helper: None,
            sweep: None,
        };
        let Some(target) = warmup_cgroup(layout) else {
            return warmup;
        };
        if let WarmupCgroup::MoveInto(dir) = &target {
            if std::fs::create_dir_all(dir).is_err() {
                return warmup;
            }
            warmup.sweep = Some(runroot.to_path_buf());
        }
        // A parent removed by a concurrent sweep before this opens it: no helper.
        let Some(procs) = open_procs(&target) else {
            return warmup;
        };
        let refused = matches!(target, WarmupCgroup::RefusedBy(_));
        let parent = nix::unistd::getpid();
        // SAFETY: the child only makes raw system calls (prctl, dup2, close_range,
        // write, nanosleep) and leaves with _exit: nothing that could need a lock
        // another thread held.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => keep_writing(procs.as_raw_fd(), parent, refused),
            Ok(ForkResult::Parent { child }) => warmup.helper = Some(child),
            Err(_) => {}
        }
        warmup
    }

    /// The container was created in its cgroups: the helper goes, and the parent
    /// it was in holds the container's cgroup.
    pub fn created(mut self) {
        self.sweep = None;
    }
}

/// The helper: writes itself to the cgroup behind `procs` every [`PERIOD`] until
/// killed, or its monitor is gone, or [`MAX_ROUNDS`] are made. Where the cgroup
/// is to refuse it (`refused`), it goes at once should it ever be let in.
fn keep_writing(procs: i32, parent: Pid, refused: bool) -> ! {
    // SAFETY: raw system calls on this process's own state and descriptors.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        // Keeps nothing of the monitor's but the cgroup file: not the container's
        // lock, the go socket, the report pipe or a log, which others wait on.
        if libc::dup2(procs, 0) != 0
            || libc::syscall(libc::SYS_close_range, 1u32, u32::MAX, 0u32) != 0
        {
            libc::_exit(0)
        }
        if libc::getppid() == parent.as_raw() {
            for _ in 0..MAX_ROUNDS {
                // "0" is the writing process itself.
                let written = libc::write(0, b"0".as_ptr().cast(), 1) == 1;
                if !written_as_expected(written, refused, *libc::__errno_location()) {
                    break;
                }
                libc::nanosleep(&PERIOD, std::ptr::null_mut());
            }
        }
        libc::_exit(0)
    }
}

/// Whether a write of the helper went as its cgroup should take it: v1 moves
/// it, v2's parent refuses it with `EBUSY` (or `EOPNOTSUPP`, a parent not a valid
/// domain), having taken the lock. Anything else ends the helper.
fn written_as_expected(written: bool, refused: bool, errno: i32) -> bool {
    if refused {
        !written && (errno == libc::EBUSY || errno == libc::EOPNOTSUPP)
    } else {
        written
    }
}

impl Drop for AttachWarmup {
    fn drop(&mut self) {
        if let Some(child) = self.helper.take() {
            let _ = kill(child, Signal::SIGKILL);
            let _ = waitpid(child, None);
        }
        if let Some(runroot) = self.sweep.take() {
            crate::cgroups::remove_empty_parents(&runroot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::V1Hierarchy;

    fn v1(mounts: &[(&str, &str)]) -> CgroupLayout {
        CgroupLayout::V1(
            mounts
                .iter()
                .map(|(point, options)| V1Hierarchy {
                    mount_point: PathBuf::from(point),
                    options: options.split(',').map(String::from).collect(),
                })
                .collect(),
        )
    }

    #[test]
    fn the_helper_goes_where_nothing_is_counted_or_limited() {
        let layout = v1(&[
            ("/sys/fs/cgroup/memory", "rw,memory"),
            ("/sys/fs/cgroup/pids", "rw,pids"),
            ("/sys/fs/cgroup/cpuset", "rw,cpuset"),
            ("/sys/fs/cgroup/devices", "rw,devices"),
            ("/sys/fs/cgroup/freezer", "rw,freezer"),
        ]);
        assert_eq!(
            warmup_cgroup(&layout),
            Some(WarmupCgroup::MoveInto(
                "/sys/fs/cgroup/freezer/berth".into()
            ))
        );
        let layout = v1(&[
            ("/sys/fs/cgroup/pids", "rw,pids"),
            ("/sys/fs/cgroup/devices", "rw,devices"),
        ]);
        assert_eq!(
            warmup_cgroup(&layout),
            Some(WarmupCgroup::MoveInto(
                "/sys/fs/cgroup/devices/berth".into()
            ))
        );
    }

    #[test]
    fn no_helper_without_such_a_v1_hierarchy() {
        let layout = v1(&[
            ("/sys/fs/cgroup/memory", "rw,memory"),
            ("/sys/fs/cgroup/pids", "rw,pids"),
            ("/sys/fs/cgroup/systemd", "rw,name=systemd"),
        ]);
        assert_eq!(warmup_cgroup(&layout), None);
    }

    #[test]
    fn on_cgroup_v2_only_a_parent_that_refuses_processes() {
        assert_eq!(
            warmup_cgroup(&CgroupLayout::Unified),
            Some(WarmupCgroup::RefusedBy("/sys/fs/cgroup/berth".into()))
        );
        assert!(refuses_processes("cpu io memory pids\n"));
        assert!(refuses_processes("memory\n"));
        // One that would take the helper in: threaded controllers alone, or none.
        assert!(!refuses_processes("cpu cpuset pids\n"));
        assert!(!refuses_processes("\n"));
    }

    #[test]
    fn a_v2_parent_is_checked_through_the_descriptor_written_to() {
        let dir = tempfile::tempdir().unwrap();
        let parent = dir.path().join("berth");
        std::fs::create_dir(&parent).unwrap();
        std::fs::write(parent.join("cgroup.procs"), "").unwrap();
        let target = WarmupCgroup::RefusedBy(parent.clone());
        // No controllers file (not a cgroup), or only threaded ones: no helper.
        assert!(open_procs(&target).is_none());
        std::fs::write(parent.join("cgroup.subtree_control"), "cpu pids\n").unwrap();
        assert!(open_procs(&target).is_none());
        std::fs::write(parent.join("cgroup.subtree_control"), "cpu memory\n").unwrap();
        assert!(open_procs(&target).is_some());
        // Gone: no helper.
        std::fs::remove_dir_all(&parent).unwrap();
        assert!(open_procs(&target).is_none());
    }

    #[test]
    fn the_helper_stops_at_the_first_write_that_goes_otherwise() {
        // v1: moved, again and again.
        assert!(written_as_expected(true, false, 0));
        assert!(!written_as_expected(false, false, libc::ENODEV));
        // v2: refused after the lock, again and again; let in, or the parent
        // gone (ENODEV), and it stops.
        assert!(written_as_expected(false, true, libc::EBUSY));
        assert!(written_as_expected(false, true, libc::EOPNOTSUPP));
        assert!(!written_as_expected(true, true, 0));
        assert!(!written_as_expected(false, true, libc::ENODEV));
    }
}
