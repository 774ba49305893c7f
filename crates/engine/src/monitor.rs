//! `berth monitor <id>`: one per running container. Single-threaded, a child
//! subreaper, no async runtime (libcontainer forks without exec). It prepares the
//! bundle, creates and starts the container through the runtime, holds its stdio or
//! pty master, writes the log, serves the attach socket, and on exit records the exit
//! code, tears everything down and honours `--rm`. With a restart policy that asks
//! for it, it then waits the back-off and executes itself again as a fresh monitor
//! (see `restart`); it runs the healthcheck at each interval (see `health`).
//!
//! The monitor never blocks on anyone: clients and the container's input are
//! written as they take it, with bounded queues (see [`clients`] for what a client
//! that does not keep up loses), so `stop` and `rm -f` are always served.

mod clients;

use crate::attach::Frame;
use crate::logs::LogWriter;
use crate::model::BootState;
use crate::model::{ProcessId, Status};
use crate::notify::NotifySocket;
use crate::spawn::{create_container, Io};
use crate::{bundle, lifecycle, now, Engine, EngineError};
use berth_runtime::Runtime;
use clients::{Client, Encoded, StdinQueue, StdinTarget, StdinWritten};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, RawFd};
use std::os::unix::net::UnixListener;

/// How the monitor reports back to the CLI that spawned it: lines on a pipe.
pub struct SyncPipe(Option<std::fs::File>);

impl SyncPipe {
    pub fn from_env() -> Self {
        let fd = std::env::var(crate::launch::SYNC_FD_ENV)
            .ok()
            .and_then(|v| v.parse::<RawFd>().ok());
        // SAFETY: the spawning CLI passed us this fd for exactly this purpose.
        SyncPipe(fd.map(|fd| unsafe { std::fs::File::from_raw_fd(fd) }))
    }
    fn say(&mut self, line: &str) {
        if let Some(f) = self.0.as_mut() {
            let _ = writeln!(f, "{}", line.replace('\n', " "));
        }
    }
    fn close(&mut self) {
        self.0 = None;
    }
}

/// How long a monitor started for an attached run waits for its client.
const ATTACH_WAIT_MS: u16 = 20_000;

pub fn run(id: &str, wait_attach: bool) -> i32 {
    let mut sync = SyncPipe::from_env();
    match run_inner(id, wait_attach, &mut sync) {
        Ok(()) => 0,
        Err(e) => {
            sync.say(&format!("error {} {e}", e.exit_code()));
            eprintln!("berth monitor {id}: {e}");
            1
        }
    }
}

