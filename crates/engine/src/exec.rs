//! `berth exec`: runs a process inside a running container. The CLI process makes
//! itself a child subreaper and reaps the process it started; `-d` forks a detached
//! helper that does the same. `-t` receives a pty master over a console socket;
//! without `-t` the process gets pipes that berth relays (`exec_relay`).

use crate::client::{proxied_signals, window_size, RawMode};
use crate::exec_relay;
use crate::model::Container;
use crate::oci;
use crate::spawn::dev_null;
use crate::users::resolve_user;
use crate::{Engine, EngineError};
use berth_runtime::console::ConsoleSocket;
use berth_runtime::{ExecRequest, Stdio};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    pub detach: bool,
    pub privileged: bool,
}

pub fn exec(engine: &Engine, c: &Container, opts: &ExecOptions) -> Result<i32, EngineError> {
    if !c.is_running() {
        return Err(EngineError::NotRunning(c.name.clone()));
    }
    if opts.args.is_empty() {
        return Err(EngineError::Invalid("exec needs a command to run".into()));
    }
    crate::usecase::refuse_if_paused(c)?;
    // Racing a booting systemd gives "Failed to connect to bus"; wait for it instead.
    if c.spec.systemd && c.state.boot == Some(crate::model::BootState::Starting) {
        let timeout = std::env::var("BERTH_EXEC_READY_TIMEOUT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(30);
        if let Err(e) =
            crate::lifecycle::wait_ready(engine, &c.id, std::time::Duration::from_secs(timeout))
        {
            if !engine.find(&c.id).map(|c| c.is_running()).unwrap_or(false) {
                return Err(e);
            }
            eprintln!("berth: warning: {} has not finished booting after {timeout}s; running the command anyway", c.name);
        }
    }
    // Until the runtime has the new process in the container (see
    // `lock::lock_shared_apart`); the container may have stopped while we waited.
    let container_dir = engine.paths.container_dir(&c.id);
    let entering = crate::lock::lock_shared_apart(&c.id, &container_dir)?;
    if !engine.container(&c.id)?.is_running() {
        return Err(EngineError::NotRunning(c.name.clone()));
    }
    let process_json = write_process(engine, c, opts)?;
    crate::events::container(
        &engine.paths.root,
        c,
        &format!("exec_start: {}", opts.args.join(" ")),
        &[],
    );
    let runtime = engine.runtime(&c.spec.runtime)?;
    // SAFETY: prctl on ourselves.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let result = if opts.detach {
        exec_detached(&*runtime, c, &process_json, entering, &container_dir)
    } else if opts.tty {
        exec_tty(&*runtime, c, &process_json, opts.interactive, entering)
    } else {
        // Pipes, never our own descriptors: see exec_relay.
        let (stdio, relay) = exec_relay::pipes(opts.interactive)?;
        let pid = runtime.exec(request(c, &process_json, None, stdio));
        drop(entering);
        relay.run(pid?)
    };
    let _ = std::fs::remove_file(&process_json);
    if result.is_err() {
        // The runtime's helper processes may still be on their way (and make the
        // container's cgroup again when they join it): let them finish first.
        reap_children(std::time::Duration::from_secs(5));
        crate::lifecycle::sweep_after_failed_exec(engine, c);
    }
    result
}

fn write_process(
    engine: &Engine,
    c: &Container,
    opts: &ExecOptions,
) -> Result<std::path::PathBuf, EngineError> {
    let rootfs = crate::bundle::host_view(engine, c);
    let mut user = resolve_user(&rootfs, opts.user.as_deref().unwrap_or(&c.spec.user))?;
    crate::hostresolve::add_groups(&rootfs, &c.spec.host_config, &mut user)?;
    let mut env = oci::container_env(&c.spec, &user);
    oci::override_env(&mut env, &opts.env);
    if c.spec.systemd {
        // What the container's PID 1 sees, so tools inside detect the container.
        env.push("container=berth".into());
        env.push(format!(
            "container_uuid={}",
            crate::oci::systemd::container_uuid(&c.id)
        ));
    }
    if opts.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    let mut spec = c.spec.clone();
    spec.privileged |= opts.privileged;
    let cwd = opts
        .workdir
        .clone()
        .unwrap_or_else(|| c.spec.workdir.clone());
    let caps = oci::container_caps(&spec)?;
    let process = oci::process(&spec, &user, &opts.args, &env, &cwd, opts.tty, &caps)?;
    let dir = engine.paths.run_dir(&c.id);
    let path = dir.join(format!(
        "exec-{}.json",
        hex::encode(crate::create::random_bytes::<6>())
    ));
    std::fs::write(&path, process.to_string()).map_err(|source| EngineError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Waits for a child and converts its status the shell way.
pub fn wait_exit(pid: i32) -> i32 {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            Err(nix::errno::Errno::EINTR) | Ok(_) => continue,
            Err(_) => return 255,
        }
    }
}

