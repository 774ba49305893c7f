//! The client side of attach: forwards stdin (and, for the CLI, window size and
//! signals) to the monitor, copies the container's output to the caller's writers,
//! returns its exit code. Also the terminal helpers (raw mode, window size) shared
//! with `exec -t`.

use crate::attach::{Frame, FrameBuffer};
use crate::{Engine, EngineError};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg, Termios};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

/// Puts a terminal in raw mode until dropped.
pub struct RawMode {
    saved: Option<(OwnedFd, Termios)>,
}

impl RawMode {
    /// Our own stdin in raw mode, when `enable` and it is a terminal.
    pub fn enter(enable: bool) -> Self {
        Self::enter_on(std::io::stdin().as_fd(), enable)
    }

    /// `fd` in raw mode, when `enable` and it is a terminal.
    pub fn enter_on(fd: BorrowedFd, enable: bool) -> Self {
        let none = RawMode { saved: None };
        if !enable || !nix::unistd::isatty(fd.as_raw_fd()).unwrap_or(false) {
            return none;
        }
        let Ok(saved) = termios::tcgetattr(fd) else {
            return none;
        };
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(fd, SetArg::TCSANOW, &raw);
        let fd = fd.try_clone_to_owned().ok();
        RawMode {
            saved: fd.map(|fd| (fd, saved)),
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some((fd, saved)) = &self.saved {
            let _ = termios::tcsetattr(fd.as_fd(), SetArg::TCSANOW, saved);
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

/// Where an attached container's streams go. The CLI passes its own stdin, stdout
/// and stderr with `forward_signals`; a library caller (the builder) passes its own
/// sinks and usually no stdin.
pub struct AttachStreams<'a> {
    /// Copied to the container's stdin until it ends; used only when the container
    /// keeps stdin open (`-i`).
    pub stdin: Option<BorrowedFd<'a>>,
    pub stdout: &'a mut dyn Write,
    pub stderr: &'a mut dyn Write,
    /// The caller's own session, as `docker run` treats it: SIGINT, SIGTERM, … are
    /// forwarded to the container and window size changes resize its terminal.
    /// Blocks those signals for the calling thread while attached.
    pub forward_signals: bool,
    /// With a terminal: the key sequence that detaches (`--detach-keys`), leaving
    /// the container running.
    pub detach_keys: Option<Vec<u8>>,
}

/// Attaches to a running container's monitor; returns the container's exit code.
/// With a terminal (`tty`) and a terminal on `stdin`, that terminal is raw meanwhile.
pub fn attach(
    engine: &Engine,
    id: &str,
    tty: bool,
    streams: AttachStreams,
) -> Result<i32, EngineError> {
    let path = engine.paths.attach_socket(id);
    let stream = UnixStream::connect(&path).map_err(|source| EngineError::Io {
        path: path.clone(),
        source,
    })?;
    match relay(stream, tty, streams).map_err(|source| EngineError::Io { path, source })? {
        Some(code) => Ok(code),
        None => exit_code_after_disconnect(engine, id),
    }
}

/// Copies between the caller's streams and the monitor's socket until an exit frame
/// (its code) or the monitor hangs up (`None`).
fn relay(
    mut stream: UnixStream,
    tty: bool,
    streams: AttachStreams,
) -> std::io::Result<Option<i32>> {
    let AttachStreams {
        stdin,
        stdout,
        stderr,
        forward_signals,
        detach_keys,
    } = streams;
    let mut detach = detach_keys
        .filter(|k| tty && !k.is_empty() && stdin.is_some())
        .map(crate::detachkeys::DetachFilter::new);
    let sigfd = match forward_signals {
        true => Some(proxied_signals(tty).map_err(std::io::Error::other)?),
        false => None,
    };
    let _raw = stdin.map(|fd| RawMode::enter_on(fd, tty));
    if tty && forward_signals {
        if let Some((rows, cols)) = window_size() {
            let _ = Frame::Resize { rows, cols }.write_to(&mut stream);
        }
    }
    let mut stdin = stdin;
    let mut frames = FrameBuffer::default();
    let mut buf = [0u8; 16384];
    loop {
        let mut fds = vec![PollFd::new(stream.as_fd(), PollFlags::POLLIN)];
        if let Some(s) = &sigfd {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
        }
        let stdin_at = fds.len();
        if let Some(fd) = stdin {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if let Some(fd) = stdin.filter(|_| ready.get(stdin_at).copied().unwrap_or(false)) {
            let n = read_fd(fd, &mut buf);
            let frame = if n == 0 {
                stdin = None;
                Frame::StdinEof
            } else {
                use crate::detachkeys::Filtered;
                match detach.as_mut().map(|d| d.feed(&buf[..n])) {
                    None => Frame::Stdin(buf[..n].to_vec()),
                    Some(Filtered::Forward(data)) => Frame::Stdin(data),
                    Some(Filtered::Detach(before)) => {
                        let _ = Frame::Stdin(before).write_to(&mut stream);
                        // Hanging up without StdinEof leaves the container and its
                        // terminal as they are (docker prints the same notice).
                        let _ = writeln!(stderr, "\r\nread escape sequence\r");
                        return Ok(Some(0));
                    }
                }
            };
            let _ = frame.write_to(&mut stream);
        }
        if let Some(s) = sigfd.as_ref().filter(|_| ready[1]) {
            forward_signals_to(s, &mut stream);
        }
        if ready[0] {
            let n = stream.read(&mut buf).unwrap_or(0);
            if n == 0 {
                return Ok(None);
            }
            frames.push(&buf[..n]);
            while let Some(frame) = frames.next_frame()? {
                match show(frame, stdout, stderr) {
                    Shown::Written => {}
                    Shown::Exit(code) => return Ok(Some(code)),
                    Shown::ReaderGone => return Ok(Some(READER_GONE)),
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

fn forward_signals_to(sigfd: &SignalFd, stream: &mut UnixStream) {
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

/// What the attached CLI returns when its own output's reader went away
/// (`berth attach c | head -1`): it detaches, and says so as a shell reports a
/// writer killed by SIGPIPE, which is how docker's CLI ends there. The container
/// keeps running.
pub const READER_GONE: i32 = 128 + libc::SIGPIPE;

enum Shown {
    Written,
    Exit(i32),
    /// Writing the container's output failed: nobody reads it any more.
    ReaderGone,
}

/// Writes output frames; the exit code on an exit frame.
fn show(frame: Frame, stdout: &mut dyn Write, stderr: &mut dyn Write) -> Shown {
    let written = match frame {
        Frame::Stdout(d) => stdout.write_all(&d).and_then(|()| stdout.flush()),
        Frame::Stderr(d) => stderr.write_all(&d).and_then(|()| stderr.flush()),
        Frame::Error(m) => {
            let _ = writeln!(stderr, "berth: {m}");
            Ok(())
        }
        Frame::Exit(code) => return Shown::Exit(code),
        _ => Ok(()),
    };
    match written {
        Ok(()) => Shown::Written,
        Err(_) => Shown::ReaderGone,
    }
}

/// The monitor went away without an exit frame (killed): take what the store says.
fn exit_code_after_disconnect(engine: &Engine, id: &str) -> Result<i32, EngineError> {
    match engine.find(id) {
        Ok(c) => Ok(c.state.exit_code.unwrap_or(255)),
        Err(_) => Ok(255),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A monitor's side of the socket: what it sends, and what it received.
    fn with_monitor(
        send: Vec<Frame>,
        stdin: Option<BorrowedFd>,
    ) -> (Option<i32>, Vec<u8>, Vec<u8>, Vec<Frame>) {
        let (client, mut monitor) = UnixStream::pair().unwrap();
        let wait_for_eof = stdin.is_some();
        let sender = std::thread::spawn(move || {
            for f in send {
                f.write_to(&mut monitor).unwrap();
            }
            // Hang up only after the client's stdin has ended, as a container would.
            let mut got = Vec::new();
            while wait_for_eof && got.last() != Some(&Frame::StdinEof) {
                got.push(Frame::read_from(&mut monitor).unwrap().unwrap());
            }
            monitor.shutdown(std::net::Shutdown::Write).unwrap();
            got
        });
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = relay(
            client,
            false,
            AttachStreams {
                stdin,
                stdout: &mut out,
                stderr: &mut err,
                forward_signals: false,
                detach_keys: None,
            },
        )
        .unwrap();
        (code, out, err, sender.join().unwrap())
    }

    #[test]
    fn output_reaches_the_callers_writers_without_a_terminal() {
        let (code, out, err, _) = with_monitor(
            vec![
                Frame::Stdout(b"hello ".to_vec()),
                Frame::Stderr(b"oops".to_vec()),
                Frame::Stdout(b"world".to_vec()),
                Frame::Error("start failed".into()),
                Frame::Exit(3),
            ],
            None,
        );
        assert_eq!(code, Some(3));
        assert_eq!(out, b"hello world");
        assert_eq!(err, b"oopsberth: start failed\n");
    }

    #[test]
    fn a_reader_that_went_away_ends_the_attachment() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (client, mut monitor) = UnixStream::pair().unwrap();
        Frame::Stdout(b"x".to_vec()).write_to(&mut monitor).unwrap();
        // The monitor stays connected: only the failed write can end the relay.
        let (mut out, mut err) = (Closed, Vec::new());
        let streams = AttachStreams {
            stdin: None,
            stdout: &mut out,
            stderr: &mut err,
            forward_signals: false,
            detach_keys: None,
        };
        assert_eq!(relay(client, false, streams).unwrap(), Some(READER_GONE));
        drop(monitor);
    }

    #[test]
    fn a_hang_up_without_exit_frame_is_reported() {
        let (code, out, _, _) = with_monitor(vec![Frame::Stdout(b"x".to_vec())], None);
        assert_eq!((code, out), (None, b"x".to_vec()));
    }

    #[test]
    fn given_stdin_is_forwarded_then_closed() {
        let (r, w) = nix::unistd::pipe().unwrap();
        nix::unistd::write(&w, b"input").unwrap();
        drop(w);
        let (_, _, _, got) = with_monitor(vec![], Some(r.as_fd()));
        assert_eq!(got, vec![Frame::Stdin(b"input".to_vec()), Frame::StdinEof]);
    }
}
