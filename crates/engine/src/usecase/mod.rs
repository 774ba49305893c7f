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

mod control;
mod run;
mod snapshot;

pub use crate::client::{attach, AttachStreams};
pub use crate::create::{create, ContainerConfig, SystemdMode};
pub use crate::exec::{exec, ExecOptions};
pub use control::{kill, remove, restart, stop, wait, RemoveOptions, StopOptions};
pub use run::{run, start, start_attached, RunMode, RunOptions, RunOutcome};
pub use snapshot::{
    commit, commit_as, committed_config, diff, export, mount_destinations, CommitOptions, NewImage,
};

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
}
