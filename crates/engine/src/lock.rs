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
/// Several execs hold it at once.
pub fn lock_shared(id: &str, container_dir: &Path) -> Result<ContainerLock, LockError> {
    let file = open(id, container_dir)?;
    file.lock_shared().map_err(|source| LockError::Io {
        id: id.to_string(),
        path: lock_path(container_dir),
        source,
    })?;
    Ok(ContainerLock { file })
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
    Some(ContainerLock {
        file: unsafe { File::from_raw_fd(fd) },
    })
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
