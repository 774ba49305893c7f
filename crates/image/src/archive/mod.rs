//! Image archives: `save` writes docker's combined archive (docker-archive and OCI
//! layout in one tar) or an OCI archive; `load` reads docker-archive (old and
//! docker 25+'s combined form) and OCI layouts.

pub mod load;
pub mod save;

use crate::blobs::BlobError;
use crate::reference::ReferenceError;
use crate::store::{ImageStore, StoreError};
use crate::unpack::UnpackError;
use std::io;

pub use load::{load, Loaded};
pub use save::save;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// docker 25's combined archive (docker-archive + OCI layout).
    Docker,
    /// An OCI image layout in a tar.
    Oci,
}

impl Format {
    pub fn parse(s: &str) -> Result<Self, ArchiveError> {
        match s {
            "docker-archive" | "docker" => Ok(Format::Docker),
            "oci-archive" | "oci" => Ok(Format::Oci),
            other => Err(ArchiveError::Format(other.into())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    // No "{0}" in these two: the cause is their source, which the CLI prints
    // after the message (anyhow's chain), so it would show twice.
    #[error("unpacking a layer from the archive")]
    Unpack(#[from] UnpackError),
    #[error(transparent)]
    Layer(#[from] crate::layers::LayerError),
    #[error("the archive's JSON is invalid")]
    Json(#[from] serde_json::Error),
    #[error("writing the archive: {0}")]
    Write(io::Error),
    #[error("reading the archive: {0}")]
    Read(io::Error),
    #[error("unknown archive format {0:?}: use docker-archive or oci-archive")]
    Format(String),
    #[error(
        "the input is neither a docker archive (manifest.json) nor an OCI layout (index.json)"
    )]
    NotAnArchive,
    #[error("the archive is damaged: {0}")]
    Damaged(String),
    #[error(transparent)]
    Gc(#[from] crate::gc::GcError),
}

/// Unpacks a stored layer blob (compressed or not) into its chain-id directory
/// unless it is there. Returns the layer's uncompressed size.
pub(crate) fn unpack_blob(
    store: &ImageStore,
    blob: &str,
    diff_id: &str,
    chain_id: &str,
) -> Result<u64, ArchiveError> {
    let dest = store.layer_dir(chain_id);
    let placed = crate::layers::unpack_blob(&store.blobs, blob, diff_id, &dest)?;
    Ok(placed.unwrap_or_else(|| crate::disk_usage(&dest)))
}