fn exec_detached(
    runtime: &dyn berth_runtime::Runtime,
    c: &Container,
    process_json: &std::path::Path,
    entering: crate::lock::HeldApart,
    container_dir: &std::path::Path,
) -> Result<i32, EngineError> {
    // The helper owns a copy of the process file; ours is removed by the caller.
    let copy = process_json.with_extension("detached.json");
    std::fs::copy(process_json, &copy).map_err(|source| EngineError::Io {
        path: copy.clone(),
        source,
    })?;
    // Closed by the helper once it let go of our stdio: `exec -d` returns only then,
    // so nothing of the caller's is held after it (not even for a moment).
    let (detached_r, detached_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| EngineError::Sys("pipe", e))?;
    // SAFETY: the CLI is single-threaded here; the child only execs the runtime and waits.
    match unsafe { nix::unistd::fork() }.map_err(|e| EngineError::Sys("fork", e))? {
        nix::unistd::ForkResult::Parent { .. } => {
            drop(detached_w);
            let mut buf = [0u8; 1];
            while let Err(nix::errno::Errno::EINTR) =
                nix::unistd::read(detached_r.as_raw_fd(), &mut buf)
            {}
            drop(entering);
            Ok(0)
        }
        nix::unistd::ForkResult::Child => {
            drop(detached_r);
            entering.forget_in_child();
            let _ = nix::unistd::setsid();
            // The helper outlives this command: it must not hold the caller's
            // terminal (or an ssh session's pipes) open.
            if let Ok(null) = dev_null() {
                for fd in 0..3 {
                    let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
                }
            }
            // The helper's own hold on the lock, taken before the caller lets go
            // of its own (once it sees `detached_w` closed, as it returns) and
            // ended once the process is in.
            let held = crate::lock::lock_shared_apart(&c.id, container_dir);
            drop(detached_w);
            let stdio = Stdio {
                stdin: dev_null().ok(),
                stdout: dev_null().ok(),
                stderr: dev_null().ok(),
            };
            let started = held
                .as_ref()
                .ok()
                .map(|_| runtime.exec(request(c, &copy, None, stdio)));
            drop(held);
            let code = match started {
                Some(Ok(pid)) => {
                    let _ = std::fs::remove_file(&copy);
                    wait_exit(pid)
                }
                _ => 126,
            };
            let _ = std::fs::remove_file(&copy);
            std::process::exit(code)
        }
    }
}

fn exec_tty(
    runtime: &dyn berth_runtime::Runtime,
    c: &Container,
    process_json: &std::path::Path,
    interactive: bool,
    entering: crate::lock::HeldApart,
) -> Result<i32, EngineError> {
    let sock_path = process_json.with_extension("sock");
    let sock = ConsoleSocket::bind(&sock_path)?;
    let pid = runtime.exec(request(
        c,
        process_json,
        Some(sock.path()),
        Stdio::default(),
    ));
    drop(entering);
    let pid = pid?;
    let master = sock.receive_master()?;
    drop(sock);
    proxy_pty(&master, pid, interactive)
}

