//! Starting a container's monitor (`berth monitor <id>`), possibly before its
//! container exists.
//!
//! A monitor is a fresh exec of berth: the kernel's exec, the C library's start-up
//! (its CPU probing traps to the hypervisor in a VM) and opening the database come
//! before it can do anything for its container, about half a millisecond on the
//! start path of every `run`. A monitor needs nothing of its container but its id,
//! which `run` picks itself, so `run` launches the monitor first
//! ([`Launch::spawn`]), before it even parses its flags; the monitor starts up on
//! the other CPU while the command parses them and creates the container, then
//! waits for the go ([`Launch::go`]), which hands it the container's lock and its
//! log, and says whether a client will attach.
//! A command that ends without giving the go (a bad flag, a missing image, a name
//! in use) closes its end, and the waiting monitor exits without having touched
//! anything (`Drop`). `start` launches and gives the go at once: one way to start
//! a monitor.

use crate::lock::ContainerLock;
use crate::paths::Paths;
use crate::EngineError;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

/// The monitor's end of the go socket (a descriptor number).
pub const GO_FD_ENV: &str = "BERTH_GO_FD";
/// The monitor's end of the report pipe (see `monitor::SyncPipe`).
pub const SYNC_FD_ENV: &str = "BERTH_SYNC_FD";

/// A monitor that runs and waits for the go. Dropped without it, the monitor is
/// told to give up and waited for.
pub struct Launch {
    id: String,
    child: Option<Child>,
    go: Option<UnixStream>,
    reports: Option<std::fs::File>,
}

impl Launch {
    /// Spawns `berth monitor <id>` in its own session, with a clean
    /// environment: the monitor outlives this command and must not carry the
    /// caller's variables (LISTEN_FDS would make the runtime pass descriptors into
    /// the container; secrets in the caller's environment have no business there).
    pub fn spawn(paths: &Paths, id: &str) -> Result<Launch, EngineError> {
        let exe = std::env::current_exe().map_err(|source| EngineError::Io {
            path: "/proc/self/exe".into(),
            source,
        })?;
        let (reports, report_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| EngineError::Sys("pipe", e))?;
        let (go, go_end) = UnixStream::pair().map_err(|source| EngineError::Io {
            path: "socketpair".into(),
            source,
        })?;
        let mut cmd = Command::new(exe);
        cmd.arg("monitor").arg(id);
        let handed = [report_end.as_raw_fd(), go_end.as_raw_fd()];
        cmd.env_clear()
            .envs(crate::inherit::monitor_env(std::env::vars_os()))
            .env(SYNC_FD_ENV, handed[0].to_string())
            .env(GO_FD_ENV, handed[1].to_string())
            .env("BERTH_ROOT", &paths.root)
            .env("BERTH_RUNROOT", &paths.runroot)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // Until the go hands it the log (see `await_go`).
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                libc::setsid();
                for fd in handed {
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|source| EngineError::Io {
            path: "berth monitor".into(),
            source,
        })?;
        Ok(Launch {
            id: id.to_string(),
            child: Some(child),
            go: Some(go),
            reports: Some(std::fs::File::from(reports)),
        })
    }

    /// The container this monitor is for.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Hands the monitor the container's lock (it holds it until it is recorded,
    /// see `lock`) and its log as stderr, and tells it whether to wait for an
    /// attaching client before it starts the container. Returns the monitor and
    /// the read end of its reports. A monitor that died meanwhile gets nothing;
    /// its reports (or their absence) tell the caller.
    pub fn go(
        mut self,
        lock: &ContainerLock,
        log: std::fs::File,
        attach: bool,
    ) -> (Child, std::fs::File) {
        if let Some(go) = self.go.take() {
            let fds = [lock.raw_fd(), log.as_raw_fd()];
            let message = if attach { GO_ATTACHED } else { GO_DETACHED };
            let _ = sendmsg::<()>(
                go.as_raw_fd(),
                &[IoSlice::new(message)],
                &[ControlMessage::ScmRights(&fds)],
                MsgFlags::MSG_NOSIGNAL,
                None,
            );
        }
        let child = self.child.take().expect("a launch gives the go once");
        let reports = self.reports.take().expect("a launch gives the go once");
        (child, reports)
    }
}