fn run_inner(id: &str, wait_attach: bool, sync: &mut SyncPipe) -> Result<(), EngineError> {
    // SAFETY: plain prctl on ourselves.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    // First, so the grace period it starts runs beside everything up to the
    // container's creation, the run's own work included. The helper closes what
    // it inherits (a restarted monitor's lock among it).
    let warmup = crate::attach_warmup::AttachWarmup::start(
        &crate::cgroups::CgroupLayout::from_host(),
        &crate::paths::Paths::from_env().runroot,
    );
    // Opened before the go: a monitor launched ahead does this while its
    // container is being created (see `launch`).
    let engine = Engine::open()?;
    // The container's lock, handed on by `start`, is held until this monitor is
    // recorded: from then on a start in progress shows in the state (other
    // commands wait for it, `lifecycle::settled`) and whatever a monitor killed
    // half-way leaves is found and cleaned up (`lifecycle::reconcile`). Closed
    // before anything is forked: a created container's init, waiting to be
    // started, would hold it for as long as it waits (see `lock`).
    // A monitor launched ahead learns with the go whether a client attaches.
    let (handed_lock, wait_attach) = match crate::launch::await_go() {
        crate::launch::Go::Proceed { lock, attach } => (Some(lock), attach),
        crate::launch::Go::NotAhead => (crate::lock::inherited(), wait_attach),
        crate::launch::Go::Abandoned => return Ok(()),
    };
    let container = engine.container(id)?;
    engine.update_state(id, |state| {
        state.monitor = ProcessId::own();
    })?;
    drop(handed_lock);
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.thread_block()
        .map_err(|e| EngineError::Sys("block SIGCHLD", e))?;
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| EngineError::Sys("signalfd", e))?;

    let run_dir = engine.paths.run_dir(id);
    std::fs::create_dir_all(&run_dir).map_err(|source| EngineError::Io {
        path: run_dir.clone(),
        source,
    })?;
    let notify = match container.spec.systemd {
        true => Some(
            NotifySocket::bind(&bundle::notify_socket_path(&engine, id)).map_err(|source| {
                EngineError::Io {
                    path: bundle::notify_socket_path(&engine, id),
                    source,
                }
            })?,
        ),
        false => None,
    };
    let attachments =
        match crate::mountns::enter_private().and_then(|()| bundle::prepare(&engine, &container)) {
            Ok(a) => a,
            Err(e) => {
                record_failure(&engine, id, &e);
                return Err(e);
            }
        };
    let runtime = engine.runtime(&container.spec.runtime)?;
    let plugging = crate::networking::prepare_plugging(&engine, &attachments);
    let created =
        plugging.and_then(|p| Ok((create_in_cgroups(&engine, &*runtime, &container)?, p)));
    // The helper goes before the container can start, and before a failed
    // creation's cleanup removes the cgroups.
    match &created {
        Ok(_) => warmup.created(),
        Err(_) => drop(warmup),
    }
    let created = created.and_then(|((pid, io), plugging)| {
        crate::networking::connect(&engine, &container, &attachments, pid, plugging)?;
        Ok((pid, io))
    });
    let (init_pid, io) = match created {
        Ok(v) => v,
        Err(e) => {
            cleanup(&engine, &*runtime, id);
            record_failure(&engine, id, &e);
            return Err(e);
        }
    };
    let listener = bind_attach(&engine, id)?;
    engine.update_state(id, |state| {
        state.init = ProcessId::of(init_pid);
        state.monitor = ProcessId::own();
        state.error = None;
    })?;

    let mut clients = Vec::new();
    if wait_attach {
        sync.say("created");
        // The attaching CLI connects right away; do not start before it is there, or
        // it would miss the first output.
        // Not for ever: a client killed before it connected would leave the
        // container created, and its start in progress, for good. Without it the
        // container runs detached.
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(ATTACH_WAIT_MS));
        if let Ok((stream, _)) = listener.accept() {
            clients.push(Client::new(stream, true));
        }
    }
    if let Err(e) = runtime.start(id) {
        let e = EngineError::from(e);
        for c in &mut clients {
            c.send_control(&Frame::Error(e.to_string()));
        }
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(init_pid), Signal::SIGKILL);
        let _ = waitpid(nix::unistd::Pid::from_raw(init_pid), None);
        cleanup(&engine, &*runtime, id);
        record_failure(&engine, id, &e);
        return Err(e);
    }
    let started = std::time::Instant::now();
    engine.update_state(id, |state| {
        crate::health::reset(state, container.spec.healthcheck.as_ref());
        state.restart_pending = false;
        state.paused = false;
        state.status = Status::Running;
        state.boot = container.spec.systemd.then_some(BootState::Starting);
        state.boot_status = None;
        state.started_at = Some(now());
        state.finished_at = None;
        state.exit_code = None;
    })?;
    crate::events::container_id(&engine, id, "start", &[]);
    sync.say(&format!("started {init_pid}"));
    sync.close();

    let log_path = engine.paths.log_file(id);
    let mut log =
        LogWriter::for_container(&log_path, &container).map_err(|source| EngineError::Io {
            path: log_path.clone(),
            source,
        })?;
    // Until the container exits the monitor only relays. The loop gives back startup
    // memory once the container has run for a while, not before: a short-lived one
    // would only fault it back. The database goes with that first release (and is
    // reopened for the exit), so a `run --rm` that is over within it records its exit
    // without opening the database again. Not kept where the loop forks children that
    // open it (healthchecks, systemd's readiness probe): SQLite's per-process state
    // must not cross a fork into a process that uses SQLite.
    let engine = (container.spec.healthcheck.is_none() && notify.is_none()).then_some(engine);
    if let Some(stdin) = &io.stdin {
        crate::spawn::set_nonblocking(stdin.as_raw_fd());
    }
    let mut lp = Loop {
        id,
        engine,
        systemd: container.spec.systemd,
        init_pid,
        io,
        log: &mut log,
        clients,
        stdin: StdinQueue::default(),
        exit: None,
        notify,
        health: container
            .spec
            .healthcheck
            .clone()
            .map(|h| crate::health::Probe::new(id, h)),
        memory: crate::memory::IdleMemory::new(),
    };
    let code = lp.run(&listener, &sigfd);
    let mut clients = std::mem::take(&mut lp.clients);
    let kept = lp.engine.take();
    drop(lp);
    drop(listener);

    let engine = match kept {
        Some(engine) => engine,
        None => Engine::open()?,
    };
    // Before the exit is recorded, which `stop` waits for.
    crate::networking::forget_neighbours(&engine, &container);
    // The exit is recorded first, so `stop` and `wait` return as soon as the container
    // is gone; the monitor stays recorded until cleanup is done, and `rm`/`start`
    // wait for it (see lifecycle::wait_monitor_gone).
    let restarting = engine.update_state(id, |st| {
        st.status = Status::Exited;
        st.exit_code = Some(code);
        st.finished_at = Some(now());
        st.init = None;
        // Its addresses are being freed now (released by container id, not from
        // this state): `inspect` after `stop` shows none, as docker's does.
        st.network = None;
        st.connected.clear();
        std::mem::take(&mut st.restarting)
    });
    crate::events::container_id(&engine, id, "die", &[("exitCode", &code.to_string())]);
    let restart_command = matches!(restarting, Ok(true));
    // The rootfs now: a `--rm` container's directory is moved away just below.
    bundle::teardown(&engine, id);
    let networks = crate::networking::release(&engine, &container);
    // Its files are deleted once the attached client has its exit (`Removal`).
    let removal = match container.spec.auto_remove && !restarting.unwrap_or(false) {
        true => lifecycle::remove_files_deferred(&engine, &container, true).ok(),
        false => None,
    };
    // The attached CLI returns now, with ports and address already free; the veth
    // goes behind it, before the monitor drops itself from the state (`rm` and
    // `start` wait for that). Viewers get what their sockets take now; only a
    // foreground client is owed the rest (see `clients`), delivered at its pace
    // once nothing waits for the monitor any more.
    for c in &mut clients {
        c.send_control(&Frame::Exit(code));
    }
    // What else the host holds for it (cgroups, the runtime's state, the run
    // directory) goes behind the attached CLI too: nothing waits on those, and
    // `rm` and `start` wait for this monitor to be gone.
    release_host_state(&engine, &*runtime, id);
    drop(removal);
    clients.retain(Client::owed);
    crate::networking::remove_veths(&engine, &container, &networks);
    let ran_for = started.elapsed();
    // The policy in force now: `update --restart` may have changed it since the start.
    let policy = engine
        .container(id)
        .map_or(container.spec.restart, |c| c.spec.restart);
    let again = engine.update_state(id, |st| {
        st.network = None;
        st.connected.clear();
        // Ends the monitor's record unless the policy restarts the container.
        crate::restart::plan(&policy, st, code, ran_for, restart_command)
    });
    // A restart rejoins the networks: lingering first would add the linger (2 s)
    // to every back-off, and remove a bridge the next run makes again at once.
    // `restart::give_up` removes them when no restart follows after all.
    if !matches!(again, Ok(Some(_))) {
        crate::networking::remove_networks_when_idle(&engine, &networks);
    }
    drop(engine);
    clients::deliver_rest(clients);
    if let Ok(Some(delay)) = again {
        crate::restart::wait_and_restart(id, delay);
    }
    Ok(())
}

