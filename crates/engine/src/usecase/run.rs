//! `run`: create → start → attach (or detach, optionally until ready) → diagnose a
//! system container that died. `start` and `start_attached` for existing containers.

use super::{exclusive, UseCaseError};
use crate::client::{attach, AttachStreams};
use crate::create::{create, create_as, ContainerConfig};
use crate::launch::Launch;
use crate::lifecycle;
use crate::model::Container;
use crate::{Engine, EngineError};
use std::time::Duration;

pub struct RunOptions<'a> {
    pub config: ContainerConfig,
    pub mode: RunMode<'a>,
    /// Called with the new container's id before it starts (`--cidfile`); an error
    /// removes the container again.
    pub on_created: Option<OnCreated<'a>>,
    /// A monitor launched ahead for it ([`Launch::spawn`]): the container gets its
    /// id. It must attach when the mode does; otherwise it is let go and a monitor
    /// is started as usual.
    pub launched: Option<Launch>,
}

/// See [`RunOptions::on_created`].
pub type OnCreated<'a> = Box<dyn FnOnce(&str) -> Result<(), EngineError> + 'a>;

/// What `run` does once the container is created.
pub enum RunMode<'a> {
    /// Start it in the background. With `wait_ready`, return only once systemd in the
    /// container reported READY=1 (or fail after that long, with a diagnosis).
    Detach { wait_ready: Option<Duration> },
    /// Start it attached to these streams and wait for it to exit.
    Attach(AttachStreams<'a>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// Running in the background (and ready, when that was asked).
    Detached { id: String },
    /// It ran attached and exited with `code`. A system container that failed also
    /// gets the doctor's diagnosis (when it was not removed with `--rm`).
    Exited {
        id: String,
        name: String,
        code: i32,
        diagnosis: Option<String>,
    },
}

/// Creates and starts a container, then detaches or attaches as `opts.mode` says.
pub fn run(engine: &Engine, opts: RunOptions) -> Result<RunOutcome, EngineError> {
    let wants_ready = matches!(
        opts.mode,
        RunMode::Detach {
            wait_ready: Some(_)
        }
    );
    let c = match &opts.launched {
        Some(l) => create_as(engine, &opts.config, l.id().to_string())?,
        None => create(engine, &opts.config)?,
    };
    if let Some(created) = opts.on_created {
        if let Err(e) = created(&c.id) {
            let _ = lifecycle::remove_files(engine, &c, true);
            return Err(e);
        }
    }
    if wants_ready && !c.spec.systemd {
        let _ = lifecycle::remove_files(engine, &c, true);
        return Err(UseCaseError::WaitReadyNeedsSystemd.into());
    }
    match opts.mode {
        RunMode::Detach { wait_ready } => {
            start_or_clean(engine, &c, false, opts.launched)?;
            if let Some(timeout) = wait_ready {
                lifecycle::wait_ready(engine, &c.id, timeout)?;
            }
            Ok(RunOutcome::Detached { id: c.id })
        }
        RunMode::Attach(streams) => {
            start_or_clean(engine, &c, true, opts.launched)?;
            let code = attach(engine, &c.id, c.spec.tty, streams)?;
            Ok(RunOutcome::Exited {
                diagnosis: diagnosis_after(engine, &c, code),
                id: c.id,
                name: c.name,
                code,
            })
        }
    }
}

/// A system container that died during boot explains itself (unless `--rm` took it).
fn diagnosis_after(engine: &Engine, c: &Container, code: i32) -> Option<String> {
    if code == 0 || !c.spec.systemd {
        return None;
    }
    let c = engine.find(&c.id).ok()?;
    let text = lifecycle::diagnosis_text(engine, &c);
    (!text.is_empty()).then_some(text)
}

/// Starts; a container that could not start is removed again if it was `--rm`.
fn start_or_clean(
    engine: &Engine,
    c: &Container,
    attach: bool,
    launched: Option<Launch>,
) -> Result<(), EngineError> {
    let started = exclusive(engine, c, |c, held| {
        lifecycle::start(engine, c, attach, held, launched)
    });
    if let Err(e) = started {
        if c.spec.auto_remove {
            let _ = exclusive(engine, c, |c, _| lifecycle::remove_files(engine, c, true));
        }
        return Err(e);
    }
    Ok(())
}

/// Starts a container in the background (nothing happens if it runs already).
pub fn start(engine: &Engine, c: &Container) -> Result<(), EngineError> {
    exclusive(engine, c, |c, held| {
        super::pause::refuse_start_if_paused(c)?;
        lifecycle::start(engine, c, false, held, None)
    })
}

/// Attaches to a container, starting it first unless it runs; returns its exit code.
/// Its stdin is only forwarded when the container keeps stdin open (`-i`).
pub fn start_attached(
    engine: &Engine,
    c: &Container,
    mut streams: AttachStreams,
) -> Result<i32, EngineError> {
    exclusive(engine, c, |c, held| match c.is_running() {
        true => Ok(()),
        false => lifecycle::start(engine, c, true, held, None),
    })?;
    if !c.spec.open_stdin {
        streams.stdin = None;
    }
    attach(engine, &c.id, c.spec.tty, streams)
}