impl Drop for Launch {
    fn drop(&mut self) {
        // No go: the monitor reads the end of its socket and exits.
        drop(self.go.take());
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

/// The go when a client will attach (the monitor waits for it before it starts
/// the container), and when none will.
const GO_ATTACHED: &[u8; 2] = b"ga";
const GO_DETACHED: &[u8; 2] = b"gd";

/// The monitor's side of the go.
pub enum Go {
    /// Not launched ahead (a restart's exec): the lock, if any, was inherited.
    NotAhead,
    /// The go, with the container's lock and whether a client attaches.
    Proceed { lock: ContainerLock, attach: bool },
    /// The launching command ended without it: exit, touching nothing.
    Abandoned,
}

/// Waits for the go when this monitor was launched ahead; on it, the log it got
/// becomes its stderr.
pub fn await_go() -> Go {
    let Some(fd) = std::env::var(GO_FD_ENV)
        .ok()
        .and_then(|v| v.parse::<RawFd>().ok())
    else {
        return Go::NotAhead;
    };
    // Not for a monitor this one execs later (a restart, see `restart`): that one
    // is started with its lock already in hand.
    // Single-threaded here, so changing the environment is sound.
    std::env::remove_var(GO_FD_ENV);
    // SAFETY: the launching command passed this descriptor for exactly this; nothing
    // else in the monitor owns it.
    let go = unsafe { OwnedFd::from_raw_fd(fd) };
    let Some((attach, [lock, log])) = receive_go(go.as_raw_fd()) else {
        return Go::Abandoned;
    };
    // SAFETY: dup2 onto stderr of a descriptor we own.
    unsafe { libc::dup2(log.as_raw_fd(), libc::STDERR_FILENO) };
    Go::Proceed {
        lock: ContainerLock::from_file(std::fs::File::from(lock)),
        attach,
    }
}

/// The go message: [`GO_ATTACHED`] or [`GO_DETACHED`] and two descriptors (marked
/// close-on-exec on arrival). `None` at end of file or on anything else.
fn receive_go(socket: RawFd) -> Option<(bool, [OwnedFd; 2])> {
    let mut buf = [0u8; 2];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 2]);
    let msg = loop {
        match recvmsg::<()>(
            socket,
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other.ok()?,
        }
    };
    let mut fds = Vec::new();
    for c in msg.cmsgs().ok()? {
        if let ControlMessageOwned::ScmRights(got) = c {
            // SAFETY: the kernel just installed these descriptors for us.
            fds.extend(
                got.into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    let attach = match (msg.bytes, &buf) {
        (2, GO_ATTACHED) => true,
        (2, GO_DETACHED) => false,
        _ => return None,
    };
    Some((attach, fds.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn send(s: &UnixStream, data: &[u8], fds: &[RawFd]) {
        let cmsg = [ControlMessage::ScmRights(fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
        sendmsg::<()>(
            s.as_raw_fd(),
            &[IoSlice::new(data)],
            cmsgs,
            MsgFlags::empty(),
            None,
        )
        .unwrap();
    }

    #[test]
    fn the_go_carries_two_descriptors_that_stay_usable() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let a = std::fs::File::create(dir.path().join("a")).unwrap();
        let b = std::fs::File::create(dir.path().join("b")).unwrap();
        send(&ours, GO_ATTACHED, &[a.as_raw_fd(), b.as_raw_fd()]);
        let (attach, [_, log]) = receive_go(theirs.as_raw_fd()).expect("received");
        assert!(attach);
        std::fs::File::from(log).write_all(b"x").unwrap();
        assert_eq!(std::fs::read(dir.path().join("b")).unwrap(), b"x");
        send(&ours, GO_DETACHED, &[a.as_raw_fd(), b.as_raw_fd()]);
        let (attach, _) = receive_go(theirs.as_raw_fd()).expect("received");
        assert!(!attach);
    }

    #[test]
    fn an_end_of_file_or_a_short_message_is_no_go() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        drop(ours);
        assert!(receive_go(theirs.as_raw_fd()).is_none());
        let (ours, theirs) = UnixStream::pair().unwrap();
        let f = std::fs::File::open("/dev/null").unwrap();
        send(&ours, GO_DETACHED, &[f.as_raw_fd()]);
        assert!(receive_go(theirs.as_raw_fd()).is_none(), "one descriptor");
        let (ours, theirs) = UnixStream::pair().unwrap();
        send(&ours, b"g", &[f.as_raw_fd(), f.as_raw_fd()]);
        assert!(receive_go(theirs.as_raw_fd()).is_none(), "one byte");
        let (ours, theirs) = UnixStream::pair().unwrap();
        send(&ours, b"go", &[f.as_raw_fd(), f.as_raw_fd()]);
        assert!(receive_go(theirs.as_raw_fd()).is_none(), "another message");
    }
}