/// Creates the container (not started yet) with its cgroups: a system container's
/// limits are put where it cannot reach them (see `cgroups`) before it runs anything.
fn create_in_cgroups(
    engine: &Engine,
    runtime: &dyn Runtime,
    c: &crate::model::Container,
) -> Result<(i32, crate::spawn::Io), EngineError> {
    let layout = crate::cgroups::CgroupLayout::from_host();
    let guard = crate::cgroups::creation_guard(&engine.paths.runroot);
    if c.spec.systemd {
        crate::cgroups::create_unmanaged_v1(&c.id, &layout)?;
    }
    let created = create_container(engine, runtime, c)?;
    drop(guard);
    if layout.uses_subgroup(c.spec.systemd) {
        // On failure the caller's cleanup deletes (and kills) the created container.
        crate::cgroups::hold_limits(&c.id, &crate::oci::cgroup_limits(&c.spec))?;
    }
    Ok(created)
}

fn record_failure(engine: &Engine, id: &str, e: &EngineError) {
    let recorded = engine.update_state(id, |st| {
        let started = st.started_at.is_some();
        st.status = if started {
            Status::Exited
        } else {
            Status::Created
        };
        st.error = Some(e.to_string());
        st.exit_code = Some(if started { 128 } else { 0 });
        // Everything is cleaned up already: nothing for `reconcile` to do.
        st.monitor = None;
        st.init = None;
        st.network = None;
        st.connected.clear();
    });
    if let (Ok(()), Ok(c)) = (recorded, engine.container(id)) {
        if c.spec.auto_remove {
            let _ = lifecycle::remove_files(engine, &c, true);
        }
    }
}

