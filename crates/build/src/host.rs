//! What the builder needs from the machine, as one trait: [`BuildHost`]. The
//! berth binary implements it on the engine (RUN steps are containers made
//! through the engine's use cases); unit tests use a fake. The builder itself
//! never mounts, never starts a process and never touches the image store.

use crate::image::Image;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A layer of a root filesystem, as the image store knows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Layer {
    /// Digest of the uncompressed tar (what `rootfs.diff_ids` lists).
    pub diff_id: String,
    /// Digest of the stored blob (equal to `diff_id` for uncompressed blobs).
    pub digest: String,
    /// Size of the stored blob.
    pub size: u64,
    /// The blob's media type.
    pub media_type: String,
}

/// An image to build on.
#[derive(Debug, Clone)]
pub struct BaseImage {
    /// Its id (config digest).
    pub id: String,
    /// Its config, with docker's extensions.
    pub config: Image,
    /// Its layers, bottom first.
    pub layers: Vec<Layer>,
}

/// When `FROM` pulls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Only when the image is not local (docker's default).
    Missing,
    /// Always look for a newer image (`--pull`).
    Always,
}

/// `RUN --network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunNetwork {
    /// The host's default container network (a bridge with NAT).
    Default,
    /// Loopback only.
    None,
    /// The host's network namespace.
    Host,
}

/// A mount of a RUN step's container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunMount {
    /// A host path (file or directory) bound at `target`.
    Bind {
        source: PathBuf,
        target: String,
        read_only: bool,
    },
    /// An empty tmpfs.
    Tmpfs { target: String, size: Option<u64> },
}

/// One RUN step: the process and what it sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    /// The command line, shell included.
    pub args: Vec<String>,
    /// `KEY=value`, in order.
    pub env: Vec<String>,
    /// `USER` (name or uid, optionally `:group`); empty for root.
    pub user: String,
    /// The working directory (absolute).
    pub workdir: String,
    pub network: RunNetwork,
    pub mounts: Vec<RunMount>,
}

/// What a RUN step left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunResult {
    /// The process's exit code.
    pub exit_code: i32,
    /// The changes as a layer when it exited 0 and changed something.
    pub layer: Option<Layer>,
}

/// A mounted working copy: the layers of a state plus a fresh writable upper
/// directory. Dropping it discards the changes and unmounts.
pub trait Snapshot {
    /// Where the merged tree is mounted (writes land in the upper directory).
    fn root(&self) -> &Path;
    /// Turns the changes into a layer (`None`: nothing changed) and unmounts.
    fn commit(self: Box<Self>) -> Result<Option<Layer>, HostError>;
}

/// A read-only view of the layers of a state (`COPY --from`, `RUN --mount=from=`).
pub trait View {
    /// Where the merged tree is visible.
    fn root(&self) -> &Path;
}

/// What an `ADD <url>` download gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetched {
    /// The `Last-Modified` time, in seconds since the epoch.
    pub modified: Option<i64>,
}

/// A failure of the host, with its own typed error inside.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct HostError(pub Box<dyn std::error::Error + Send + Sync>);

impl HostError {
    /// Wraps any error of the host.
    pub fn new(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        HostError(Box::new(e))
    }
}

/// The machine under the builder.
pub trait BuildHost {
    /// Finds an image by reference or id (pulling it per `pull` when the host
    /// can) and returns its config and layers.
    fn image(&mut self, name: &str, pull: PullPolicy) -> Result<BaseImage, HostError>;

    /// Whether every layer of a chain is still stored (a cache hit is only
    /// usable when it is).
    fn has_layers(&self, layers: &[Layer]) -> bool;

    /// Mounts a working copy of `layers` (bottom first; empty for scratch).
    fn snapshot(&mut self, layers: &[Layer]) -> Result<Box<dyn Snapshot>, HostError>;

    /// Mounts a read-only view of `layers`.
    fn view(&mut self, layers: &[Layer]) -> Result<Box<dyn View>, HostError>;

    /// Runs `spec` as a container on `layers` plus a fresh upper directory,
    /// streaming its output (stdout and stderr) to `output`; on exit 0 the
    /// upper directory becomes the result's layer.
    fn run(
        &mut self,
        layers: &[Layer],
        spec: &RunSpec,
        output: &mut dyn Write,
    ) -> Result<RunResult, HostError>;

    /// Downloads `url` (ADD) into `out`.
    fn fetch(&mut self, url: &str, out: &mut dyn Write) -> Result<Fetched, HostError>;

    /// Stores the image (config blob as given, manifest, record) and points
    /// `tags` at it; returns its id.
    fn register(
        &mut self,
        config: &[u8],
        layers: &[Layer],
        tags: &[String],
    ) -> Result<String, HostError>;

    /// A directory private to root where the builder keeps its cache, the
    /// stat cache of contexts and `RUN --mount=type=cache` directories
    /// (`$BERTH_ROOT/build`).
    fn state_dir(&self) -> PathBuf;
}
