//! Asks a system container's systemd for its `SystemState` ("running", "degraded",
//! …) over systemd's private D-Bus socket (`/run/systemd/private`, the one
//! `systemctl` uses as root: peer to peer, no bus daemon, no `Hello`). One
//! `Properties.Get`, a few hundred bytes each way: far cheaper than exec'ing
//! `systemctl` in the container, so `ps` can ask on every call.
//!
//! systemd hangs up on a peer whose pid it cannot see (SO_PEERCRED gives pid 0 for
//! a process outside its pid namespace), so the asking is done by a short-lived
//! process forked into the container's pid namespace, which hands the answer back
//! over a pipe.
//!
//! Hand-written rather than a D-Bus crate: zbus brings an async runtime and dozens
//! of crates, the `dbus` crate needs libdbus; this needs one method call and one
//! string back. The socket is the container's: it is found inside the container's
//! root (openat2 `RESOLVE_IN_ROOT`, so a symlink there cannot point at a host
//! socket), every read is bounded in size and time, and whatever the container
//! answers only sets its own status.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// How long systemd gets to answer; a wedged or hostile container costs `ps` this.
const TIMEOUT: Duration = Duration::from_millis(500);
/// The most of a reply we read (a real one is under 200 bytes).
const MAX_REPLY: u32 = 64 * 1024;
const PRIVATE_SOCKET: &str = "/run/systemd/private";

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("systemd's private socket in {root}: {error}")]
    Socket {
        root: PathBuf,
        error: std::io::Error,
    },
    #[error("talking to systemd: {0}")]
    Io(#[from] std::io::Error),
    #[error("systemd refused the D-Bus authentication: {0:?}")]
    Auth(String),
    #[error("systemd's D-Bus reply is malformed: {0}")]
    Malformed(&'static str),
    #[error("systemd answered with a D-Bus error")]
    ErrorReply,
    #[error("asking from the container's pid namespace: {0}")]
    Asker(String),
}

/// systemd's `SystemState` in the container whose init is `pid` (a host pid).
pub fn system_state(pid: i32) -> Result<String, BusError> {
    Asking::start(pid)?.finish(deadline())
}

/// A question on its way: the forked asker and the pipe it answers on. Start
/// several, then finish each: they wait on their systemds side by side, so `ps`
/// over many system containers takes about as long as over one.
pub struct Asking {
    child: nix::unistd::Pid,
    answer: std::os::fd::OwnedFd,
}

impl Asking {
    pub fn start(pid: i32) -> Result<Asking, BusError> {
        use nix::unistd::{fork, ForkResult};
        let pidns = std::fs::File::open(format!("/proc/{pid}/ns/pid")).map_err(BusError::Io)?;
        let root = PathBuf::from(format!("/proc/{pid}/root"));
        // Opened here, following the magic link (pathrs's own open would not).
        let dir = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open(&root)
            .map_err(|error| BusError::Socket {
                root: root.clone(),
                error,
            })?;
        let dir = pathrs::Root::from_fd(dir);
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(errno)?;
        // SAFETY: the child only makes syscalls, writes to the pipe and _exits; it
        // runs no destructor of ours (the CLI calling this is single-threaded).
        match unsafe { fork() }.map_err(errno)? {
            ForkResult::Child => {
                drop(r);
                let code = in_child(&dir, &root, &pidns, w);
                // SAFETY: leave the forked child without unwinding the caller.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => Ok(Asking { child, answer: r }),
        }
    }

    /// The answer, if it comes before `deadline`; the asker is reaped either way.
    pub fn finish(self, deadline: std::time::Instant) -> Result<String, BusError> {
        let answer = read_answer(self.answer, deadline);
        if answer.is_err() {
            let _ = nix::sys::signal::kill(self.child, nix::sys::signal::Signal::SIGKILL);
        }
        let _ = nix::sys::wait::waitpid(self.child, None);
        answer
    }
}

/// The deadline for answers to questions started now: three socket timeouts
/// (connect, authentication, call).
pub fn deadline() -> std::time::Instant {
    std::time::Instant::now() + TIMEOUT * 3
}

fn errno(e: nix::errno::Errno) -> BusError {
    BusError::Io(e.into())
}

/// In the forked child: joins the container's pid namespace (for the children it
/// makes), forks the asker, waits for it.
fn in_child(
    dir: &pathrs::Root,
    root: &std::path::Path,
    pidns: &std::fs::File,
    w: std::os::fd::OwnedFd,
) -> i32 {
    use nix::unistd::{fork, ForkResult};
    // The asker shows in the container's /proc while it runs, holding the host's
    // root and mounts: not dumpable, so no container process can ptrace it or open
    // its /proc files without CAP_SYS_PTRACE (runc's init does the same).
    // SAFETY: prctl on ourselves; inherited by the fork below.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    if nix::sched::setns(pidns, nix::sched::CloneFlags::CLONE_NEWPID).is_err() {
        return 1;
    }
    // SAFETY: as in `system_state`: syscalls, a pipe write, _exit.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let text = match ask(dir, root) {
                Ok(state) => format!("ok {state}"),
                Err(e) => format!("err {e}"),
            };
            let _ = std::fs::File::from(w).write_all(text.as_bytes());
            // SAFETY: leave without unwinding.
            unsafe { libc::_exit(0) }
        }
        Ok(ForkResult::Parent { child }) => {
            drop(w);
            let _ = nix::sys::wait::waitpid(child, None);
            0
        }
        Err(_) => 1,
    }
}