/// Everything a dead container held except its network: the rootfs mount, runtime
/// state, cgroups, the run directory.
fn release_container(engine: &Engine, runtime: &dyn Runtime, id: &str) {
    bundle::teardown(engine, id);
    release_host_state(engine, runtime, id);
}

/// [`release_container`] but the rootfs.
fn release_host_state(engine: &Engine, runtime: &dyn Runtime, id: &str) {
    if let Err(e) = runtime.delete(id, true) {
        eprintln!("berth monitor {id}: runtime delete: {e}");
    }
    // Sub-cgroups systemd made inside, and the name=systemd one the runtime
    // does not know about.
    crate::cgroups::remove_container_cgroups(id);
    let _ = std::fs::remove_dir_all(engine.paths.run_dir(id));
    crate::cgroups::remove_empty_parents(&engine.paths.runroot);
}

fn cleanup(engine: &Engine, runtime: &dyn Runtime, id: &str) {
    release_container(engine, runtime, id);
    if let Ok(c) = engine.container(id) {
        crate::networking::disconnect(engine, &c);
    }
}

fn bind_attach(engine: &Engine, id: &str) -> Result<UnixListener, EngineError> {
    let path = engine.paths.attach_socket(id);
    let _ = std::fs::remove_file(&path);
    let l = UnixListener::bind(&path).map_err(|source| EngineError::Io {
        path: path.clone(),
        source,
    })?;
    l.set_nonblocking(true)
        .map_err(|source| EngineError::Io { path, source })?;
    Ok(l)
}

struct Loop<'a> {
    id: &'a str,
    /// The database, until the first release of memory (see `run_inner`).
    engine: Option<Engine>,
    systemd: bool,
    notify: Option<NotifySocket>,
    init_pid: i32,
    io: Io,
    log: &'a mut LogWriter,
    clients: Vec<Client>,
    stdin: StdinQueue,
    exit: Option<i32>,
    health: Option<crate::health::Probe>,
    memory: crate::memory::IdleMemory,
}

#[derive(Clone, Copy)]
enum Source {
    Signal,
    Notify,
    Listener,
    Output(usize),
    Client(usize),
    Stdin,
}

