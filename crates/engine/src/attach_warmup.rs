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
//! Not done on cgroup v2, where berth's parent must stay free of processes for the
//! runtime to enable controllers below it (the "no internal processes" rule).

use crate::cgroups::{CgroupLayout, PARENT};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult, Pid};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// v1 controllers whose cgroups limit nothing the helper does (cpuset is left
/// out: a task cannot join a cpuset cgroup before its cpus and mems are set; pids
/// and memory count their members).
const WARMUP_CONTROLLERS: [&str; 3] = ["freezer", "devices", "blkio"];

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

/// The cgroup the helper moves into: berth's own parent in the first mounted
/// [`WARMUP_CONTROLLERS`] hierarchy, on cgroup v1 hosts only. Not a cgroup of the
/// container's: one the helper's death leaves empty is removed with the parents
/// whenever a container goes (`cgroups::remove_empty_parents`), whoever was killed.
pub fn warmup_cgroup(layout: &CgroupLayout) -> Option<PathBuf> {
    let CgroupLayout::V1(hierarchies) = layout else {
        return None;
    };
    WARMUP_CONTROLLERS.iter().find_map(|controller| {
        hierarchies
            .iter()
            .find(|h| h.options.iter().any(|o| o == controller))
            .map(|h| h.mount_point.join(PARENT))
    })
}

impl AttachWarmup {
    /// Forks the helper; does nothing where there is no hierarchy for it or the
    /// cgroup cannot be made (the runtime then reports the real problem).
    pub fn start(layout: &CgroupLayout, runroot: &Path) -> Self {
        let mut warmup = Self {
            helper: None,
            sweep: None,
        };
        let Some(dir) = warmup_cgroup(layout) else {
            return warmup;
        };
        let made = std::fs::create_dir_all(&dir);
        if made.is_ok() {
            warmup.sweep = Some(runroot.to_path_buf());
        }
        // A parent removed by a concurrent sweep before this opens it: no helper.
        let procs = made.and_then(|()| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.procs"))
        });
        let Ok(procs) = procs else {
            return warmup;
        };
        let parent = nix::unistd::getpid();
        // SAFETY: the child only makes raw system calls (prctl, dup2, close_range,
        // write, nanosleep) and leaves with _exit: nothing that could need a lock
        // another thread held.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => keep_moving(procs.as_raw_fd(), parent),
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

/// The helper: moves itself into the cgroup behind `procs` every [`PERIOD`] until
/// killed, or its monitor is gone, or [`MAX_ROUNDS`] are made.
fn keep_moving(procs: i32, parent: Pid) -> ! {
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
                if libc::write(0, b"0".as_ptr().cast(), 1) != 1 {
                    break;
                }
                libc::nanosleep(&PERIOD, std::ptr::null_mut());
            }
        }
        libc::_exit(0)
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
            warmup_cgroup(&layout).as_deref(),
            Some(Path::new("/sys/fs/cgroup/freezer/berth"))
        );
        let layout = v1(&[
            ("/sys/fs/cgroup/pids", "rw,pids"),
            ("/sys/fs/cgroup/devices", "rw,devices"),
        ]);
        assert_eq!(
            warmup_cgroup(&layout).as_deref(),
            Some(Path::new("/sys/fs/cgroup/devices/berth"))
        );
    }

    #[test]
    fn no_helper_without_such_a_hierarchy_or_on_cgroup_v2() {
        let layout = v1(&[
            ("/sys/fs/cgroup/memory", "rw,memory"),
            ("/sys/fs/cgroup/pids", "rw,pids"),
            ("/sys/fs/cgroup/systemd", "rw,name=systemd"),
        ]);
        assert_eq!(warmup_cgroup(&layout), None);
        assert_eq!(warmup_cgroup(&CgroupLayout::Unified), None);
    }
}
