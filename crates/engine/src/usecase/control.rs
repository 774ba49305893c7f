//! Stopping, restarting, signalling, removing and waiting for a container.

use super::exclusive;
use crate::model::Container;
use crate::{lifecycle, networking, Engine, EngineError};
use std::net::Ipv4Addr;
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct StopOptions {
    /// Seconds before SIGKILL; the container's `--stop-timeout` or 10 when absent.
    pub timeout: Option<u32>,
    /// Instead of the container's stop signal.
    pub signal: Option<String>,
}

/// The stop signal, then SIGKILL after the timeout.
pub fn stop(engine: &Engine, c: &Container, opts: &StopOptions) -> Result<(), EngineError> {
    if let Some(s) = &opts.signal {
        berth_runtime::signal::parse_signal(s)?;
    }
    exclusive(engine, c, |c, _| {
        let mut c = c.clone();
        if let Some(s) = &opts.signal {
            c.spec.stop_signal = s.clone();
        }
        let running = c.is_running();
        lifecycle::stop(engine, &c, opts.timeout)?;
        if running {
            crate::events::container(&engine.paths.root, &c, "stop", &[]);
        }
        Ok(())
    })
}

/// Stops (with the container's own stop signal) and starts in the background.
pub fn restart(engine: &Engine, c: &Container, timeout: Option<u32>) -> Result<(), EngineError> {
    exclusive(engine, c, |c, held| {
        if c.spec.auto_remove && c.is_running() {
            engine.update_state(&c.id, |st| st.restarting = true)?;
        }
        lifecycle::stop(engine, c, timeout)?;
        let c = engine.container(&c.id)?;
        lifecycle::start(engine, &c, false, held, None)?;
        crate::events::container(&engine.paths.root, &c, "restart", &[]);
        Ok(())
    })
}

/// Sends a signal (a name such as `TERM`, `SIGRTMIN+3`, or a number) to its init.
pub fn kill(engine: &Engine, c: &Container, signal: &str) -> Result<(), EngineError> {
    exclusive(engine, c, |c, _| {
        // docker's ExitOnNext: SIGKILL or the stop signal ends the restarts.
        let sig = berth_runtime::signal::parse_signal(signal)?;
        let stop_sig = berth_runtime::signal::parse_signal(&c.spec.stop_signal).ok();
        if c.is_running() && (sig == libc::SIGKILL || Some(sig) == stop_sig) {
            crate::restart::mark_stopped_by_user(engine, &c.id, false)?;
        }
        // Recorded before the signal, so it comes before the `die` it may cause.
        if c.is_running() {
            crate::events::killed(&engine.paths.root, c, signal);
        }
        lifecycle::kill(c, signal)
    })
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveOptions {
    /// Kill a running container first.
    pub force: bool,
    /// Remove its anonymous volumes too.
    pub volumes: bool,
}

pub fn remove(engine: &Engine, c: &Container, opts: RemoveOptions) -> Result<(), EngineError> {
    exclusive(engine, c, |c, _| {
        lifecycle::remove(engine, c, opts.force, opts.volumes)
    })
}

/// `network connect NET CTR [--ip]` (see `networking::join`).
pub fn connect_network(
    engine: &Engine,
    c: &Container,
    network: &str,
    ip: Option<Ipv4Addr>,
) -> Result<(), EngineError> {
    exclusive(engine, c, |c, _| {
        networking::join(engine, c, network, ip)?;
        crate::events::network(engine, network, "connect", &c.id);
        Ok(())
    })
}

/// `network disconnect NET CTR` (see `networking::leave`).
pub fn disconnect_network(
    engine: &Engine,
    c: &Container,
    network: &str,
) -> Result<(), EngineError> {
    exclusive(engine, c, |c, _| {
        networking::leave(engine, c, network)?;
        crate::events::network(engine, network, "disconnect", &c.id);
        Ok(())
    })
}

/// Blocks until the container stops; returns its exit code, or `None` when it was
/// removed (`--rm`, `rm -f`) before the code could be read.
pub fn wait(engine: &Engine, c: &Container) -> Result<Option<i32>, EngineError> {
    lifecycle::wait_stopped(engine, &c.id, Duration::from_secs(u64::MAX / 4))?;
    Ok(engine
        .find(&c.id)
        .ok()
        .map(|c| c.state.exit_code.unwrap_or(0)))
}