impl Loop<'_> {
    fn run(&mut self, listener: &UnixListener, sigfd: &SignalFd) -> i32 {
        // Reap anything that exited before we started polling.
        self.reap();
        loop {
            if let Some(code) = self.exit {
                self.drain_all();
                return code;
            }
            // A finished healthcheck ran code and forked: give that back soon.
            if self.health.as_mut().is_some_and(|h| h.take_finished()) {
                self.memory.release_soon();
            }
            if let Some(h) = &mut self.health {
                h.tick();
            }
            if self.memory.release_is_due() {
                self.engine = None; // its memory goes with this release
            }
            let (mut fds, sources) = self.poll_set(listener, sigfd);
            // Asleep until something happens or a healthcheck is due: an idle
            // monitor does not wake on a timer (see `memory::IdleMemory`).
            let wait = self
                .health
                .as_ref()
                .map(|h| h.wait() + std::time::Duration::from_millis(1));
            match self.memory.poll(&mut fds, wait) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return self.exit.unwrap_or(255),
            }
            let ready: Vec<(usize, PollFlags)> = fds
                .iter()
                .enumerate()
                .filter_map(|(i, f)| f.revents().filter(|r| !r.is_empty()).map(|r| (i, r)))
                .collect();
            drop(fds);
            for (i, revents) in ready {
                match sources[i] {
                    Source::Signal => {
                        while sigfd.read_signal().ok().flatten().is_some() {}
                        self.reap();
                    }
                    Source::Notify => self.record_notify(),
                    Source::Listener => {
                        while let Ok((stream, _)) = listener.accept() {
                            self.clients.push(Client::new(stream, false));
                        }
                    }
                    Source::Output(n) => {
                        if !self.pump_output(n) {
                            self.io.outputs[n].0 = None;
                        }
                    }
                    Source::Client(n) => self.serve_client(n, revents),
                    Source::Stdin => self.write_stdin(),
                }
            }
            // Only now: indices in `sources` name the same clients all round long.
            self.clients.retain(|c| !c.dead);
        }
    }

    fn poll_set<'b>(
        &'b self,
        listener: &'b UnixListener,
        sigfd: &'b SignalFd,
    ) -> (Vec<PollFd<'b>>, Vec<Source>) {
        let mut fds = vec![
            PollFd::new(sigfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
        ];
        let mut sources = vec![Source::Signal, Source::Listener];
        if let Some(n) = &self.notify {
            fds.push(PollFd::new(n.socket.as_fd(), PollFlags::POLLIN));
            sources.push(Source::Notify);
        }
        // Clients are not read while the container has a full queue of unread
        // input; a hang-up or an error is reported all the same.
        let read = match self.stdin.is_full() {
            true => PollFlags::empty(),
            false => PollFlags::POLLIN,
        };
        let mut hold_output = false;
        for (n, c) in self.clients.iter().enumerate() {
            let write = match c.wants_write() {
                true => PollFlags::POLLOUT,
                false => PollFlags::empty(),
            };
            fds.push(PollFd::new(c.fd(), read | write));
            sources.push(Source::Client(n));
            hold_output |= c.holds_back_output();
        }
        // A foreground client a full queue behind holds the container's output
        // back (see `clients`); everything else goes on.
        for (n, (file, _)) in self.io.outputs.iter().enumerate() {
            if let (Some(f), false) = (file, hold_output) {
                fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
                sources.push(Source::Output(n));
            }
        }
        if !self.stdin.is_empty() {
            if let Some(fd) = self.stdin_fd() {
                fds.push(PollFd::new(fd, PollFlags::POLLOUT));
                sources.push(Source::Stdin);
            }
        }
        (fds, sources)
    }

    /// Copies what is readable to the log and the clients; false at end of stream.
    fn pump_output(&mut self, n: usize) -> bool {
        let mut buf = [0u8; 16384];
        let stream = self.io.outputs[n].1;
        loop {
            let Some(file) = self.io.outputs[n].0.as_mut() else {
                return false;
            };
            match file.read(&mut buf) {
                Ok(0) => return false,
                Ok(len) => self.emit(stream, &buf[..len]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return false, // EIO: the pty's slave side is gone
            }
        }
    }

    fn emit(&mut self, stream: &str, data: &[u8]) {
        let _ = self.log.write(stream, data);
        let frame = if stream == "stderr" {
            Frame::Stderr(data.to_vec())
        } else {
            Frame::Stdout(data.to_vec())
        };
        let bytes: Encoded = frame.encode().into();
        // A client that fails is only marked: the poll round's indices stay valid.
        for c in &mut self.clients {
            c.send_output(&bytes);
        }
    }

    /// After the init exited: read what is left. Every process of the container died
    /// with its pid namespace before the init was reaped, so all their output is
    /// already buffered: one non-blocking pass empties it (a pty never reaches
    /// end-of-file, since we hold its slave side, so no waiting for one).
    fn drain_all(&mut self) {
        for n in 0..self.io.outputs.len() {
            if !self.pump_output(n) {
                self.io.outputs[n].0 = None;
            }
        }
    }

    /// Records what systemd told us. Rare (a handful of messages per boot), so the
    /// database is opened just for it.
    fn record_notify(&mut self) {
        let Some(n) = &self.notify else { return };
        let update = n.drain();
        if update == crate::notify::NotifyUpdate::default() {
            return;
        }
        if let Ok(engine) = Engine::open() {
            let _ = engine.update_state(self.id, |state| {
                state.boot = update.boot.or(state.boot);
                state.boot_status = update.status.clone().or(state.boot_status.take());
            });
            if update.boot == Some(BootState::Ready) {
                drop(engine); // a SQLite connection must not cross fork
                probe_degraded(self.id);
            }
        }
        self.memory.release_soon();
    }

    fn reap(&mut self) {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid.as_raw() == self.init_pid => {
                    self.exit = Some(code)
                }
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid.as_raw() == self.init_pid => {
                    self.exit = Some(exit_code_for_signal(self.systemd, sig))
                }
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(status) => {
                    if let (Some(h), Some(pid)) = (&mut self.health, status.pid()) {
                        h.reaped(pid.as_raw());
                    }
                }
            }
        }
    }

    /// Writes what a client's socket takes and handles the frames it sent. A
    /// client that went away or sent garbage is marked dead.
    fn serve_client(&mut self, n: usize, revents: PollFlags) {
        let Some(c) = self.clients.get_mut(n).filter(|c| !c.dead) else {
            return;
        };
        if revents.contains(PollFlags::POLLOUT) {
            c.flush();
        }
        let readable = PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR;
        if !revents.intersects(readable) {
            return;
        }
        if !c.receive() {
            c.dead = true;
        }
        loop {
            match self.clients[n].frames.next_frame() {
                Ok(Some(frame)) => self.handle_frame(frame),
                Ok(None) => break,
                Err(_) => {
                    self.clients[n].dead = true;
                    break;
                }
            }
        }
    }

    fn stdin_fd(&self) -> Option<BorrowedFd<'_>> {
        match stdin_target(&self.io)? {
            // SAFETY: the master stays open while outputs[0] holds it (checked above).
            StdinTarget::Pty(m) => Some(unsafe { BorrowedFd::borrow_raw(m) }),
            StdinTarget::Pipe(p) => Some(p.as_fd()),
        }
    }

    /// Writes queued input as far as the container takes it.
    fn write_stdin(&mut self) {
        let Some(target) = stdin_target(&self.io) else {
            self.stdin = StdinQueue::default();
            return;
        };
        let pipe = matches!(target, StdinTarget::Pipe(_));
        match self.stdin.write_to(target) {
            StdinWritten::Pending => {}
            StdinWritten::Ended | StdinWritten::Broken if pipe => self.io.stdin = None,
            StdinWritten::Ended | StdinWritten::Broken => {}
        }
    }

    fn handle_frame(&mut self, frame: Frame) {
        match frame {
            Frame::Stdin(data) if stdin_target(&self.io).is_some() => {
                self.stdin.push(&data);
                self.write_stdin();
            }
            Frame::StdinEof => {
                self.stdin.eof = true;
                if self.stdin.is_empty() && self.io.pty_master.is_none() {
                    self.io.stdin = None;
                }
            }
            Frame::Resize { rows, cols } => {
                if let Some(m) = self.io.pty_master {
                    let ws = libc::winsize {
                        ws_row: rows,
                        ws_col: cols,
                        ws_xpixel: 0,
                        ws_ypixel: 0,
                    };
                    // SAFETY: TIOCSWINSZ on our pty master with a valid winsize.
                    unsafe { libc::ioctl(m, libc::TIOCSWINSZ, &ws) };
                }
            }
            Frame::Signal(sig) => {
                // SAFETY: kill(2) on the init we created and still own (not reaped).
                unsafe { libc::kill(self.init_pid, sig) };
            }
            _ => {}
        }
    }
}

