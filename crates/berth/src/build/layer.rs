//! An upper directory (of a snapshot or of a RUN step's container) becomes a
//! layer: the image crate's layer writer archives it (overlay whiteouts as
//! OCI ones) straight into the blob store, and the directory itself, already
//! in the unpacked-layer format overlay mounts use, is renamed into the
//! layer's chain-id directory (no second unpack).
//!
//! Before that, mount stubs are removed: the files and directories a runtime
//! made in the upper directory only to mount something on (`/etc/hosts`, a
//! cache mount's target, `/run/secrets/x` and its new parents), which buildkit
//! leaves out of layers too.

use berth_build::host::Layer;
use berth_image::blobs::{BlobError, BlobStore};
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Write(#[from] berth_image::layer_writer::LayerWriteError),
    #[error("moving the new layer into {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Place(#[from] berth_image::layers::LayerError),
    #[error("the layer writer stopped unexpectedly")]
    WriterPanicked,
}

const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";

/// Commits `upper` (whose lower layers are `lowers`, top-most first) as the
/// layer above `parent` (diff ids). `None`: nothing changed.
pub fn commit_upper(
    store_root: &Path,
    upper: &Path,
    lowers: &[PathBuf],
    stubs: &HashSet<PathBuf>,
    parent: &[String],
) -> Result<Option<Layer>, LayerError> {
    prune_stubs(upper, lowers, stubs);
    let blobs = BlobStore::open(store_root)?;
    let (diff_id, size, entries) = archive(&blobs, upper)?;
    if entries == 0 {
        let _ = blobs.remove(&diff_id);
        return Ok(None);
    }
    let mut chain = parent.to_vec();
    chain.push(diff_id.clone());
    let chain_id = berth_image::chain_ids(&chain).pop().unwrap_or_default();
    let dest = store_root
        .join("layers")
        .join(berth_image::blobs::store_name(&chain_id));
    if !dest.is_dir() {
        place(&blobs, upper, &dest, &diff_id)?;
    }
    Ok(Some(Layer {
        digest: diff_id.clone(),
        diff_id,
        size,
        media_type: LAYER_MEDIA_TYPE.to_string(),
    }))
}

/// Archives `upper` into the blob store through a pipe (no temporary copy).
fn archive(blobs: &BlobStore, upper: &Path) -> Result<(String, u64, u64), LayerError> {
    let (mut reader, writer) = io::pipe().map_err(|source| LayerError::Io {
        path: upper.to_path_buf(),
        source,
    })?;
    let dir = upper.to_path_buf();
    let thread = std::thread::spawn(move || {
        let out = io::BufWriter::with_capacity(1 << 16, writer);
        berth_image::layer_writer::write_layer(&dir, &HashSet::new(), out)
    });
    let stored = blobs.put_reader(&mut reader, None);
    drop(reader);
    let written = thread.join().map_err(|_| LayerError::WriterPanicked)?;
    let entries = written?;
    let (digest, size) = stored?;
    Ok((digest, size, entries))
}

/// Moves the upper directory into place; across file systems, unpacks the
/// blob instead.
fn place(blobs: &BlobStore, upper: &Path, dest: &Path, diff_id: &str) -> Result<(), LayerError> {
    let io_at = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LayerError::Io { path, source }
    };
    let parent = dest.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(parent).map_err(io_at(parent))?;
    // Durable (flushed, renamed, parent flushed); another build's identical
    // layer placed first is kept.
    if berth_image::layers::place_dir(upper, dest, diff_id).is_ok() || dest.is_dir() {
        return Ok(());
    }
    // The blob is the plain tar, so its digest is the diff id.
    berth_image::layers::unpack_blob(blobs, diff_id, diff_id, dest)?;
    Ok(())
}

/// Removes mount stubs from `upper`: each stub absent from the lower layers,
/// then its parents while they are empty and absent from the lower layers.
fn prune_stubs(upper: &Path, lowers: &[PathBuf], stubs: &HashSet<PathBuf>) {
    let in_lowers = |rel: &Path| {
        lowers
            .iter()
            .any(|l| std::fs::symlink_metadata(l.join(rel)).is_ok())
    };
    for stub in stubs {
        let mut rel = stub.clone();
        loop {
            if rel.as_os_str().is_empty() || in_lowers(&rel) {
                break;
            }
            let path = upper.join(&rel);
            let removed = match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => std::fs::remove_dir(&path).is_ok(),
                Ok(m) if m.len() == 0 && rel == *stub => std::fs::remove_file(&path).is_ok(),
                _ => false,
            };
            if !removed {
                break;
            }
            rel = match rel.parent() {
                Some(p) => p.to_path_buf(),
                None => break,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stubs_and_their_new_empty_parents_go_others_stay() {
        let upper = tempfile::tempdir().unwrap();
        let lower = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(lower.path().join("run")).unwrap();
        std::fs::create_dir_all(upper.path().join("run/secrets")).unwrap();
        std::fs::write(upper.path().join("run/secrets/tok"), "").unwrap();
        std::fs::create_dir_all(upper.path().join("cache")).unwrap();
        std::fs::create_dir_all(upper.path().join("etc")).unwrap();
        std::fs::write(upper.path().join("etc/hosts"), "").unwrap();
        std::fs::write(upper.path().join("etc/kept"), "x").unwrap();
        let stubs: HashSet<PathBuf> = ["run/secrets/tok", "cache", "etc/hosts"]
            .iter()
            .map(PathBuf::from)
            .collect();
        prune_stubs(upper.path(), &[lower.path().to_path_buf()], &stubs);
        assert!(!upper.path().join("run/secrets").exists());
        assert!(
            upper.path().join("run").exists(),
            "run is in the image; its copy-up stays"
        );
        assert!(!upper.path().join("cache").exists());
        assert!(!upper.path().join("etc/hosts").exists());
        assert!(upper.path().join("etc/kept").exists());
    }
}
