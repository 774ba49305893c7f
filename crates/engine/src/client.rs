//! The CLI side of attach: forwards stdin, window size and signals to the monitor,
//! copies the container's output to our stdout/stderr, returns its exit code. Also the
//! terminal helpers (raw mode, window size) shared with `exec -t`.

use crate::attach::{Frame, FrameBuffer};
use crate::{Engine, EngineError};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg, Termios};
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;

/// Puts a terminal in raw mode until dropped.
pub struct RawMode {
    saved: Option<Termios>,
}

impl RawMode {
    pub fn enter(enable: bool) -> Self {
        let stdin = std::io::stdin();
        if !enable || !nix::unistd::isatty(0).unwrap_or(false) {
            return RawMode { saved: None };
        }
        let Ok(saved) = termios::tcgetattr(stdin.as_fd()) else {
            return RawMode { saved: None };
        };
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}

/// Our terminal's size, from whichever standard stream is a terminal.
pub fn window_size() -> Option<(u16, u16)> {
    for fd in [0, 1, 2] {
        let mut ws = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes into the struct we own.
        if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_row > 0 {
            return Some((ws.ws_row, ws.ws_col));
        }
    }
    None
}

/// Signals the CLI forwards (or, for SIGWINCH, turns into resizes).
pub fn proxied_signals(tty: bool) -> Result<SignalFd, EngineError> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGWINCH);
    mask.add(Signal::SIGCHLD);
    if !tty {
        for s in [
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGHUP,
            Signal::SIGQUIT,
            Signal::SIGUSR1,
            Signal::SIGUSR2,
        ] {
            mask.add(s);
        }
    }
    mask.thread_block()
        .map_err(|e| EngineError::Sys("sigprocmask", e))?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| EngineError::Sys("signalfd", e))
}

pub struct AttachOptions {
    pub stdin: bool,
    pub tty: bool,
}

/// Attaches to a running container's monitor; returns the container's exit code.
pub fn attach(engine: &Engine, id: &str, opts: AttachOptions) -> Result<i32, EngineError> {
    let path = engine.paths.attach_socket(id);
    let mut stream = UnixStream::connect(&path).map_err(|source| EngineError::Io {
        path: path.clone(),
        source,
    })?;
    let sigfd = proxied_signals(opts.tty)?;
    let _raw = RawMode::enter(opts.tty && opts.stdin);
    if opts.tty {
        if let Some((rows, cols)) = window_size() {
            let _ = Frame::Resize { rows, cols }.write_to(&mut stream);
        }
    }
    let mut stdin_open = opts.stdin;
    let mut frames = FrameBuffer::default();
    let mut buf = [0u8; 16384];
    let stdin = std::io::stdin();
    loop {
        let mut fds = vec![
            PollFd::new(stream.as_fd(), PollFlags::POLLIN),
            PollFd::new(sigfd.as_fd(), PollFlags::POLLIN),
        ];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(EngineError::Sys("poll", e)),
            Ok(_) => {}
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready.get(2).copied().unwrap_or(false) {
            let n = read_fd(stdin.as_fd(), &mut buf);
            let frame = if n == 0 {
                stdin_open = false;
                Frame::StdinEof
            } else {
                Frame::Stdin(buf[..n].to_vec())
            };
            let _ = frame.write_to(&mut stream);
        }
        if ready[1] {
            forward_signals(&sigfd, &mut stream);
        }
        if ready[0] {
            let n = stream.read(&mut buf).unwrap_or(0);
            if n == 0 {
                return exit_code_after_disconnect(engine, id);
            }
            frames.push(&buf[..n]);
            while let Some(frame) = frames.next_frame().map_err(|source| EngineError::Io {
                path: path.clone(),
                source,
            })? {
                if let Some(code) = show(frame) {
                    return Ok(code);
                }
            }
        }
    }
}

fn read_fd(fd: BorrowedFd, buf: &mut [u8]) -> usize {
    loop {
        match nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&fd), buf) {
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(n) => return n,
            Err(_) => return 0,
        }
    }
}

fn forward_signals(sigfd: &SignalFd, stream: &mut UnixStream) {
    while let Ok(Some(info)) = sigfd.read_signal() {
        let sig = info.ssi_signo as i32;
        let frame = if sig == libc::SIGWINCH {
            match window_size() {
                Some((rows, cols)) => Frame::Resize { rows, cols },
                None => continue,
            }
        } else if sig == libc::SIGCHLD {
            continue;
        } else {
            Frame::Signal(sig)
        };
        let _ = frame.write_to(stream);
    }
}

/// Writes output frames; returns the exit code on an exit frame.
fn show(frame: Frame) -> Option<i32> {
    match frame {
        Frame::Stdout(d) => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&d);
            let _ = out.flush();
        }
        Frame::Stderr(d) => {
            let _ = std::io::stderr().write_all(&d);
        }
        Frame::Error(m) => eprintln!("berth: {m}"),
        Frame::Exit(code) => return Some(code),
        _ => {}
    }
    None
}

/// The monitor went away without an exit frame (killed): take what the store says.
fn exit_code_after_disconnect(engine: &Engine, id: &str) -> Result<i32, EngineError> {
    match engine.find(id) {
        Ok(c) => Ok(c.state.exit_code.unwrap_or(255)),
        Err(_) => Ok(255),
    }
}
