//! `berth import`: a root filesystem tarball becomes a one-layer OCI image.

use crate::blobs::{BlobError, HashingReader};
use crate::change::{apply_change, ChangeError};
use crate::reference::Reference;
use crate::store::{ImageStore, StoreError};
use crate::unpack::{decompressed, unpack_layer, UnpackError};
use oci_spec::image::{
    Config, Descriptor, Digest, HistoryBuilder, ImageConfiguration, ImageManifestBuilder,
    MediaType, RootFs,
};
use std::io::{self, Read};
use std::path::Path;
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
    #[error("preparing layer directory {path}: {source}")]
    Io { path: String, source: io::Error },
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

    let mut hashing = HashingReader::new(decompressed(source)?);
    let (diff_id, size) = store.blobs.put_reader(&mut hashing, None)?;
    if size < 512 {
        return Err(ImportError::NotTar);
    }
    unpack_once(store, &diff_id)?;

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

    store.record(&config_digest, &manifest_digest, &created, size)?;
    if let Some(r) = reference {
        store.tag(r, &config_digest)?;
    }
    Ok(config_digest)
}

/// Unpacks a layer blob into its chain-id directory unless another process already
/// did; a temp dir plus rename makes concurrent imports of the same layer safe.
fn unpack_once(store: &ImageStore, diff_id: &str) -> Result<(), ImportError> {
    let dest = store.layer_dir(diff_id);
    if dest.is_dir() {
        return Ok(());
    }
    let parent = dest.parent().unwrap_or(Path::new("/"));
    let io_err = |path: &Path| {
        let path = path.display().to_string();
        move |source| ImportError::Io { path, source }
    };
    std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    let tmp = parent.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        crate::blobs::unique_suffix()
    ));
    std::fs::create_dir(&tmp).map_err(io_err(&tmp))?;
    let result = store
        .blobs
        .open_blob(diff_id)
        .map_err(ImportError::from)
        .and_then(|f| unpack_layer(io::BufReader::new(f), &tmp).map_err(ImportError::from));
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if std::fs::rename(&tmp, &dest).is_err() {
        // Someone else won the race; theirs is identical.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(())
}
