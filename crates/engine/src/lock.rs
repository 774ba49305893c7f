//! One operation at a time on a container. `start`, `stop`, `kill`, `restart`,
//! `rm` and `network connect`/`disconnect` each hold an exclusive `flock` on the
//! `lock` file in the container's directory for the whole operation (taken by the
//! use cases, `usecase::exclusive`), so two of them on one container run one after
//! the other, whichever berth processes they come from.
//!
//! flock, not a row in the database: the kernel drops it when its holder dies,
//! `kill -9` included, so a crashed command never leaves a container locked.
//!
//! `start` hands the lock on to the monitor it spawns: the descriptor is inherited
//! (same open file description, so the same lock), and the monitor closes it once
//! it has recorded itself in the container's state. A `start` killed before that
//! cannot let a second start in; after that, a start in progress shows in the
//! state and the next holder waits for it (`lifecycle::settled`). The monitor
//! closes it before it forks anything: a created container's init, waiting to be
//! started, would keep the lock for as long as it waits. For the same reason the
//! lock is never released with `LOCK_UN`, only by closing the file: an explicit
//! unlock by one holder would free it for both.
//!
//! The monitor never takes the lock itself: it records the container's exit through
//! the store's transactions, so a holder waiting for that exit (`stop`, `rm -f`)
//! cannot deadlock with it.

use std::fs::File;
use std::io::ErrorKind;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::path::{Path, PathBuf};

/// The environment variable through which `start` passes the lock to the monitor.
pub const LOCK_FD_ENV: &str = "BERTH_LOCK_FD";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The container's directory is gone: it was removed meanwhile.
    #[error("No such container: {0}")]
    Gone(String),
    #[error("locking container {id} ({path}): {source}")]
    Io {
        id: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held while it lives; dropping it closes the file, which releases the lock once
/// no inheriting monitor holds it any more.
#[derive(Debug)]
pub struct ContainerLock {
    file: File,
}

impl ContainerLock {
    /// A lock file opened by whoever took the lock and handed it on (a monitor's
    /// launcher, see `launch`): holding the file holds the lock.
    pub(crate) fn from_file(file: File) -> ContainerLock {
        ContainerLock { file }
    }

    /// The descriptor to hand to a monitor (see the module's docs).
    pub fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

fn lock_path(container_dir: &Path) -> PathBuf {
    container_dir.join("lock")
}

/// Opens the lock file; the directory is never created here (a removed container
/// stays removed).
fn open(id: &str, container_dir: &Path) -> Result<File, LockError> {
    let path = lock_path(container_dir);
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path);
    match opened {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(LockError::Gone(id.to_string())),
        Err(source) => Err(LockError::Io {
            id: id.to_string(),
            path,
            source,
        }),
    }
}

/// Waits for and takes the container's lock.
pub fn lock(id: &str, container_dir: &Path) -> Result<ContainerLock, LockError> {
    let file = open(id, container_dir)?;
    // std's File::lock is flock(2) on Linux; dropping the file closes it without an
    // explicit unlock, which is what inheriting monitors need.
    file.lock().map_err(|source| LockError::Io {
        id: id.to_string(),
        path: lock_path(container_dir),
        source,
    })?;
    Ok(ContainerLock { file })
}

/// Waits for and takes the container's lock shared: `exec` holds it while the
/// runtime puts a new process into the container, so that `rm -f` (exclusive)
/// waits for that and then removes the process with the rest, instead of the
/// runtime's helper making the removed container's cgroups again behind it.
/// Several execs hold it at once, each through [`lock_shared_apart`].
fn lock_shared(id: &str, container_dir: &Path) -> Result<ContainerLock, LockError> {
    let file = open(id, container_dir)?;
    file.lock_shared().map_err(|source| LockError::Io {
        id: id.to_string(),
        path: lock_path(container_dir),
        source,
    })?;
    Ok(ContainerLock { file })
}

/// The container's lock taken shared and held by a child process of the caller
/// rather than by the caller, until this is dropped or the caller dies.
///
/// `exec` holds the lock while the runtime forks its helpers into the container,
/// and a forked process inherits every descriptor of its parent. With the lock's
/// among them, an `exec` killed while the runtime's init waited to be started left
/// that process holding the lock for good, and `rm -f`, `kill` and `start` of the
/// container waited behind it (the torture test, about one run in twelve). The
/// holder is a child that does nothing but keep the lock: it dies with the thread
/// that made it (`PR_SET_PDEATHSIG`), `kill -9` included, and the runtime's
/// processes never see the descriptor.
#[derive(Debug)]
pub struct HeldApart {
    holder: nix::unistd::Pid,
}

pub fn lock_shared_apart(id: &str, container_dir: &Path) -> Result<HeldApart, LockError> {
    let lock = lock_shared(id, container_dir)?;
    let fd = lock.file.as_raw_fd() as libc::c_uint;
    let parent = nix::unistd::getpid();
    // SAFETY: the child makes raw system calls only until it is killed.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            // The caller may have died before the line above.
            if libc::getppid() != parent.as_raw() {
                libc::_exit(0);
            }
            // Nothing but the lock: not the caller's terminal or pipes, which a
            // reader waits on until every copy is closed.
            if fd > 0 {
                libc::syscall(libc::SYS_close_range, 0, fd - 1, 0);
            }
            libc::syscall(libc::SYS_close_range, fd + 1, libc::c_uint::MAX, 0);
            loop {
                libc::pause();
            }
        },
        // The child's copy of the open file keeps the lock; ours closes.
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            drop(lock);
            Ok(HeldApart { holder: child })
        }
        Err(e) => Err(LockError::Io {
            id: id.to_string(),
            path: lock_path(container_dir),
            source: e.into(),
        }),
    }
}

