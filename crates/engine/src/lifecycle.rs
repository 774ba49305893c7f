//! Starting (spawning the monitor), stopping, killing, removing, waiting, and
//! reconciling a container whose monitor died.

use crate::launch::Launch;
use crate::lock::ContainerLock;
use crate::model::{Container, Status};
use crate::{bundle, Engine, EngineError};
use berth_runtime::signal::parse_signal;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Starts `berth monitor <id>` (or gives the go to the one `launch` started ahead
/// for this container). With `attach`, the monitor creates the container and waits
/// for the attach client before starting it. The caller holds the container's
/// `lock`, which the monitor takes over until the container runs (see `lock`).
pub fn start(
    engine: &Engine,
    c: &Container,
    attach: bool,
    lock: &ContainerLock,
    launched: Option<Launch>,
) -> Result<(), EngineError> {
    if c.is_running() || restart_pending(c) {
        return Ok(()); // running, or its monitor is about to start it again
    }
    let c = &settled(engine, c.clone())?;
    // Settling waited for a monitor still starting it (another `start` that gave
    // the go and was killed): the container runs now, and a second monitor would
    // find the runtime's container there already.
    if c.is_running() {
        return Ok(());
    }
    engine.update_state(&c.id, crate::restart::reset_for_user_start)?;
    let launch = match launched {
        Some(l) if l.id() == c.id => l,
        _ => Launch::spawn(&engine.paths, &c.id)?,
    };
    let log_path = engine.paths.container_dir(&c.id).join("monitor.log");
    let log = crate::paths::open_private(&log_path, true).map_err(|source| EngineError::Io {
        path: log_path.clone(),
        source,
    })?;
    let (mut child, read_end) = launch.go(lock, log, attach);
    let want = if attach { "created" } else { "started" };
    let mut reports = Reports {
        file: read_end,
        buf: Vec::new(),
    };
    loop {
        let Some(line) = reports.next(&mut child) else {
            let status = child.wait().ok();
            // Killed or crashed half-way: clean up what it made while we still
            // hold the lock.
            if let Ok(now) = engine.container(&c.id) {
                let _ = reconcile_locked(engine, now);
            }
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let message = match log.lines().last() {
                Some(last) => last.to_string(),
                None => silent_end(status),
            };
            return Err(EngineError::MonitorLost {
                message,
                log: log_path,
            });
        };
        if let Some(rest) = line.strip_prefix("error ") {
            let (code, message) = rest.split_once(' ').unwrap_or(("125", rest));
            return Err(EngineError::StartFailed {
                code: code.parse().unwrap_or(125),
                message: message.to_string(),
            });
        }
        if line.split(' ').next() == Some(want) {
            // The monitor keeps running on its own; the zombie is reaped when we exit.
            std::mem::forget(child);
            return Ok(());
        }
    }
}

/// How a monitor that left no message ended: killed before the go (it writes to
/// its log only from then on, see `launch`) or by a signal later.
fn silent_end(status: Option<std::process::ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (
        status.and_then(|s| s.signal()),
        status.and_then(|s| s.code()),
    ) {
        (Some(signal), _) => format!("it was killed by signal {signal}"),
        (None, Some(code)) => format!("it exited with code {code} and no message"),
        _ => "no message".to_string(),
    }
}

/// The lines a starting monitor reports on its sync pipe.
struct Reports {
    file: std::fs::File,
    buf: Vec<u8>,
}

impl Reports {
    /// The next line; `None` once the monitor is gone. Its exit is watched, not
    /// only the pipe's end: a container it created before it died holds a copy of
    /// the pipe's write end (forked, not exec'd yet) for as long as it waits to be
    /// started, which is for ever.
    fn next(&mut self, monitor: &mut std::process::Child) -> Option<String> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Some(String::from_utf8_lossy(&line).trim_end().to_string());
            }
            let exited = monitor.try_wait().ok().flatten().is_some();
            if exited {
                // What it wrote before exiting is still read.
                crate::spawn::set_nonblocking(self.file.as_raw_fd());
            }
            let mut fds = [PollFd::new(self.file.as_fd(), PollFlags::POLLIN)];
            let ready = match poll(&mut fds, PollTimeout::from(100u16)) {
                Ok(n) => n > 0,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return None,
            };
            if !ready && !exited {
                continue;
            }
            let mut chunk = [0u8; 512];
            match self.file.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None, // WouldBlock once it has exited: nothing more
            }
        }
    }
}

