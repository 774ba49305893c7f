//! Stopping, restarting, signalling, removing and waiting for a container.

use crate::lifecycle;
use crate::model::Container;
use crate::{Engine, EngineError};
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
    let mut c = c.clone();
    if let Some(s) = &opts.signal {
        berth_runtime::signal::parse_signal(s)?;
        c.spec.stop_signal = s.clone();
    }
    lifecycle::stop(engine, &c, opts.timeout)
}

/// Stops (with the container's own stop signal) and starts in the background.
pub fn restart(engine: &Engine, c: &Container, timeout: Option<u32>) -> Result<(), EngineError> {
    lifecycle::stop(engine, c, timeout)?;
    let c = engine.find(&c.id)?;
    lifecycle::start(engine, &c, false)
}

/// Sends a signal (a name such as `TERM`, `SIGRTMIN+3`, or a number) to its init.
pub fn kill(c: &Container, signal: &str) -> Result<(), EngineError> {
    lifecycle::kill(c, signal)
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveOptions {
    /// Kill a running container first.
    pub force: bool,
    /// Remove its anonymous volumes too.
    pub volumes: bool,
}

pub fn remove(engine: &Engine, c: &Container, opts: RemoveOptions) -> Result<(), EngineError> {
    lifecycle::remove(engine, c, opts.force, opts.volumes)
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
