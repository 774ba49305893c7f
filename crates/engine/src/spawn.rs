//! Creating the container's process for the monitor: its standard streams (pipes,
//! or a pty received over a console socket), and — for systemd containers on hosts
//! with a `name=systemd` hierarchy — a short-lived creator child that is born in the
//! container's own `name=systemd` cgroup, so the container's cgroup namespace roots
//! there. The creator exits once the container exists; its init is then reparented
//! to the monitor, which is a child subreaper.

use crate::model::Container;
use crate::{cgroups, Engine, EngineError};
use berth_runtime::console::ConsoleSocket;
use berth_runtime::{CreateRequest, Runtime, Stdio};
use std::io::{BufRead, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

/// What the container's output and input are attached to. With a terminal the pty
/// master is both the only output and the input.
pub struct Io {
    pub outputs: Vec<(Option<std::fs::File>, &'static str)>,
    pub pty_master: Option<RawFd>,
    pub stdin: Option<std::fs::File>,
    /// Our own handle on the pty's slave side. systemd closes and reopens
    /// /dev/console all the time; without a handle of ours, the master would see
    /// end-of-file whenever nobody happens to hold the console, and the console
    /// would be lost for good.
    pub pty_peer: Option<OwnedFd>,
}

fn pipe() -> Result<(std::fs::File, OwnedFd), EngineError> {
    let (r, w) = raw_pipe()?;
    Ok((std::fs::File::from(r), w))
}

fn raw_pipe() -> Result<(OwnedFd, OwnedFd), EngineError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| EngineError::Sys("pipe", e))
}

pub fn dev_null() -> Result<OwnedFd, EngineError> {
    Ok(std::fs::File::open("/dev/null")
        .map_err(|source| EngineError::Io {
            path: "/dev/null".into(),
            source,
        })?
        .into())
}

/// Our ends of a process's stdio pipes (see [`stdio_pipes`]).
pub struct PipeEnds {
    /// The writer of its stdin, when it reads one.
    pub stdin: Option<OwnedFd>,
    /// Readers of its stdout and stderr, non-blocking.
    pub outputs: [OwnedFd; 2],
}

/// A process's stdio as pipes, for a container's init (no terminal) and a non-tty
/// `exec` alike: stdin is a pipe when `interactive`, else /dev/null. Returns what the
/// runtime hands the process and the ends that stay with us.
pub fn stdio_pipes(interactive: bool) -> Result<(Stdio, PipeEnds), EngineError> {
    let (out_r, out_w) = raw_pipe()?;
    let (err_r, err_w) = raw_pipe()?;
    let (stdin, stdin_w) = if interactive {
        let (r, w) = raw_pipe()?;
        (r, Some(w))
    } else {
        (dev_null()?, None)
    };
    set_nonblocking(out_r.as_raw_fd());
    set_nonblocking(err_r.as_raw_fd());
    let stdio = Stdio {
        stdin: Some(stdin),
        stdout: Some(out_w),
        stderr: Some(err_w),
    };
    let ends = PipeEnds {
        stdin: stdin_w,
        outputs: [out_r, err_r],
    };
    Ok((stdio, ends))
}

pub fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