/// What the asker wrote, by `deadline`.
fn read_answer(r: std::os::fd::OwnedFd, deadline: std::time::Instant) -> Result<String, BusError> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut f = std::fs::File::from(r);
    let mut text = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let ms = PollTimeout::from(left.as_millis().min(10_000) as u16);
        let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLIN)];
        if left.is_zero() || poll(&mut fds, ms).map_err(errno)? == 0 {
            return Err(BusError::Io(std::io::ErrorKind::TimedOut.into()));
        }
        let mut buf = [0u8; 512];
        match f.read(&mut buf)? {
            0 => break,
            n if text.len() + n > 4096 => return Err(BusError::Malformed("answer too long")),
            n => text.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&text).into_owned();
    match text.split_once(' ') {
        Some(("ok", state)) => Ok(state.to_string()),
        Some(("err", why)) => Err(BusError::Asker(why.to_string())),
        _ => Err(BusError::Asker("it ended without an answer".into())),
    }
}

/// The conversation itself, from inside the container's pid namespace.
fn ask(dir: &pathrs::Root, root: &std::path::Path) -> Result<String, BusError> {
    let mut s = connect(dir, root)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    authenticate(&mut s)?;
    s.write_all(&get_property_call(
        "org.freedesktop.systemd1.Manager",
        "SystemState",
    ))?;
    read_string_reply(&mut s)
}

/// Connects to the private socket resolved inside the container's root.
fn connect(dir: &pathrs::Root, root: &std::path::Path) -> Result<UnixStream, BusError> {
    let err = |error: std::io::Error| BusError::Socket {
        root: root.to_path_buf(),
        error,
    };
    let handle = dir
        .resolve_nofollow(PRIVATE_SOCKET)
        .map_err(|e| err(to_io(e)))?;
    // connect(2) through the O_PATH handle's magic link reaches exactly that inode.
    UnixStream::connect(format!("/proc/self/fd/{}", handle.as_fd().as_raw_fd())).map_err(err)
}

fn to_io(e: pathrs::error::Error) -> std::io::Error {
    // The error's text leaves out the OS error; keep it.
    std::io::Error::other(format!("{e}: {:?}", e.kind()))
}

/// SASL EXTERNAL, pipelined as systemctl sends it: no initial response, an empty
/// DATA answer to systemd's empty challenge, and unix fd passing negotiated.
/// systemd says OK to less, but then leaves every call unanswered (seen with
/// systemd 252). It takes the credentials from the socket and accepts root.
fn authenticate(s: &mut UnixStream) -> Result<(), BusError> {
    s.write_all(b"\0AUTH EXTERNAL\r\nDATA\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n")?;
    for _ in 0..4 {
        match read_line(s)? {
            line if line == "AGREE_UNIX_FD" => return Ok(()),
            line if line == "DATA" || line.starts_with("OK ") => {}
            line => return Err(BusError::Auth(line)),
        }
    }
    Err(BusError::Auth("no AGREE_UNIX_FD".into()))
}

/// One line of the authentication exchange, byte by byte (nothing of the binary
/// protocol may be read past it), at most 512 bytes.
fn read_line(s: &mut UnixStream) -> Result<String, BusError> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        if line.len() > 512 {
            return Err(BusError::Malformed("authentication line too long"));
        }
        s.read_exact(&mut b)?;
        line.push(b[0]);
    }
    line.truncate(line.len() - 2);
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// Little-endian D-Bus marshalling of what one call needs.
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn pad(&mut self, to: usize) {
        while !self.0.len().is_multiple_of(to) {
            self.0.push(0);
        }
    }
    fn u32(&mut self, v: u32) {
        self.pad(4);
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn string(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(0);
    }
    fn signature(&mut self, s: &str) {
        self.0.push(s.len() as u8);
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(0);
    }
    /// A header field: (code, variant of a string-like `kind`).
    fn field(&mut self, code: u8, kind: &str, value: &str) {
        self.pad(8);
        self.0.push(code);
        self.signature(kind);
        match kind {
            "g" => self.signature(value),
            _ => self.string(value),
        }
    }
}

/// `org.freedesktop.DBus.Properties.Get(interface, property)` on systemd's manager.
fn get_property_call(interface: &str, property: &str) -> Vec<u8> {
    let mut body = Writer::default();
    body.string(interface);
    body.string(property);
    let mut fields = Writer::default();
    fields.field(1, "o", "/org/freedesktop/systemd1");
    fields.field(2, "s", "org.freedesktop.DBus.Properties");
    fields.field(3, "s", "Get");
    fields.field(6, "s", "org.freedesktop.systemd1");
    fields.field(8, "g", "ss");
    // Little-endian, method call, flags, version 1. systemd left the call without
    // an answer until the flag ALLOW_INTERACTIVE_AUTHORIZATION (4) was set, as
    // systemctl sets it.
    let mut m = Writer(vec![b'l', 1, 4, 1]);
    m.u32(body.0.len() as u32);
    m.u32(1); // serial
    m.u32(fields.0.len() as u32);
    m.0.extend_from_slice(&fields.0);
    m.pad(8);
    m.0.extend_from_slice(&body.0);
    m.0
}