/// Sends a signal to the container's init after checking it is still the same process.
pub fn kill(c: &Container, signal: &str) -> Result<(), EngineError> {
    let sig = parse_signal(signal)?;
    let sent = match (&c.state.status, c.state.init) {
        (Status::Running, Some(init)) => {
            init.signal(sig).map_err(|e| EngineError::Sys("kill", e))?
        }
        _ => false,
    };
    if !sent {
        return Err(EngineError::NotRunning(c.name.clone()));
    }
    crate::freezer::thaw_if_paused(&c.id);
    Ok(())
}

/// Stop: the stop signal, then SIGKILL after the timeout (docker's default 10 s).
/// The caller holds the container's lock.
pub fn stop(engine: &Engine, c: &Container, timeout: Option<u32>) -> Result<(), EngineError> {
    // Before anything else: a monitor waiting to restart it gives up at once.
    crate::restart::mark_stopped_by_user(engine, &c.id, true)?;
    // A start in progress (its own command killed) ends first.
    let settled = settled(engine, c.clone())?;
    let c = &Container {
        spec: c.spec.clone(), // the caller's stop signal
        ..settled
    };
    if !c.is_running() {
        return Ok(());
    }
    let secs = timeout.or(c.spec.stop_timeout).unwrap_or(10);
    match kill(c, &c.spec.stop_signal) {
        Ok(()) | Err(EngineError::NotRunning(_)) => {}
        Err(e) => return Err(e),
    }
    if wait_exit(
        engine,
        &c.id,
        Duration::from_secs(secs.into()),
        reconcile_locked,
    )? {
        return Ok(());
    }
    let _ = kill(c, "KILL");
    wait_exit(engine, &c.id, Duration::from_secs(30), reconcile_locked)?;
    Ok(())
}

/// Polls until the monitor has recorded the exit (or the container is gone).
/// Returns false on timeout. For a caller without the container's lock (`wait`).
pub fn wait_stopped(engine: &Engine, id: &str, timeout: Duration) -> Result<bool, EngineError> {
    wait_exit(engine, id, timeout, reconcile)
}