/// Copies between our terminal and the pty master until the process exits.
fn proxy_pty(master: &OwnedFd, pid: i32, interactive: bool) -> Result<i32, EngineError> {
    let sigfd = proxied_signals(true)?;
    let _raw = RawMode::enter(interactive);
    let resize = || {
        if let Some((rows, cols)) = window_size() {
            let ws = libc::winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            // SAFETY: TIOCSWINSZ on the master we hold.
            unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        }
    };
    resize();
    let stdin = std::io::stdin();
    let mut stdin_open = interactive;
    let mut buf = [0u8; 16384];
    let mut exit: Option<i32> = None;
    loop {
        let mut fds = vec![
            PollFd::new(master.as_fd(), PollFlags::POLLIN),
            PollFd::new(sigfd.as_fd(), PollFlags::POLLIN),
        ];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        let timeout = if exit.is_some() {
            PollTimeout::from(50u16)
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(EngineError::Sys("poll", e)),
            Ok(0) => return Ok(exit.unwrap_or(255)),
            Ok(_) => {}
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            match nix::unistd::read(master.as_raw_fd(), &mut buf) {
                Ok(n) if n > 0 => write_stdout(&buf[..n]),
                Err(nix::errno::Errno::EINTR) => {}
                _ => return Ok(exit.unwrap_or_else(|| wait_exit(pid))),
            }
        }
        if ready[1] {
            while let Ok(Some(info)) = sigfd.read_signal() {
                if info.ssi_signo as i32 == libc::SIGWINCH {
                    resize();
                }
            }
            if exit.is_none() {
                if let Ok(WaitStatus::Exited(_, code)) =
                    waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG))
                {
                    exit = Some(code);
                } else if let Ok(WaitStatus::Signaled(_, sig, _)) =
                    waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG))
                {
                    exit = Some(128 + sig as i32);
                }
            }
        }
        if ready.get(2).copied().unwrap_or(false) {
            match nix::unistd::read(stdin.as_raw_fd(), &mut buf) {
                Ok(n) if n > 0 => {
                    let _ = nix::unistd::write(master.as_fd(), &buf[..n]);
                }
                _ => stdin_open = false,
            }
        }
    }
}

fn write_stdout(data: &[u8]) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(data);
    let _ = out.flush();
}

/// Runs a command in the container and returns (exit code, stdout). For berth's own
/// questions to a container (doctor asking systemd about failed units).
pub fn exec_capture(
    engine: &Engine,
    c: &Container,
    args: &[&str],
) -> Result<(i32, String), EngineError> {
    use std::io::Read;
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let (pid, r) = spawn_piped(engine, c, &args, false)?;
    let mut out = String::new();
    let _ = std::fs::File::from(r).read_to_string(&mut out);
    Ok((wait_exit(pid), out))
}

/// Runs a healthcheck's command in the container: (exit code, its stdout and
/// stderr as one text, at most `limit` bytes kept), or `None` when it did not end
/// within `timeout` (it is killed then, as docker kills a check that times out).
pub fn exec_probe(
    engine: &Engine,
    c: &Container,
    args: &[String],
    timeout: std::time::Duration,
    limit: usize,
) -> Result<Option<(i32, String)>, EngineError> {
    let (pid, r) = spawn_piped(engine, c, args, true)?;
    let mut out = Vec::new();
    let code = probe_output(pid, r, timeout, limit, &mut out);
    Ok(code.map(|code| (code, String::from_utf8_lossy(&out).into_owned())))
}

/// Starts `args` in the container with no input and its stdout (and stderr, when
/// `with_stderr`) into a pipe, as a child of this process (a subreaper, so the
/// caller can wait for it): its pid and the pipe's read end.
fn spawn_piped(
    engine: &Engine,
    c: &Container,
    args: &[String],
    with_stderr: bool,
) -> Result<(i32, std::os::fd::OwnedFd), EngineError> {
    let opts = ExecOptions {
        args: args.to_vec(),
        ..Default::default()
    };
    let process_json = write_process(engine, c, &opts)?;
    let runtime = engine.runtime(&c.spec.runtime)?;
    // SAFETY: prctl on ourselves.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| EngineError::Sys("pipe", e))?;
    let stderr = match with_stderr {
        true => w.try_clone().map_err(|source| EngineError::Io {
            path: "pipe".into(),
            source,
        })?,
        false => dev_null()?,
    };
    let stdio = Stdio {
        stdin: Some(dev_null()?),
        stdout: Some(w),
        stderr: Some(stderr),
    };
    let pid = runtime.exec(request(c, &process_json, None, stdio));
    let _ = std::fs::remove_file(&process_json);
    Ok((pid?, r))
}