impl HeldApart {
    /// Leaves the holder running, for a forked copy of the caller that must not
    /// end its parent's lock (its parent still does, when it drops its own).
    pub fn forget_in_child(self) {
        std::mem::forget(self);
    }
}

impl Drop for HeldApart {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.holder, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(self.holder, None);
    }
}

/// Takes the lock if nobody holds it (another process, or another open of it in
/// this one); `None` when it is held.
pub fn try_lock(id: &str, container_dir: &Path) -> Result<Option<ContainerLock>, LockError> {
    let file = open(id, container_dir)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(ContainerLock { file })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(source)) => Err(LockError::Io {
            id: id.to_string(),
            path: lock_path(container_dir),
            source,
        }),
    }
}

/// The monitor's side: the lock its `start` handed on, if any. Marked
/// close-on-exec again at once, so nothing the monitor runs keeps it.
pub fn inherited() -> Option<ContainerLock> {
    let fd: RawFd = std::env::var(LOCK_FD_ENV).ok()?.parse().ok()?;
    // SAFETY: fcntl on a descriptor number; fails harmlessly if it is not open.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if fd < 3 || flags < 0 {
        return None;
    }
    // SAFETY: as above, on the descriptor the spawning `start` passed for this.
    unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) };
    // SAFETY: the spawning CLI passed us this descriptor for exactly this purpose,
    // and nothing else in the monitor owns it.
    Some(ContainerLock::from_file(unsafe { File::from_raw_fd(fd) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_holders_keep_the_exclusive_one_out_but_not_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let one = lock_shared("c1", dir.path()).unwrap();
        let two = lock_shared("c1", dir.path()).unwrap();
        assert!(try_lock("c1", dir.path()).unwrap().is_none(), "held shared");
        drop(one);
        assert!(try_lock("c1", dir.path()).unwrap().is_none(), "still held");
        drop(two);
        assert!(try_lock("c1", dir.path()).unwrap().is_some());
    }

    #[test]
    fn a_second_holder_waits_and_a_closed_lock_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let one = lock("c1", dir.path()).unwrap();
        assert!(try_lock("c1", dir.path()).unwrap().is_none(), "held by one");
        drop(one);
        let two = try_lock("c1", dir.path()).unwrap();
        assert!(two.is_some(), "free once closed");
    }

    #[test]
    fn a_lock_held_apart_is_held_by_no_descriptor_of_ours_and_ends_with_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock_shared_apart("c4", dir.path()).unwrap();
        assert!(try_lock("c4", dir.path()).unwrap().is_none(), "held");
        // Nothing of ours points at the lock file: a process we fork now (as the
        // runtime does) does not inherit the lock.
        let lock = dir.path().join("lock").canonicalize().unwrap();
        let ours: Vec<_> = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .flatten()
            .filter(|e| std::fs::read_link(e.path()).is_ok_and(|t| t == lock))
            .collect();
        assert!(ours.is_empty(), "our descriptors on the lock: {ours:?}");
        drop(held);
        assert!(try_lock("c4", dir.path()).unwrap().is_some(), "freed");
    }

    #[test]
    fn a_lock_held_apart_ends_when_its_taker_dies() {
        let dir = tempfile::tempdir().unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        // SAFETY: the child takes the lock apart (a fork and raw system calls,
        // no lock of this multi-threaded test process's allocator is taken
        // between them), reports it and waits to be killed.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let held = lock_shared_apart("c5", dir.path());
                let _ = nix::unistd::write(&w, if held.is_ok() { b"y" } else { b"n" });
                std::mem::forget(held);
                loop {
                    unsafe { libc::pause() };
                }
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop(w);
                let mut buf = [0u8; 1];
                assert_eq!(nix::unistd::read(r.as_raw_fd(), &mut buf).unwrap(), 1);
                assert_eq!(&buf, b"y");
                assert!(try_lock("c5", dir.path()).unwrap().is_none(), "held");
                nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL).unwrap();
                nix::sys::wait::waitpid(child, None).unwrap();
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                while try_lock("c5", dir.path()).unwrap().is_none() {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "the holder outlived the process that took the lock"
                    );
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
        }
    }

    #[test]
    fn a_removed_container_cannot_be_locked() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        assert!(matches!(lock("c2", &gone), Err(LockError::Gone(id)) if id == "c2"));
        assert!(!gone.exists(), "the directory is not made again");
    }

    #[test]
    fn a_lock_held_by_a_dead_process_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let file = open("c3", dir.path()).unwrap();
        let fd = file.as_raw_fd();
        // SAFETY: the child makes raw system calls only (no allocation after the
        // fork of a multi-threaded test process), until it is killed.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => unsafe {
                libc::flock(fd, libc::LOCK_EX);
                loop {
                    libc::pause();
                }
            },
            nix::unistd::ForkResult::Parent { child } => {
                drop(file); // the child's copy is the only one left
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                while try_lock("c3", dir.path()).unwrap().is_some() {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "the child never locked"
                    );
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL).unwrap();
                nix::sys::wait::waitpid(child, None).unwrap();
                assert!(
                    try_lock("c3", dir.path()).unwrap().is_some(),
                    "freed by its death"
                );
            }
        }
    }
}
