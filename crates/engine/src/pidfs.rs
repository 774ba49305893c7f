//! A process's identity by its pidfd's inode number, where the kernel gives one.
//!
//! Since Linux 6.9 a pidfd lives on pidfs, whose inode numbers are, on 64-bit
//! machines, never reused within a boot: a pid plus that number names one
//! process for good, as systemd keeps them. Checking it costs a pidfd, an
//! `fstat` and a `poll`, about 6 µs against 10 to 14 µs for opening and reading
//! `/proc/PID/stat`, whose every field the kernel formats (measured here with
//! 1,000 processes). `ps` checks every container's monitor, so that was a third
//! of a `ps` at 1,000 containers (issue 11). Elsewhere (older kernels, where a
//! pidfd is an anonymous inode shared by all) there is no such number and
//! `model::ProcessId` goes on with the start time in `/proc/PID/stat`. The
//! numbers start again with every boot, so a number is kept with its boot's id.

use nix::errno::Errno;
use rustix::fd::{AsFd, OwnedFd};
use rustix::process::{pidfd_open, Pid, PidfdFlags};

/// pidfs's magic number (`PID_FS_MAGIC` in the kernel's `magic.h`).
const PID_FS_MAGIC: rustix::fs::FsWord = 0x5049_4446;

/// A pidfd: it names the process it was opened for even once the pid is reused.
pub struct Pidfd(OwnedFd);

impl Pidfd {
    /// None: no such process, or no pidfd to be had.
    pub fn open(pid: i32) -> Option<Pidfd> {
        open_checked(pid).ok().flatten()
    }

    /// Sends `sig` to the process this pidfd names and to no other: once that
    /// process has exited it fails with ESRCH, whoever has its pid since.
    pub fn send_signal(&self, sig: i32) -> Result<(), Errno> {
        use std::os::fd::AsRawFd;
        // rustix's pidfd_send_signal takes only its own Signal type, which a
        // signal number from the user (a real-time one) must be built unsafely
        // into anyway; the raw call is as short.
        // SAFETY: pidfd_send_signal(2) on our own open pidfd, no siginfo.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        Errno::result(rc).map(drop)
    }

    /// Whether the process has exited (a zombie has): a pidfd polls readable
    /// once its process has exited.
    pub fn has_exited(&self) -> bool {
        let mut fds = [nix::poll::PollFd::new(
            self.0.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO) {
            Ok(n) => n > 0,
            // Cannot tell: say alive, as a failed check must not stop a container.
            Err(_) => false,
        }
    }

    /// Its pidfs inode number while the process runs. None once it has exited,
    /// or without pidfs (or on a 32-bit machine, where `st_ino` is cut to 32 bits
    /// and is reused).
    pub fn inode_if_running(&self) -> Option<u64> {
        (usable() && self.on_pidfs()).then_some(())?;
        let ino = rustix::fs::fstat(&self.0).ok()?.st_ino;
        (!self.has_exited()).then_some(ino)
    }

    fn on_pidfs(&self) -> bool {
        cfg!(target_pointer_width = "64")
            && matches!(rustix::fs::fstatfs(&self.0), Ok(s) if s.f_type == PID_FS_MAGIC)
    }
}

/// A process to signal and wait for: by its pidfd, which names it even once its
/// pid goes to another process, or by its pid on kernels without pidfds (before
/// Linux 5.3), where the caller's checks before the signal are all there is.
pub enum ProcessHandle {
    Pidfd(Pidfd),
    Pid(i32),
}

impl ProcessHandle {
    /// Ok(None) when there is no such process; an error when the kernel refuses
    /// a pidfd for another reason (no descriptor left).
    pub fn open(pid: i32) -> Result<Option<ProcessHandle>, Errno> {
        match open_checked(pid) {
            Ok(fd) => Ok(fd.map(ProcessHandle::Pidfd)),
            Err(Errno::ENOSYS) => Ok(Some(ProcessHandle::Pid(pid))),
            Err(e) => Err(e),
        }
    }

    /// ESRCH once the process has exited.
    pub fn send_signal(&self, sig: i32) -> Result<(), Errno> {
        match self {
            ProcessHandle::Pidfd(fd) => fd.send_signal(sig),
            // SAFETY: kill(2); the caller checked who has the pid.
            ProcessHandle::Pid(pid) => Errno::result(unsafe { libc::kill(*pid, sig) }).map(drop),
        }
    }

