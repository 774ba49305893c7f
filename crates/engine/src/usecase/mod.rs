//! The engine's use cases: what the CLI, the builder (each Dockerfile `RUN` is a
//! container) and later a CRI server call. Each takes typed options and returns typed
//! results; none parses docker's flag strings (the CLI does that once, in its
//! `specgen`) and none needs a terminal: attached output goes to the caller's writers.
//!
//! | use case | function |
//! |---|---|
//! | create a container from a [`ContainerConfig`] | [`create`] |
//! | create, start, attach or detach, diagnose | [`run`] |
//! | start (detached or attached) | [`start`], [`start_attached`] |
//! | attach to a running container | [`attach`] |
//! | stop, restart, kill, remove, wait | [`stop`], [`restart`], [`kill`], [`remove`], [`wait`] |
//! | run a process in a running container | [`exec`] |
//! | make an image of it (docker's way, or with the caller's config) | [`commit`], [`commit_as`] |
//! | list its changes, archive its files | [`diff`], [`export`] |
//!
//! Starting runs `berth monitor` (the current executable, re-executed): the caller is
//! the `berth` binary.
//!
//! Every use case that changes a running container (start, stop, restart, kill,
//! remove, network connect/disconnect) runs in [`exclusive`]: one at a time per
//! container, on its row as it is once the lock is held (see `crate::lock`).

mod control;
mod pause;
mod rename;
mod run;
mod snapshot;
mod update;

use crate::lock::{ContainerLock, LockError};
use crate::model::Container;
use crate::store::StoreError;
use crate::{lifecycle, Engine, EngineError};

pub use crate::client::{attach, AttachStreams};
pub use crate::create::{create, ContainerConfig, SystemdMode};
pub use crate::exec::{exec, ExecOptions};
pub use crate::limits::ResourceUpdate;
pub use control::{
    connect_network, disconnect_network, kill, remove, restart, stop, wait, RemoveOptions,
    StopOptions,
};
pub use pause::{pause, refuse_if_paused, status_name, unpause};
pub use rename::{rename, RenameError};
pub use run::{run, start, start_attached, OnCreated, RunMode, RunOptions, RunOutcome};
pub use snapshot::{
    commit, commit_as, committed_config, diff, export, mount_destinations, CommitOptions, NewImage,
};
pub use update::{update, UpdateError};

/// Refusals of the use cases themselves (the operations they call have their own).
#[derive(Debug, thiserror::Error)]
pub enum UseCaseError {
    #[error("--wait=ready needs a systemd container: its command is not an init; add --systemd=always if it speaks sd_notify")]
    WaitReadyNeedsSystemd,
    #[error(transparent)]
    Change(#[from] berth_image::change::ChangeError),
    #[error(transparent)]
    Pause(#[from] crate::freezer::FreezeError),
    #[error(transparent)]
    Commit(#[from] berth_image::commit::CommitError),
    #[error(transparent)]
    Diff(#[from] berth_image::diff::DiffError),
    #[error("exporting the container: {0}")]
    Export(#[from] berth_image::layer_writer::LayerWriteError),
    #[error(transparent)]
    Rename(#[from] RenameError),
    #[error(transparent)]
    Update(#[from] UpdateError),
}

/// Runs `op` holding `c`'s lock, on the container as it is now: read again once the
/// lock is held (the caller's copy may be stale by then) and reconciled if its
/// monitor died. A container removed meanwhile is not found.
pub(crate) fn exclusive<R>(
    engine: &Engine,
    c: &Container,
    op: impl FnOnce(&Container, &ContainerLock) -> Result<R, EngineError>,
) -> Result<R, EngineError> {
    let gone = || EngineError::from(StoreError::NotFound(c.name.clone()));
    let held = match crate::lock::lock(&c.id, &engine.paths.container_dir(&c.id)) {
        Err(LockError::Gone(_)) => return Err(gone()),
        other => other?,
    };
    let now = match engine.container(&c.id) {
        Err(EngineError::Store(StoreError::NotFound(_))) => return Err(gone()),
        other => other?,
    };
    let now = lifecycle::reconcile_locked(engine, now)?;
    op(&now, &held)
}