/// Reads a probe's output until it exits (what it left running may keep the pipe
/// open: its exit ends the reading) or the time is up (it is killed).
fn probe_output(
    pid: i32,
    r: std::os::fd::OwnedFd,
    timeout: std::time::Duration,
    limit: usize,
    out: &mut Vec<u8>,
) -> Option<i32> {
    crate::spawn::set_nonblocking(r.as_raw_fd());
    let deadline = std::time::Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    let mut read_all = |out: &mut Vec<u8>| {
        while let Ok(n) = nix::unistd::read(r.as_raw_fd(), &mut buf) {
            if n == 0 {
                break;
            }
            let room = limit.saturating_sub(out.len());
            out.extend_from_slice(&buf[..n.min(room)]);
        }
    };
    loop {
        match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => {
                read_all(out);
                return Some(code);
            }
            Ok(WaitStatus::Signaled(_, sig, _)) => {
                read_all(out);
                return Some(128 + sig as i32);
            }
            Err(e) if e != nix::errno::Errno::EINTR => return Some(255),
            _ => {}
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid), None);
            return None;
        }
        let wait = left.min(std::time::Duration::from_millis(50)).as_millis() as u16;
        let mut fds = [PollFd::new(r.as_fd(), PollFlags::POLLIN)];
        if let Ok(n) = poll(&mut fds, PollTimeout::from(wait)) {
            if n > 0 {
                read_all(out);
            }
        }
    }
}

/// What the runtime needs to start a process in `c`.
fn request<'a>(
    c: &'a Container,
    process_json: &'a std::path::Path,
    console_socket: Option<&'a std::path::Path>,
    stdio: Stdio,
) -> ExecRequest<'a> {
    ExecRequest {
        id: &c.id,
        process_json,
        console_socket,
        stdio,
        sub_cgroup: exec_cgroup(c),
    }
}

/// The sub-cgroup an exec joins: on cgroup v2, the one the container's PID 1 is in
/// when that is not the container's root (systemd moves itself to init.scope and the
/// root then may hold no processes). Elsewhere the container's root cgroup.
fn exec_cgroup(c: &Container) -> Option<String> {
    if !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return None;
    }
    let pid = c.state.init?.pid;
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    // A system container's processes run in a subgroup of its cgroup (see cgroups).
    sub_cgroup_of(
        &own,
        &crate::cgroups::current_runtime_path(&c.id, c.spec.systemd),
    )
}

/// From a /proc/PID/cgroup text on a unified host: the path below the container's
/// cgroup as the runtime knows it (`root`, its cgroupsPath), if any.
fn sub_cgroup_of(proc_cgroup: &str, root: &str) -> Option<String> {
    let path = proc_cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let sub = path.strip_prefix(root)?.trim_start_matches('/');
    (!sub.is_empty()).then(|| sub.to_string())
}

/// Reaps our children (and, as a subreaper, their orphaned children) until none
/// is left or `limit` has passed.
fn reap_children(limit: std::time::Duration) {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        match waitpid(nix::unistd::Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => std::thread::sleep(std::time::Duration::from_millis(5)),
            Ok(_) => {}
            Err(_) => return, // ECHILD: none left
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_joins_where_pid1_lives_on_unified_hosts() {
        assert_eq!(
            sub_cgroup_of("0::/berth/abc/init.scope\n", "/berth/abc").as_deref(),
            Some("init.scope")
        );
        assert_eq!(
            sub_cgroup_of(
                "0::/berth/abc/container/init.scope\n",
                "/berth/abc/container"
            )
            .as_deref(),
            Some("init.scope"),
            "a system container's cgroup is its subgroup"
        );
        assert_eq!(sub_cgroup_of("0::/berth/abc\n", "/berth/abc"), None);
        assert_eq!(sub_cgroup_of("0::/system.slice/x\n", "/berth/abc"), None);
        assert_eq!(
            sub_cgroup_of("1:name=systemd:/berth/abc/init.scope\n", "/berth/abc"),
            None,
            "v1 lines are not unified"
        );
    }
}