/// Creates the container (its init waits for start); returns the init pid and the
/// monitor's ends of its streams.
pub fn create_container(
    engine: &Engine,
    runtime: &dyn Runtime,
    c: &Container,
) -> Result<(i32, Io), EngineError> {
    let bundle = engine.paths.container_dir(&c.id);
    let systemd_cgroup = if c.spec.systemd {
        cgroups::systemd_cgroup(&c.id)
    } else {
        None
    };
    let create = |req: CreateRequest| match &systemd_cgroup {
        Some(cg) => create_from_cgroup(runtime, req, cg),
        None => runtime.create(req).map_err(EngineError::from),
    };
    if c.spec.needs_terminal() {
        let sock = ConsoleSocket::bind(&engine.paths.run_dir(&c.id).join("console.sock"))?;
        let req = CreateRequest {
            id: &c.id,
            bundle: &bundle,
            console_socket: Some(sock.path()),
            stdio: Stdio::default(),
        };
        let pid = create(req)?;
        let master = sock.receive_master()?;
        set_nonblocking(master.as_raw_fd());
        let raw = master.as_raw_fd();
        let peer = open_pty_peer(raw);
        let io = Io {
            outputs: vec![(Some(std::fs::File::from(master)), "stdout")],
            pty_master: Some(raw),
            stdin: None,
            pty_peer: peer,
        };
        return Ok((pid, io));
    }
    let (stdio, ends) = stdio_pipes(c.spec.open_stdin)?;
    let pid = create(CreateRequest {
        id: &c.id,
        bundle: &bundle,
        console_socket: None,
        stdio,
    })?;
    let [out_r, err_r] = ends.outputs.map(std::fs::File::from);
    let stdin_keep = ends.stdin.map(std::fs::File::from);
    let io = Io {
        outputs: vec![(Some(out_r), "stdout"), (Some(err_r), "stderr")],
        pty_master: None,
        stdin: stdin_keep,
        pty_peer: None,
    };
    Ok((pid, io))
}

/// Opens the slave side of a pty from its master (TIOCGPTPEER), which works across
/// mount namespaces, unlike opening the slave by name.
fn open_pty_peer(master: RawFd) -> Option<OwnedFd> {
    const TIOCGPTPEER: libc::c_ulong = 0x5441;
    // SAFETY: ioctl on the master we own; on success it returns a new fd we own.
    let fd = unsafe {
        libc::ioctl(
            master,
            TIOCGPTPEER as _,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    // SAFETY: fd is a fresh descriptor from the kernel.
    (fd >= 0).then(|| unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

/// Runs `runtime.create` in a forked child that first moves itself into `cgroup`.
/// The monitor itself never changes cgroup, so it never writes to a cgroup of the
/// host's.
fn create_from_cgroup(
    runtime: &dyn Runtime,
    req: CreateRequest,
    cgroup: &Path,
) -> Result<i32, EngineError> {
    std::fs::create_dir_all(cgroup).map_err(|source| EngineError::Io {
        path: cgroup.to_path_buf(),
        source,
    })?;
    let (mut result_r, result_w) = pipe()?;
    // SAFETY: the monitor is single-threaded; the child only calls the runtime (which
    // forks without exec by design) and exits.
    match unsafe { nix::unistd::fork() }.map_err(|e| EngineError::Sys("fork", e))? {
        nix::unistd::ForkResult::Child => {
            drop(result_r);
            let mut out = std::fs::File::from(result_w);
            let line = match cgroups::enter(cgroup) {
                Err(e) => format!("err 125 entering {}: {e}", cgroup.display()),
                Ok(()) => match runtime.create(req) {
                    Ok(pid) => format!("ok {pid}"),
                    Err(e) => format!("err {} {e}", e.exit_code()),
                },
            };
            let _ = out.write_all(format!("{line}\n").as_bytes());
            drop(out);
            // SAFETY: leave without running the monitor's destructors twice.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(req); // our copies of the container's ends of its streams
            drop(result_w);
            // One line, not to EOF: the container's init inherited the write end and
            // keeps it until it execs.
            let mut line = String::new();
            let _ = std::io::BufReader::new(&mut result_r).read_line(&mut line);
            let line = line.trim_end().to_string();
            let _ = nix::sys::wait::waitpid(child, None);
            match line.split_once(' ') {
                Some(("ok", pid)) => pid
                    .trim()
                    .parse()
                    .map_err(|_| EngineError::Invalid(format!("creator reported {line:?}"))),
                Some(("err", rest)) => {
                    let (code, message) = rest.split_once(' ').unwrap_or(("125", rest));
                    Err(EngineError::StartFailed {
                        code: code.parse().unwrap_or(125),
                        message: message.to_string(),
                    })
                }
                _ => Err(EngineError::Invalid(
                    "the container creator exited without a result".into(),
                )),
            }
        }
    }
}
