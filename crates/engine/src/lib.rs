//! berth-engine: containers. User intent (`ContainerSpec`) becomes an OCI bundle; the
//! lifecycle (create, start, stop, kill, rm), the per-container monitor, exec, logs
//! and attach live here, over the shared SQLite state store.

pub mod attach;
pub mod attach_warmup;
pub mod boot;
pub mod boot_refresh;
pub mod bundle;
pub mod cgroups;
pub mod client;
pub mod copy;
pub mod create;
pub mod detachkeys;
pub mod doctor;
pub mod events;
pub mod exec;
mod exec_relay;
pub mod freezer;
pub mod health;
pub mod hostresolve;
pub mod inherit;
pub mod init;
mod kernfile;
pub mod launch;
pub mod lifecycle;
pub mod limits;
pub mod lock;
pub mod logs;
pub mod memory;
pub mod model;
pub mod monitor;
pub mod mountns;
pub mod names;
pub mod networking;
pub mod notify;
pub mod oci;
pub mod paths;
mod pidfs;
pub mod prune;
pub mod restart;
pub mod sdbus;
pub mod spawn;
pub mod stats;
pub mod store;
pub mod usecase;
pub mod volumes;
/// Moved to the image crate, which the builder shares.
pub use berth_image::users;

use berth_image::ImageStore;
use model::{Container, ContainerState};
use paths::Paths;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Image(#[from] berth_image::StoreError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Runtime(#[from] berth_runtime::RuntimeError),
    #[error(transparent)]
    Console(#[from] berth_runtime::console::ConsoleError),
    #[error(transparent)]
    Oci(#[from] oci::OciError),
    #[error(transparent)]
    User(#[from] users::UserError),
    #[error(transparent)]
    Signal(#[from] berth_runtime::signal::SignalError),
    #[error(transparent)]
    InRoot(#[from] berth_image::inroot::InRootError),
    #[error("working directory {workdir}: {error}")]
    Workdir {
        workdir: String,
        error: berth_image::inroot::InRootError,
    },
    #[error("the image's VOLUME {path:?} is refused: {why}; rebuild the image with an absolute, plain path")]
    ImageVolume { path: String, why: String },
    #[error(transparent)]
    Paths(#[from] paths::PathsError),
    #[error(transparent)]
    Cgroup(#[from] cgroups::CgroupError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("mounting the container filesystem at {path}: {why}")]
    Mount { path: PathBuf, why: String },
    #[error("{0}: {1}")]
    Sys(&'static str, nix::errno::Errno),
    #[error("{0}")]
    Invalid(String),
    #[error("container {0} is not running; start it first (berth start {0})")]
    NotRunning(String),
    #[error("you cannot remove a running container {0}: stop it first (berth stop {0}) or force removal (berth rm -f {0})")]
    RemoveRunning(String),
    #[error("the container's monitor exited before reporting: {message} (its log: {log}); try the command again")]
    MonitorLost { message: String, log: PathBuf },
    #[error("{message}")]
    StartFailed { code: i32, message: String },
    #[error(transparent)]
    Net(#[from] berth_net::NetError),
    #[error("{why}\n{diagnosis}")]
    NotReady { why: String, diagnosis: String },
    #[error(transparent)]
    Create(#[from] create::CreateError),
    #[error(transparent)]
    UseCase(#[from] usecase::UseCaseError),
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    #[error(transparent)]
    Volume(#[from] volumes::VolumeError),
    #[error(transparent)]
    Copy(#[from] copy::CopyError),
    #[error(transparent)]
    Restart(#[from] restart::RestartError),
    #[error(transparent)]
    Init(#[from] init::InitError),
    #[error(transparent)]
    Health(#[from] health::HealthError),
}

impl EngineError {
    /// docker's exit codes: 127 command not found, 126 cannot invoke, else 125.
    pub fn exit_code(&self) -> i32 {
        match self {
            EngineError::Runtime(r) => r.exit_code(),
            EngineError::StartFailed { code, .. } => *code,
            _ => 125,
        }
    }
}

pub struct Engine {
    pub paths: Paths,
    pub images: ImageStore,
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

impl Engine {
    pub fn open() -> Result<Self, EngineError> {
        let paths = Paths::from_env();
        paths.ensure_private()?;
        let images = ImageStore::open_with(&paths.root, &[berth_net::network::SCHEMA])?;
        Ok(Engine { paths, images })
    }

    pub fn conn(&self) -> &rusqlite::Connection {
        &self.images.conn
    }

    /// The stored row, as is.
    pub fn container(&self, id: &str) -> Result<Container, EngineError> {
        Ok(store::get(self.conn(), id)?)
    }

    /// Looks a container up by id, name or id prefix, and reconciles it with reality
    /// (a container whose monitor died is stopped and cleaned up first).
    pub fn find(&self, needle: &str) -> Result<Container, EngineError> {
        let c = store::find(self.conn(), needle)?;
        lifecycle::reconcile(self, c)
    }

    /// Every container, reconciled as [`Engine::find`] does; and, as the look at
    /// all of them it is, the bridges dead monitors owed are reclaimed too.
    pub fn list(&self) -> Result<Vec<Container>, EngineError> {
        let all = store::list(self.conn())?
            .into_iter()
            .map(|c| lifecycle::reconcile(self, c))
            .filter(|r| !matches!(r, Err(EngineError::Store(store::StoreError::NotFound(_)))))
            .collect();
        crate::networking::reclaim_abandoned(self);
        all
    }

    /// Changes a container's state in one transaction (see `store::update_state`).
    pub fn update_state<R>(
        &self,
        id: &str,
        change: impl FnOnce(&mut ContainerState) -> R,
    ) -> Result<R, EngineError> {
        Ok(store::update_state(self.conn(), id, change)?)
    }

    pub fn runtime(&self, name: &str) -> Result<Box<dyn berth_runtime::Runtime>, EngineError> {
        Ok(berth_runtime::by_name(name, &self.paths.runtime_state())?)
    }
}
