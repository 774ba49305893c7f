//! The unpacked layer directories (`layers/<chain id>`). Each is filled once: a
//! stored blob is unpacked into a temporary directory beside it, checked against
//! the diff id the image config promises, and renamed into place, so a reader
//! never sees half a layer and two processes placing one layer are both safe (the
//! loser's identical copy is dropped); the content is flushed before the rename
//! and the rename after it ([`place_dir`]). Temporaries left by killed processes
//! are swept ([`sweep_store_temps`]) by the next writer, and by any next command when a
//! writer was killed holding its lease (`gc::sweep_if_a_writer_died`). import, commit, load, pull (for a blob
//! already on disk) and the builder all place layers here.

use crate::blobs::{unique_suffix, BlobError, BlobStore, HashingReader};
use crate::unpack::{decompressed, unpack_layer, UnpackError};
use std::io;
use std::path::{Path, PathBuf};

/// Prefix of the temporary directories beside the layer directories.
pub const TMP_PREFIX: &str = ".tmp-";

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error("preparing layer directory {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    // No "{source}": the CLI prints the cause after the message (anyhow's chain).
    #[error("unpacking layer {blob}")]
    Unpack {
        blob: String,
        #[source]
        source: UnpackError,
    },
    #[error("layer {blob} unpacks to {actual}, but the image config says {expected}: the image is damaged; remove it and pull or load it again")]
    DiffId {
        blob: String,
        expected: String,
        actual: String,
    },
}

/// Unpacks the stored blob `blob` (plain, gzip or zstd) into `dest` unless `dest`
/// is there already. The uncompressed stream must hash to `diff_id`, or nothing is
/// placed. Returns the uncompressed size, `None` when the directory was there.
pub fn unpack_blob(
    blobs: &BlobStore,
    blob: &str,
    diff_id: &str,
    dest: &Path,
) -> Result<Option<u64>, LayerError> {
    if dest.is_dir() {
        return Ok(None);
    }
    let parent = dest.parent().unwrap_or(Path::new("/"));
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LayerError::Io { path, source }
    };
    std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    sweep_dead_temps(parent, TMP_PREFIX);
    let tmp = parent.join(format!(
        "{TMP_PREFIX}{}-{}",
        std::process::id(),
        unique_suffix()
    ));
    std::fs::create_dir(&tmp).map_err(io_err(&tmp))?;
    let result = unpack_checked(blobs, blob, diff_id, &tmp).and_then(|size| {
        place_dir(&tmp, dest, diff_id)
            .map(|_| size)
            .map_err(io_err(dest))
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result.map(Some)
}

/// Makes a filled temporary directory the layer `dest`, durably. First its diff
/// id is written to `diff-ids/<chain>` (a chain id cannot be traced back to it;
/// the collector keeps a layer the build cache names by it, see [`crate::gc`]);
/// the content is flushed to disk (one `syncfs` of the store's file system: a
/// layer is thousands of files, one fsync each would cost more), then renamed
/// into place, then the parent directory is flushed, so after a crash the name
/// exists only with its whole content. When another process placed the same
/// layer first (the rename finds `dest`), theirs is identical: ours is removed
/// and `false` returned.
pub fn place_dir(tmp: &Path, dest: &Path, diff_id: &str) -> io::Result<bool> {
    let note = diff_id_file(dest);
    if let Some(dir) = note.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&note, diff_id)?;
    let dir = std::fs::File::open(tmp)?;
    rustix::fs::syncfs(&dir)?;
    if let Err(e) = std::fs::rename(tmp, dest) {
        if dest.is_dir() {
            let _ = std::fs::remove_dir_all(tmp);
            return Ok(false);
        }
        return Err(e);
    }
    fsync_parent(dest)?;
    Ok(true)
}

/// Where the diff id of the layer directory `layers/<chain>` is kept:
/// `diff-ids/<chain>` beside `layers/` (so `layers/` holds layers only).
pub fn diff_id_file(layer_dir: &Path) -> PathBuf {
    let layers = layer_dir.parent().unwrap_or(Path::new("/"));
    let root = layers.parent().unwrap_or(Path::new("/"));
    root.join("diff-ids")
        .join(layer_dir.file_name().unwrap_or_default())
}

/// Flushes the directory holding `path` (a rename or removal in it is durable).
pub fn fsync_parent(path: &Path) -> io::Result<()> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    std::fs::File::open(parent)?.sync_all()
}

/// Sweeps what killed writers left in the image store: temporary blobs and
/// layers, pull's unpack directories, load's extraction directories and save's
/// scratch files (only those whose process is gone). Partial downloads in
/// `tmp/partial` stay: the next pull resumes them, and they are never under a
/// blob's name until complete.
pub fn sweep_store_temps(root: &Path) {
    sweep_dead_temps(&root.join("blobs").join("sha256"), TMP_PREFIX);
    sweep_dead_temps(&root.join("layers"), TMP_PREFIX);
    for prefix in ["unpack-", "load-", ".save-"] {
        sweep_dead_temps(&root.join("tmp"), prefix);
    }
}

