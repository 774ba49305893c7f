//! `berth import`: a root filesystem tarball becomes a one-layer OCI image.

use crate::blobs::{BlobError, HashingReader};
use crate::change::{apply_change, ChangeError};
use crate::reference::Reference;
use crate::store::{ImageStore, StoreError};
use crate::unpack::{decompressed, UnpackError};
use oci_spec::image::{
    Config, Descriptor, Digest, HistoryBuilder, ImageConfiguration, ImageManifestBuilder,
    MediaType, RootFs,
};
use std::io::Read;
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Change(#[from] ChangeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    #[error("the import source is not a tar archive (no entries found); give a root filesystem tarball (tar, tar.gz)")]
    NotTar,
    #[error("building image metadata: {0}")]
    Spec(String),
    #[error("cannot import digest reference {0}: an import makes a new image, whose digest nobody can know beforehand; give NAME[:TAG]")]
    DigestReference(String),
    #[error(transparent)]
    Layer(#[from] crate::layers::LayerError),
    #[error(transparent)]
    Gc(#[from] crate::gc::GcError),
}

/// Imports `source` (tar or gzip'd tar) as an image, applies `changes`, tags it as
/// `reference` if given, and returns the image id (config digest).
pub fn import(
    store: &ImageStore,
    source: Box<dyn Read>,
    reference: Option<&Reference>,
    changes: &[String],
    message: Option<&str>,
) -> Result<String, ImportError> {
    // Validate before touching the store: bad input loses nothing. docker refuses a
    // digest here too ("cannot import digest reference").
    if let Some(r) = reference.filter(|r| r.digest.is_some()) {
        return Err(ImportError::DigestReference(r.to_string()));
    }
    let mut config = Config::default();
    for c in changes {
        apply_change(&mut config, c)?;
    }
    if config.env().is_none() {
        config.set_env(Some(vec![crate::DEFAULT_PATH_ENV.to_string()]));
    }

    // Held until the image row exists: a concurrent rmi never frees the layer
    // this import finds already unpacked.
    let _lease = store.lease()?;
    let mut hashing = HashingReader::new(decompressed(source)?);
    let (diff_id, size) = store.blobs.put_reader(&mut hashing, None)?;
    if size < 512 {
        return Err(ImportError::NotTar);
    }
    // One layer: its chain id is its diff id.
    crate::layers::unpack_blob(&store.blobs, &diff_id, &diff_id, &store.layer_dir(&diff_id))?;

    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let mut image = ImageConfiguration::default();
    image.set_created(Some(created.clone()));
    image.set_config(Some(config));
    let mut rootfs = RootFs::default();
    rootfs.set_diff_ids(vec![diff_id.clone()]);
    image.set_rootfs(rootfs);
    let history = HistoryBuilder::default()
        .created(created.clone())
        .created_by("berth import")
        .comment(message.unwrap_or("Imported from tarball").to_string())
        .build()
        .map_err(|e| ImportError::Spec(e.to_string()))?;
    image.set_history(Some(vec![history]));
    let config_json = serde_json::to_vec(&image).map_err(|e| ImportError::Spec(e.to_string()))?;
    let config_digest = store.blobs.put_bytes(&config_json)?;

    let digest = |d: &str| Digest::from_str(d).map_err(|e| ImportError::Spec(e.to_string()));
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(Descriptor::new(
            MediaType::ImageConfig,
            config_json.len() as u64,
            digest(&config_digest)?,
        ))
        .layers(vec![Descriptor::new(
            MediaType::ImageLayer,
            size,
            digest(&diff_id)?,
        )])
        .build()
        .map_err(|e| ImportError::Spec(e.to_string()))?;
    let manifest_json =
        serde_json::to_vec(&manifest).map_err(|e| ImportError::Spec(e.to_string()))?;
    let manifest_digest = store.blobs.put_bytes(&manifest_json)?;

    crate::gc::pause_point("import-before-record");
    store.record(&config_digest, &manifest_digest, &created, size)?;
    if let Some(r) = reference {
        store.tag(r, &config_digest)?;
    }
    Ok(config_digest)
}