/// Reads messages until the reply to our call; its body as a string variant.
fn read_string_reply(s: &mut UnixStream) -> Result<String, BusError> {
    // systemd may send signals first; skip a few messages that are not our reply.
    for _ in 0..16 {
        let mut fixed = [0u8; 16];
        s.read_exact(&mut fixed)?;
        let le = match fixed[0] {
            b'l' => true,
            b'B' => false,
            _ => return Err(BusError::Malformed("unknown byte order")),
        };
        let num = |b: &[u8]| {
            let a = [b[0], b[1], b[2], b[3]];
            if le {
                u32::from_le_bytes(a)
            } else {
                u32::from_be_bytes(a)
            }
        };
        let body_len = num(&fixed[4..8]);
        let fields_len = num(&fixed[12..16]);
        if body_len > MAX_REPLY || fields_len > MAX_REPLY {
            return Err(BusError::Malformed("message too large"));
        }
        let fields_padded = (fields_len as usize).div_ceil(8) * 8;
        let mut rest = vec![0u8; fields_padded + body_len as usize];
        s.read_exact(&mut rest)?;
        match fixed[1] {
            2 => return string_variant(&rest[fields_padded..], le),
            3 => return Err(BusError::ErrorReply),
            _ => continue,
        }
    }
    Err(BusError::Malformed("no reply among the first messages"))
}

/// A body holding one variant whose signature is `s`: the string.
fn string_variant(body: &[u8], le: bool) -> Result<String, BusError> {
    let short = BusError::Malformed("reply body too short");
    let sig_len = *body.first().ok_or(short)? as usize;
    if body.get(1..1 + sig_len) != Some(b"s".as_slice()) {
        return Err(BusError::Malformed("the property is not a string"));
    }
    let at = (1 + sig_len + 1).div_ceil(4) * 4;
    let len = body
        .get(at..at + 4)
        .ok_or(BusError::Malformed("reply body too short"))?;
    let len = [len[0], len[1], len[2], len[3]];
    let len = if le {
        u32::from_le_bytes(len)
    } else {
        u32::from_be_bytes(len)
    } as usize;
    let text = body
        .get(at + 4..at + 4 + len)
        .ok_or(BusError::Malformed("string runs past the body"))?;
    Ok(String::from_utf8_lossy(text).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_is_marshalled_as_dbus_wants() {
        let m = get_property_call("org.freedesktop.systemd1.Manager", "SystemState");
        assert_eq!(&m[..4], &[b'l', 1, 4, 1]);
        let body_len = u32::from_le_bytes(m[4..8].try_into().unwrap()) as usize;
        let fields_len = u32::from_le_bytes(m[12..16].try_into().unwrap()) as usize;
        let body_at = (16 + fields_len).div_ceil(8) * 8;
        assert_eq!(m.len(), body_at + body_len);
        // Body: two strings, each length-prefixed and NUL-terminated.
        let body = &m[body_at..];
        assert_eq!(u32::from_le_bytes(body[..4].try_into().unwrap()), 32);
        assert_eq!(&body[4..36], b"org.freedesktop.systemd1.Manager");
        assert_eq!(body[36], 0);
        assert_eq!(&body[40..44], &11u32.to_le_bytes());
        assert_eq!(&body[44..55], b"SystemState");
        // The first header field is the object path, an 'o' variant.
        assert_eq!(&m[16..20], &[1, 1, b'o', 0]);
        let fields = String::from_utf8_lossy(&m[16..16 + fields_len]);
        for part in ["/org/freedesktop/systemd1", "Properties", "Get", "ss"] {
            assert!(fields.contains(part), "{part}");
        }
    }

    fn reply_body(le: bool, value: &str) -> Vec<u8> {
        let mut b = vec![1, b's', 0, 0];
        let len = value.len() as u32;
        b.extend_from_slice(&if le {
            len.to_le_bytes()
        } else {
            len.to_be_bytes()
        });
        b.extend_from_slice(value.as_bytes());
        b.push(0);
        b
    }

    #[test]
    fn reads_a_string_variant_and_refuses_garbage() {
        assert_eq!(
            string_variant(&reply_body(true, "degraded"), true).unwrap(),
            "degraded"
        );
        assert_eq!(
            string_variant(&reply_body(false, "running"), false).unwrap(),
            "running"
        );
        assert!(string_variant(&[], true).is_err());
        assert!(string_variant(&[1, b'u', 0, 0, 1, 0, 0, 0], true).is_err());
        let mut long = reply_body(true, "running");
        long[4] = 0xff;
        assert!(
            string_variant(&long, true).is_err(),
            "a length past the end"
        );
    }
}
