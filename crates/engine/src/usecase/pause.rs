//! `pause` / `unpause`: the cgroup freezer on the container's cgroup (`freezer`).
//! The container stays `running` (docker's State.Running is true while paused);
//! whether it is paused is asked of the kernel (`freezer::is_paused`), so the
//! monitor, `ps` and `inspect` never see a paused container as dead or stale.
//! The record only says whether to ask (`ContainerState::paused`): reading every
//! running container's freezer made `ps` with 1,000 containers read 1,000 cgroup
//! files (issue 11). A cgroup frozen by hand, not with `pause`, shows as running,
//! as it does in docker; `exec` and `start` still ask the kernel every time.

use super::exclusive;
use crate::freezer::{self, FreezeError};
use crate::model::Container;
use crate::{events, Engine, EngineError};

/// Freezes every process of a running container.
pub fn pause(engine: &Engine, c: &Container) -> Result<(), EngineError> {
    exclusive(engine, c, |c, _| {
        if !c.is_running() {
            return Err(EngineError::NotRunning(c.name.clone()));
        }
        let f = freezer::of(&c.id).ok_or_else(|| FreezeError::NoFreezer(c.name.clone()))?;
        if f.is_set() {
            return Err(FreezeError::AlreadyPaused(c.name.clone()).into());
        }
        // Recorded before the freeze: a pause that fails half-way leaves the
        // hint set, which costs only a look at the freezer.
        engine.update_state(&c.id, |st| st.paused = true)?;
        f.freeze()?.keep();
        events::container(&engine.paths.root, c, "pause", &[]);
        Ok(())
    })
}

/// Thaws a paused container.
pub fn unpause(engine: &Engine, c: &Container) -> Result<(), EngineError> {
    exclusive(engine, c, |c, _| {
        let frozen = freezer::of(&c.id).filter(|f| c.is_running() && f.is_set());
        let Some(f) = frozen else {
            return Err(FreezeError::NotPaused(c.name.clone()).into());
        };
        f.thaw()?;
        engine.update_state(&c.id, |st| st.paused = false)?;
        events::container(&engine.paths.root, c, "unpause", &[]);
        Ok(())
    })
}

/// docker's State.Status: `paused` for a running container that is frozen.
pub fn status_name(c: &Container) -> &'static str {
    match c.is_running() && c.state.paused && freezer::is_paused(&c.id) {
        true => "paused",
        false => c.state.status.as_str(),
    }
}

/// `start` of a paused container is refused as docker refuses it (it runs
/// already; starting would silently leave it frozen).
pub fn refuse_start_if_paused(c: &Container) -> Result<(), EngineError> {
    match c.is_running() && freezer::is_paused(&c.id) {
        true => Err(FreezeError::StartPaused(c.name.clone()).into()),
        false => Ok(()),
    }
}

/// Refuses `exec` into a paused container, as docker does (the process would
/// start frozen and hang the caller).
pub fn refuse_if_paused(c: &Container) -> Result<(), EngineError> {
    match c.is_running() && freezer::is_paused(&c.id) {
        true => Err(FreezeError::Paused(c.name.clone()).into()),
        false => Ok(()),
    }
}
