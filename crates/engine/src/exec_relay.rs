//! Standard streams of an `exec` without a terminal. The process gets pipes, never the
//! caller's own descriptors: a background child it leaves behind would otherwise keep
//! the caller's terminal and read the admin's keystrokes after `exec` returned. As
//! docker does, berth copies the caller's stdin into the process's stdin pipe (with
//! `-i`; without it the process reads /dev/null) and the process's stdout and stderr
//! pipes to its own stdout and stderr.
//!
//! When the process exits its stdin is closed, and its output is drained until both
//! pipes reach end-of-file or [`DRAIN_GRACE`] has passed (containerd waits 2 s for an
//! exec's output in the same way), so a background child that holds the pipes does
//! not make `exec` hang; what that child writes afterwards goes nowhere.

use crate::spawn::{set_nonblocking, stdio_pipes};
use crate::EngineError;
use berth_runtime::Stdio;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

/// How long output is still copied after the process exited.
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Our ends of the process's pipes.
pub struct Relay {
    /// Write end of the process's stdin, with `-i`, until the caller's stdin ends.
    to_stdin: Option<OwnedFd>,
    /// Read ends of its stdout and stderr, until end-of-file.
    outputs: [Option<OwnedFd>; 2],
    /// Caller input read but not yet taken by the process.
    pending: Vec<u8>,
    reading_caller: bool,
}

#[derive(Clone, Copy)]
enum Ready {
    Output(usize),
    CallerStdin,
    ProcessStdin,
    Signal,
}

/// The process's streams (for the runtime) and our ends of them.
pub fn pipes(interactive: bool) -> Result<(Stdio, Relay), EngineError> {
    let (stdio, ends) = stdio_pipes(interactive)?;
    if let Some(w) = &ends.stdin {
        set_nonblocking(w.as_raw_fd());
    }
    let [out_r, err_r] = ends.outputs;
    let relay = Relay {
        reading_caller: ends.stdin.is_some(),
        to_stdin: ends.stdin,
        outputs: [Some(out_r), Some(err_r)],
        pending: Vec::new(),
    };
    Ok((stdio, relay))
}

impl Relay {
    /// Copies until process `pid` (our child) has exited and its output is drained;
    /// returns its exit code the shell way. Call once the runtime has taken (and
    /// closed) the process's ends of the pipes.
    pub fn run(mut self, pid: i32) -> Result<i32, EngineError> {
        let sigfd = child_exits()?;
        // It may have exited before SIGCHLD was blocked.
        let mut exit = reap(pid);
        let mut deadline: Option<Instant> = None;
        loop {
            if let Some(code) = exit {
                let end = *deadline.get_or_insert_with(|| {
                    self.stop_input();
                    Instant::now() + DRAIN_GRACE
                });
                if self.outputs.iter().all(Option::is_none) || Instant::now() >= end {
                    return Ok(code);
                }
            }
            let timeout = match deadline {
                Some(end) => PollTimeout::try_from(end.saturating_duration_since(Instant::now()))
                    .unwrap_or(PollTimeout::MAX),
                None => PollTimeout::NONE,
            };
            for ready in self.wait(&sigfd, timeout)? {
                match ready {
                    Ready::Output(i) => self.copy_output(i),
                    Ready::CallerStdin => self.read_caller(),
                    Ready::ProcessStdin => self.feed_process(),
                    Ready::Signal => {
                        while let Ok(Some(_)) = sigfd.read_signal() {}
                        if exit.is_none() {
                            exit = reap(pid);
                        }
                    }
                }
            }
        }
    }

    /// Polls what is open; returns what is ready.
    fn wait(&self, sigfd: &SignalFd, timeout: PollTimeout) -> Result<Vec<Ready>, EngineError> {
        let stdin = std::io::stdin();
        let mut kinds = Vec::new();
        let mut fds = Vec::new();
        for (i, out) in self.outputs.iter().enumerate() {
            if let Some(fd) = out {
                kinds.push(Ready::Output(i));
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            }
        }
        if let Some(fd) = &self.to_stdin {
            if !self.pending.is_empty() {
                kinds.push(Ready::ProcessStdin);
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLOUT));
            } else if self.reading_caller {
                kinds.push(Ready::CallerStdin);
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
        }
        kinds.push(Ready::Signal);
        fds.push(PollFd::new(sigfd.as_fd(), PollFlags::POLLIN));
        match poll(&mut fds, timeout) {
            Err(Errno::EINTR) => return Ok(Vec::new()),
            Err(e) => return Err(EngineError::Sys("poll", e)),
            Ok(_) => {}
        }
        Ok(kinds
            .into_iter()
            .zip(&fds)
            .filter(|(_, f)| f.revents().is_some_and(|r| !r.is_empty()))
            .map(|(k, _)| k)
            .collect())
    }

    /// The process is gone: a child it left must not get any more of our input.
    fn stop_input(&mut self) {
        self.to_stdin = None;
        self.pending.clear();
        self.reading_caller = false;
    }

    /// Output `i` (0 stdout, 1 stderr) to our stream of the same kind. At end-of-file,
    /// or when our stream is gone, the pipe is closed (the writer then gets EPIPE).
    fn copy_output(&mut self, i: usize) {
        let Some(fd) = &self.outputs[i] else { return };
        let mut buf = [0u8; 65536];
        let keep = match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
            Ok(0) => false,
            Ok(n) => write_all(i as i32 + 1, &buf[..n]).is_ok(),
            Err(Errno::EAGAIN | Errno::EINTR) => true,
            Err(_) => false,
        };
        if !keep {
            self.outputs[i] = None;
        }
    }

    /// A chunk of the caller's stdin; at its end the process's stdin is closed.
    fn read_caller(&mut self) {
        let mut buf = [0u8; 65536];
        match nix::unistd::read(0, &mut buf) {
            Ok(n) if n > 0 => self.pending.extend_from_slice(&buf[..n]),
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            _ => {
                self.reading_caller = false;
                self.to_stdin = None;
            }
        }
    }

    /// Hands pending input to the process; if it closed its stdin, stops reading ours.
    fn feed_process(&mut self) {
        let Some(fd) = &self.to_stdin else { return };
        match nix::unistd::write(fd, &self.pending) {
            Ok(n) => {
                self.pending.drain(..n);
            }
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            Err(_) => self.stop_input(),
        }
    }
}

/// A signalfd for SIGCHLD. Blocked only now, after the runtime forked: a blocked
/// signal would be inherited by the container's process.
fn child_exits() -> Result<SignalFd, EngineError> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.thread_block()
        .map_err(|e| EngineError::Sys("sigprocmask", e))?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| EngineError::Sys("signalfd", e))
}

/// The exit code of `pid` if it has exited, the shell way.
fn reap(pid: i32) -> Option<i32> {
    match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Some(code),
        Ok(WaitStatus::Signaled(_, sig, _)) => Some(128 + sig as i32),
        Ok(_) | Err(Errno::EINTR) => None,
        // Not our child (any more): there is nothing left to wait for.
        Err(_) => Some(255),
    }
}

/// Writes all of `data` to our descriptor `fd`, waiting if it is non-blocking.
fn write_all(fd: i32, mut data: &[u8]) -> Result<(), Errno> {
    // SAFETY: our stdout or stderr, open for the life of the process.
    let out = unsafe { BorrowedFd::borrow_raw(fd) };
    while !data.is_empty() {
        match nix::unistd::write(out, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let mut fds = [PollFd::new(out, PollFlags::POLLOUT)];
                let _ = poll(&mut fds, PollTimeout::NONE);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