/// Where client input goes: the terminal while its master is open, else the stdin
/// pipe while the container keeps it.
fn stdin_target(io: &Io) -> Option<StdinTarget<'_>> {
    match (io.pty_master, &io.stdin) {
        (Some(m), _) if io.outputs[0].0.is_some() => Some(StdinTarget::Pty(m)),
        (None, Some(pipe)) => Some(StdinTarget::Pipe(pipe)),
        _ => None,
    }
}

/// READY=1 only says the boot finished; whether units failed on the way
/// ("degraded") is systemd's to say. A forked child asks it
/// (`systemctl is-system-running`) and records the answer, so the monitor's loop
/// never waits on the container. The loop's reaper collects the child.
fn probe_degraded(id: &str) {
    // SAFETY: the monitor is single-threaded; the child opens its own database
    // connection, runs the runtime (which forks without exec by design) and _exits
    // without unwinding the monitor.
    if let Ok(nix::unistd::ForkResult::Child) = unsafe { nix::unistd::fork() } {
        let degraded = Engine::open().ok().and_then(|engine| {
            let container = engine.container(id).ok()?;
            let (_, out) =
                crate::exec::exec_capture(&engine, &container, &["systemctl", "is-system-running"])
                    .ok()?;
            if out.trim() != "degraded" {
                return None;
            }
            // Only a boot still recorded as ready turns degraded: a stop or a
            // restart meanwhile has the last word.
            engine
                .update_state(id, |state| {
                    if state.boot == Some(BootState::Ready) {
                        state.boot = Some(BootState::Degraded);
                    }
                })
                .ok()
        });
        let _ = degraded;
        // SAFETY: leave the forked child without running the monitor's destructors.
        unsafe { libc::_exit(0) }
    }
}

/// A container init killed by a signal exits 128+n, except a system container's
/// halt: with CAP_SYS_BOOT (`--privileged`) systemd ends with reboot(2), which in a
/// pid namespace kills the init with SIGINT. That is a clean stop, so it reads 0.
fn exit_code_for_signal(systemd: bool, sig: Signal) -> i32 {
    match (systemd, sig) {
        (true, Signal::SIGINT) => 0,
        _ => 128 + sig as i32,
    }
}