fn unpack_checked(
    blobs: &BlobStore,
    blob: &str,
    diff_id: &str,
    tmp: &Path,
) -> Result<u64, LayerError> {
    let unpack_err = |source| LayerError::Unpack {
        blob: blob.into(),
        source,
    };
    let f = blobs.open_blob(blob)?;
    let plain = decompressed(Box::new(io::BufReader::new(f))).map_err(unpack_err)?;
    let mut diff = HashingReader::new(plain);
    unpack_layer(&mut diff, tmp).map_err(unpack_err)?;
    // The tar may end before its padding: drain it so every byte is hashed.
    io::copy(&mut diff, &mut io::sink()).map_err(|e| unpack_err(UnpackError::Read(e)))?;
    let size = diff.bytes;
    let actual = diff.digest();
    if actual != diff_id {
        return Err(LayerError::DiffId {
            blob: blob.into(),
            expected: diff_id.into(),
            actual,
        });
    }
    Ok(size)
}

/// Removes the entries of `dir` named `<prefix><pid>-...` whose process is gone:
/// what a killed unpack or download left behind.
pub fn sweep_dead_temps(dir: &Path, prefix: &str) {
    sweep_dead_owned(dir, |name| {
        name.strip_prefix(prefix)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
    });
}

/// Whether the process that named a temporary after itself has ended (a reused
/// pid reads as alive: its temporary waits for a later sweep).
pub fn owner_is_gone(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes the entries of `dir` whose owner (the pid `owner` reads from the
/// name; `None`: not a temporary) is gone. Directories are removed only once no
/// mount is left below them.
pub fn sweep_dead_owned(dir: &Path, owner: impl Fn(&str) -> Option<u32>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = owner(&name) else {
            continue;
        };
        if owner_is_gone(pid) {
            let path = e.path();
            let _ = match std::fs::symlink_metadata(&path) {
                // Never remove through a mount a killed builder left (its
                // overlay's merged view): detach them first, or keep the entry.
                Ok(m) if m.is_dir() && detach_mounts_under(&path) => std::fs::remove_dir_all(&path),
                Ok(m) if m.is_dir() => Ok(()),
                _ => std::fs::remove_file(&path),
            };
        }
    }
}

/// Detaches every mount at or below `dir` (deepest first); true when none is
/// left.
fn detach_mounts_under(dir: &Path) -> bool {
    let mounts = || -> Vec<PathBuf> {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut v: Vec<PathBuf> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(|p| PathBuf::from(p.replace("\\040", " ")))
            .filter(|p| p.starts_with(dir))
            .collect();
        v.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        v
    };
    for m in mounts() {
        let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
    }
    mounts().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(name: &str, body: &[u8]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        tar.append_data(&mut h, name, body).unwrap();
        tar.into_inner().unwrap()
    }

    #[test]
    fn places_a_layer_once_and_refuses_a_wrong_diff_id() {
        let root = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(root.path()).unwrap();
        let data = tar_of("f", b"hi");
        let digest = blobs.put_bytes(&data).unwrap();
        let dest = root.path().join("layers/abc");

        let wrong = crate::blobs::sha256_digest(b"other");
        let err = unpack_blob(&blobs, &digest, &wrong, &dest).unwrap_err();
        assert!(matches!(err, LayerError::DiffId { .. }), "{err:?}");
        assert!(!dest.exists(), "a layer that fails its check is not placed");

        let size = unpack_blob(&blobs, &digest, &digest, &dest).unwrap();
        assert_eq!(size, Some(data.len() as u64));
        assert_eq!(std::fs::read(dest.join("f")).unwrap(), b"hi");
        assert_eq!(unpack_blob(&blobs, &digest, &digest, &dest).unwrap(), None);
        let left: Vec<_> = std::fs::read_dir(root.path().join("layers"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec!["abc"], "no temporary directory is left");
        assert_eq!(
            std::fs::read_to_string(diff_id_file(&dest)).unwrap(),
            digest
        );
    }

    #[test]
    fn dead_temporaries_are_swept_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        // pid_max is at most 2^22: this pid cannot run.
        let dead = dir.path().join(".tmp-99999999-aa");
        let live = dir.path().join(format!(".tmp-{}-bb", std::process::id()));
        let other = dir.path().join("sha256-layer");
        for d in [&dead, &live, &other] {
            std::fs::create_dir(d).unwrap();
        }
        sweep_dead_temps(dir.path(), TMP_PREFIX);
        assert!(!dead.exists());
        assert!(live.exists() && other.exists());
    }
}