    /// Exited; by pid, a zombie still counts as there until reaped.
    pub fn has_exited(&self) -> bool {
        match self {
            ProcessHandle::Pidfd(fd) => fd.has_exited(),
            ProcessHandle::Pid(pid) => !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        }
    }
}

/// Whether pidfs numbers can be used here, worked out once per process: the
/// kernel has pidfs (a pidfd of this process is on it), the machine is 64-bit,
/// the boot id can be read, and this process's `/proc` shows its own pid
/// namespace (a pidfd is opened by a pid of the caller's namespace, `/proc` files
/// by one of its mount's: the two must name the same process).
pub fn usable() -> bool {
    static USABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *USABLE.get_or_init(|| {
        let me = std::process::id() as i32;
        let proc_is_ours = std::fs::read_link("/proc/self")
            .ok()
            .and_then(|p| p.to_str()?.parse::<i32>().ok())
            == Some(me);
        proc_is_ours && Pidfd::open(me).is_some_and(|fd| fd.on_pidfs()) && boot().is_some()
    })
}

/// Whether `pid` is still the process whose pidfd had inode `ino` and has not
/// exited (a zombie counts as gone). None when that cannot be told: a pidfd
/// refused for another reason than there being no such process (no descriptor
/// left, a sandbox's filter), which must not pass for a dead process.
pub fn check(pid: i32, ino: u64) -> Option<bool> {
    let Some(fd) = open_checked(pid).ok()? else {
        return Some(false);
    };
    let st = rustix::fs::fstat(&fd.0).ok()?;
    Some(st.st_ino == ino && !fd.has_exited())
}

/// This boot's id, its first 64 bits (`/proc/sys/kernel/random/boot_id`), read
/// once per process.
pub fn boot() -> Option<u64> {
    static BOOT: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *BOOT.get_or_init(|| {
        let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        parse_boot_id(&id)
    })
}

fn parse_boot_id(id: &str) -> Option<u64> {
    let hex: String = id.trim().chars().filter(|c| *c != '-').take(16).collect();
    (hex.len() == 16).then_some(())?;
    u64::from_str_radix(&hex, 16).ok()
}

/// A pidfd for `pid`; Ok(None) when there is no such process (ESRCH), or the
/// number is a thread's rather than a process's (EINVAL). Any other refusal (no
/// descriptor left, ENOSYS before Linux 5.3 or from a sandbox's filter) is the
/// caller's to weigh: it is no proof the process is gone.
fn open_checked(pid: i32) -> Result<Option<Pidfd>, Errno> {
    let Some(raw) = Pid::from_raw(pid) else {
        return Ok(None);
    };
    match pidfd_open(raw, PidfdFlags::empty()) {
        Ok(fd) => Ok(Some(Pidfd(fd))),
        Err(rustix::io::Errno::SRCH | rustix::io::Errno::INVAL) => Ok(None),
        Err(e) => Err(Errno::from_raw(e.raw_os_error())),
    }
}

/// A child that sleeps 30 s, for the tests that signal and wait for processes.
#[cfg(test)]
pub(crate) fn sleeper() -> std::process::Child {
    std::process::Command::new("sleep")
        .arg("30")
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_process_is_alive_under_its_own_number_only() {
        let mut child = sleeper();
        let pid = child.id() as i32;
        if let Some(ino) = Pidfd::open(pid).and_then(|fd| fd.inode_if_running()) {
            assert_eq!(check(pid, ino), Some(true));
            assert_eq!(check(pid, ino + 1), Some(false), "another process's number");
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_zombie_and_a_reaped_process_are_gone() {
        let mut child = sleeper();
        let pid = child.id() as i32;
        let fd = Pidfd::open(pid).unwrap();
        let Some(ino) = fd.inode_if_running() else {
            child.kill().unwrap();
            child.wait().unwrap();
            return; // no pidfs here
        };
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        // A zombie until waited for: still there for pidfd_open, but exited.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while check(pid, ino) == Some(true) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(check(pid, ino), Some(false), "a zombie counted as alive");
        assert!(
            fd.inode_if_running().is_none(),
            "a zombie's number handed out"
        );
        child.wait().unwrap();
        assert_eq!(
            check(pid, ino),
            Some(false),
            "a reaped process counted as alive"
        );
    }

    #[test]
    fn a_pidfd_does_not_signal_whoever_took_its_pid() {
        let mut child = sleeper();
        let fd = Pidfd::open(child.id() as i32).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        // The pid is free for the next process; the pidfd still names the old one.
        let err = fd.send_signal(libc::SIGTERM).unwrap_err();
        assert_eq!(err, Errno::ESRCH);
    }

    #[test]
    fn a_boot_id_is_read_by_its_first_64_bits() {
        assert_eq!(
            parse_boot_id("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\n"),
            Some(0x0f1e_2d3c_4b5a_6978)
        );
        assert_eq!(parse_boot_id("0f1e2d3c"), None);
        assert_eq!(parse_boot_id("not hex at all, not hex at all"), None);
        assert!(boot().is_some(), "this machine's boot id");
    }

    #[test]
    fn a_pidfd_refused_for_want_of_descriptors_is_no_answer() {
        let me = std::process::id() as i32;
        let Some(ino) = Pidfd::open(me).and_then(|fd| fd.inode_if_running()) else {
            return; // no pidfs here
        };
        // In a child, so that the limit does not reach the other tests' threads;
        // the child makes only system calls before it exits.
        // SAFETY: fork in a test; the child calls no allocator and _exits.
        match unsafe { libc::fork() } {
            0 => {
                let none = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                // SAFETY: plain system calls on this child alone.
                unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &none) };
                let code = match check(me, ino) {
                    None => 0,
                    Some(true) => 1,
                    Some(false) => 2,
                };
                // SAFETY: ends the child without the parent's destructors.
                unsafe { libc::_exit(code) }
            }
            child => {
                let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child), None);
                assert!(
                    matches!(status, Ok(nix::sys::wait::WaitStatus::Exited(_, 0))),
                    "check without a descriptor to spare: {status:?} (1: alive, 2: dead)"
                );
            }
        }
    }

    #[test]
    fn a_process_has_one_number() {
        let me = std::process::id() as i32;
        let ask = || Pidfd::open(me).and_then(|fd| fd.inode_if_running());
        assert_eq!(ask(), ask());
    }
}