/// [`wait_stopped`], reconciling a container whose monitor died with `reconcile`
/// (the locked variant when the caller holds the lock, else the trying one).
fn wait_exit(
    engine: &Engine,
    id: &str,
    timeout: Duration,
    reconcile: fn(&Engine, Container) -> Result<Container, EngineError>,
) -> Result<bool, EngineError> {
    let deadline = Instant::now() + timeout;
    loop {
        match engine.container(id).and_then(|c| reconcile(engine, c)) {
            Ok(c) if !c.is_running() => return Ok(true),
            Ok(_) => {}
            Err(EngineError::Store(crate::store::StoreError::NotFound(_))) => return Ok(true),
            Err(e) => return Err(e),
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `rm`: refuses a running container unless forced; removes files, anonymous volumes
/// when asked, and the row. The caller holds the container's lock.
pub fn remove(
    engine: &Engine,
    c: &Container,
    force: bool,
    volumes: bool,
) -> Result<(), EngineError> {
    match force {
        true => crate::restart::mark_stopped_by_user(engine, &c.id, true)?,
        false if restart_pending(c) => return Err(EngineError::RemoveRunning(c.name.clone())),
        false => {}
    }
    let c = &settled(engine, c.clone())?;
    if c.is_running() {
        if !force {
            return Err(EngineError::RemoveRunning(c.name.clone()));
        }
        let _ = kill(c, "KILL");
        wait_exit(engine, &c.id, Duration::from_secs(30), reconcile_locked)?;
    }
    // A `--rm` container's monitor removes it once it is dead, maybe while we wait.
    let c = match engine.container(&c.id).and_then(|c| settled(engine, c)) {
        Ok(c) => c,
        Err(EngineError::Store(crate::store::StoreError::NotFound(_))) => return Ok(()),
        Err(e) => return Err(e),
    };
    if c.is_running() {
        // Killed, yet still running after 30 s: removing its files under it would
        // leave its processes and cgroups behind.
        return Err(EngineError::RemoveRunning(c.name));
    }
    remove_files(engine, &c, volumes)
}

/// Its monitor waits out a restart policy's back-off to start it again.
pub fn restart_pending(c: &Container) -> bool {
    c.state.restart_pending && c.state.monitor.is_some_and(|m| m.is_alive())
}

/// The container once its last monitor has finished (see [`wait_monitor_gone`])
/// and whatever a dead one left is cleaned up. The caller holds its lock.
pub fn settled(engine: &Engine, c: Container) -> Result<Container, EngineError> {
    wait_monitor_gone(engine, &c);
    let c = engine.container(&c.id)?;
    reconcile_locked(engine, c)
}

/// A container's monitor may still be starting it (recorded, not running yet: its
/// own `start` may have been killed meanwhile) or cleaning up after its exit
/// (unmounting, freeing cgroups and addresses). Waits until it is done: running,
/// dropped from the state (afterwards it may linger to remove an idle network),
/// or dead.
pub fn wait_monitor_gone(engine: &Engine, c: &Container) {
    let Some(m) = c
        .state
        .monitor
        .filter(|_| c.state.status != Status::Running)
    else {
        return;
    };
    // Longer than a monitor waits for its attach client (monitor.rs).
    let deadline = Instant::now() + Duration::from_secs(40);
    let done = || match engine.container(&c.id) {
        Ok(now) => now.state.monitor != Some(m) || now.is_running(),
        Err(_) => true,
    };
    while m.is_alive() && !done() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}

pub fn remove_files(engine: &Engine, c: &Container, volumes: bool) -> Result<(), EngineError> {
    remove_files_deferred(engine, c, volumes).map(drop)
}

/// The container's directory, moved out of `containers/` and deleted when this
/// is dropped.
///
/// Deleting files is slow on some disks: on this VM's ext4 (mounted with
/// `discard`) freeing a file's blocks waits for a synchronous discard, 1–1.7 ms
/// per `run --rm` (`perf sched`, issue 11). The container is gone for every berth
/// command once its row is deleted and its directory renamed, so `run --rm`'s
/// monitor reports the exit first and deletes after.
pub struct Removal(Option<PathBuf>);

impl Drop for Removal {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Where removed containers' directories wait to be deleted.
fn removing_dir(engine: &Engine) -> PathBuf {
    engine.paths.root.join("removing")
}

/// Moves `dir` (container `id`'s) under [`removing_dir`], and deletes what a
/// remover killed half-way left there more than a minute ago. Deletes `dir` in
/// place when it cannot be moved.
fn move_out(engine: &Engine, dir: &Path, id: &str) -> Option<PathBuf> {
    let removing = removing_dir(engine);
    let _ = std::fs::create_dir_all(&removing);
    sweep_removing(&removing, Duration::from_secs(60));
    let target = removing.join(id);
    match std::fs::rename(dir, &target) {
        Ok(()) => Some(target),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(_) => {
            let _ = std::fs::remove_dir_all(dir);
            None
        }
    }
}

/// Deletes the entries of `removing` moved there more than `age` ago (a rename
/// sets the moved directory's change time): their remover died before it
/// deleted them. Younger ones may be a live remover's.
fn sweep_removing(removing: &Path, age: Duration) {
    let Ok(entries) = std::fs::read_dir(removing) else {
        return;
    };
    let old = std::time::SystemTime::now() - age;
    for e in entries.flatten() {
        let moved = e.metadata().ok().map(|m| {
            use std::os::unix::fs::MetadataExt;
            std::time::UNIX_EPOCH + Duration::from_secs(m.ctime().max(0) as u64)
        });
        if moved.is_some_and(|t| t <= old) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// [`remove_files`], the directory's deletion left to the returned [`Removal`].
pub fn remove_files_deferred(
    engine: &Engine,
    c: &Container,
    volumes: bool,
) -> Result<Removal, EngineError> {
    bundle::teardown(engine, &c.id);
    remove_stray_cgroups(&c.id);
    let dir = engine.paths.container_dir(&c.id);
    if bundle::is_mountpoint(&engine.paths.rootfs(&c.id)) {
        return Err(EngineError::Invalid(format!(
            "{} is still mounted; cannot remove the container yet",
            dir.display()
        )));
    }
    crate::store::delete(engine.conn(), &c.id)?;
    crate::events::container(&engine.paths.root, c, "destroy", &[]);
    let removal = Removal(move_out(engine, &dir, &c.id));
    let _ = std::fs::remove_dir_all(engine.paths.run_dir(&c.id));
    if volumes {
        crate::volumes::remove_anonymous(engine, c);
    }
    Ok(removal)
}

/// Whether the container's monitor died and left it half-way: running, starting
/// or cleaning up after its exit.
fn orphaned(c: &Container) -> bool {
    match (c.state.status, c.state.monitor) {
        (Status::Running, Some(m)) => !m.is_alive(),
        (Status::Running, None) => true,
        (Status::Created, Some(m)) => !m.is_alive(),
        // Died half-way through its cleanup.
        (Status::Exited, Some(m)) => !m.is_alive(),
        _ => false,
    }
}

/// A container whose monitor is gone (killed, crashed, machine rebooted) cannot be
/// running: stop what is left of it, free its resources and record the exit.
///
/// Only a holder of the container's lock does that ([`reconcile_locked`]); when
/// another berth command holds it, that command is working on the container and
/// settles it itself, so the row is returned as recorded.
pub fn reconcile(engine: &Engine, c: Container) -> Result<Container, EngineError> {
    if !orphaned(&c) {
        return Ok(c);
    }
    let dir = engine.paths.container_dir(&c.id);
    match crate::lock::try_lock(&c.id, &dir) {
        Ok(Some(_held)) => {
            let now = engine.container(&c.id)?;
            reconcile_locked(engine, now)
        }
        Ok(None) => Ok(c),
        Err(crate::lock::LockError::Gone(_)) => {
            Err(crate::store::StoreError::NotFound(c.id).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// [`reconcile`] for a caller that holds the container's lock.
pub fn reconcile_locked(engine: &Engine, c: Container) -> Result<Container, EngineError> {
    if !orphaned(&c) {
        return Ok(c);
    }
    crate::freezer::thaw_if_paused(&c.id);
    if let Some(init) = c.state.init {
        if init.signal(libc::SIGKILL) == Ok(true) {
            let deadline = Instant::now() + Duration::from_secs(5);
            while init.is_alive() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    if let Ok(rt) = engine.runtime(&c.spec.runtime) {
        let _ = rt.delete(&c.id, true);
    }
    kill_cgroup_members(&c.id);
    crate::cgroups::remove_container_cgroups(&c.id);
    crate::networking::disconnect(engine, &c);
    bundle::teardown(engine, &c.id);
    let _ = std::fs::remove_dir_all(engine.paths.run_dir(&c.id));
    crate::cgroups::remove_empty_parents(&engine.paths.runroot);
    let state = engine.update_state(&c.id, |state| {
        if state.status != Status::Exited {
            state.status = Status::Exited;
            state.exit_code = Some(137);
            state.finished_at = Some(crate::now());
            state.error = Some("the container's monitor died; berth stopped the container".into());
        }
        state.monitor = None;
        state.restart_pending = false;
        state.init = None;
        state.network = None;
        state.connected.clear();
        state.clone()
    })?;
    if c.spec.auto_remove {
        remove_files(engine, &c, true)?;
        return Err(crate::store::StoreError::NotFound(c.id).into());
    }
    Ok(Container { state, ..c })
}

/// The cgroups of a container that does not run, and whatever is in them: an
/// `exec` racing the container's exit makes them again (the runtime creates the
/// cgroup it joins) after its monitor removed them.
fn remove_stray_cgroups(id: &str) {
    kill_cgroup_members(id);
    crate::cgroups::remove_container_cgroups(id);
}

/// After an `exec` failed: if the container has stopped (or is gone) meanwhile,
/// the cgroups the exec may have made again are removed. Only under the
/// container's lock (waited for a while: the `rm -f` or `stop` that made the exec
/// fail usually holds it) and when no monitor is starting it.
pub fn sweep_after_failed_exec(engine: &Engine, c: &Container) {
    let dir = engine.paths.container_dir(&c.id);
    let deadline = Instant::now() + Duration::from_secs(10);
    let held = loop {
        match crate::lock::try_lock(&c.id, &dir) {
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => break other,
        }
    };
    match held {
        Ok(Some(_held)) => {
            let Ok(now) = engine.container(&c.id) else {
                return remove_stray_cgroups(&c.id);
            };
            let monitor = now.state.monitor.is_some_and(|m| m.is_alive());
            if !now.is_running() && !monitor {
                remove_stray_cgroups(&c.id);
            }
        }
        // Removed: nothing will use its id again.
        Err(crate::lock::LockError::Gone(_)) => remove_stray_cgroups(&c.id),
        _ => {}
    }
}

/// SIGKILLs every process left in the container's cgroups: a monitor killed
/// between creating the container and recording its init leaves one nobody knows
/// the pid of (its cgroups could not be removed while it lives).
fn kill_cgroup_members(id: &str) {
    let dirs: Vec<std::path::PathBuf> = crate::cgroups::hierarchies()
        .into_iter()
        .map(|h| h.join(crate::cgroups::PARENT).join(id))
        .collect();
    kill_members(|| cgroup_member_pids(&dirs));
}

/// SIGKILLs the processes `members` lists and waits (up to 5 s) for them to exit.
/// Pidfds first, the members read again after: a pidfd then names either a
/// process still listed or one that exited before the second read, which the
/// kernel will not signal. A pid that left and went to another process between
/// the reads is not in the second one, and is left alone.
fn kill_members(mut members: impl FnMut() -> Vec<i32>) {
    let handles: Vec<_> = members()
        .into_iter()
        .filter_map(|p| Some((p, crate::pidfs::ProcessHandle::open(p).ok().flatten()?)))
        .collect();
    let still = members();
    let killed: Vec<_> = handles
        .into_iter()
        .filter(|(pid, h)| still.contains(pid) && h.send_signal(libc::SIGKILL).is_ok())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while killed.iter().any(|(_, h)| !h.has_exited()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The pids in these cgroups and their descendants.
fn cgroup_member_pids(dirs: &[std::path::PathBuf]) -> Vec<i32> {
    let mut dirs = dirs.to_vec();
    let mut pids = Vec::new();
    while let Some(dir) = dirs.pop() {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        pids.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(e.path());
            }
        }
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Waits until a systemd container reports READY=1. Fails, with the diagnosis,
/// when it stops first or the time runs out.
pub fn wait_ready(engine: &Engine, id: &str, timeout: Duration) -> Result<(), EngineError> {
    let deadline = Instant::now() + timeout;
    loop {
        let c = engine.find(id)?;
        // Degraded is a finished boot too (with failed units, which doctor names).
        if matches!(
            c.state.boot,
            Some(crate::model::BootState::Ready | crate::model::BootState::Degraded)
        ) {
            return Ok(());
        }
        if !c.is_running() || Instant::now() >= deadline {
            let why = if c.is_running() {
                format!(
                    "container {} did not report ready within {}s",
                    c.name,
                    timeout.as_secs()
                )
            } else {
                format!(
                    "container {} stopped during boot (exit code {})",
                    c.name,
                    c.state.exit_code.unwrap_or(0)
                )
            };
            return Err(EngineError::NotReady {
                why,
                diagnosis: diagnosis_text(engine, &c),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The doctor's findings as lines of text.
pub fn diagnosis_text(engine: &Engine, c: &Container) -> String {
    let findings = crate::doctor::diagnose(engine, c);
    findings
        .iter()
        .map(|f| format!("  cause: {}\n  fix:   {}", f.cause, f.fix))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_kills_only_the_pids_still_listed_after_its_pidfds_are_open() {
        use std::os::unix::process::ExitStatusExt;
        let mut member = crate::pidfs::sleeper();
        // Listed at the first read only: as a pid that left the cgroup and
        // went to another process between the reads.
        let mut gone = crate::pidfs::sleeper();
        let (m, g) = (member.id() as i32, gone.id() as i32);
        let mut reads = 0;
        kill_members(|| {
            reads += 1;
            if reads == 1 {
                vec![m, g]
            } else {
                vec![m]
            }
        });
        assert_eq!(member.wait().unwrap().signal(), Some(libc::SIGKILL));
        // A fatal signal decides the exit status when it is sent: a SIGKILL
        // from the sweep would show instead of this SIGTERM.
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(g, libc::SIGTERM) };
        assert_eq!(
            gone.wait().unwrap().signal(),
            Some(libc::SIGTERM),
            "a pid no longer listed was killed"
        );
    }

    /// A remover killed between its rename and its delete leaves the directory
    /// in `removing/`; a later removal deletes it, but not one a live remover has
    /// only just moved there.
    #[test]
    fn a_dead_removers_leftover_is_swept_and_a_fresh_one_kept() {
        let dir = tempfile::tempdir().unwrap();
        let left = dir.path().join("0123abcd");
        std::fs::create_dir_all(left.join("rootfs/etc")).unwrap();
        std::fs::write(left.join("rootfs/etc/hostname"), "x").unwrap();
        sweep_removing(dir.path(), Duration::from_secs(60));
        assert!(left.exists(), "moved just now: a live remover's");
        sweep_removing(dir.path(), Duration::ZERO);
        assert!(!left.exists(), "left behind: swept");
        sweep_removing(&dir.path().join("absent"), Duration::ZERO);
    }
}
