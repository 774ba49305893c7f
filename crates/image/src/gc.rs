//! Garbage collection of blobs and unpacked layers, safe against concurrent writers.
//!
//! **Leases.** Every command that writes into the store (import, load, pull, push,
//! commit, build) holds a *lease*: a shared `flock` on `<root>/gc.lock` from before
//! it looks for a blob or layer it may reuse until its image row is committed. A
//! collection runs only under the exclusive lock, taken without waiting: while any
//! writer is at work it is *deferred* (nothing is deleted; the next `rmi` or prune
//! collects). So a pull that found a layer already present can never see it deleted
//! before its image refers to it, and `rmi` never waits for a long pull. An flock
//! belongs to the open file, not to the process: nested leases (build → pull) are
//! independent, it dies with a killed process, and it is closed on exec (the monitor
//! is exec'd, so it never inherits one).
//!
//! **Roots.** What stays: the config, manifest and layer blobs of every image row
//! (a container's image has a row: the database refuses to drop it), the layers
//! (chain ids) of every image, the blobs and diff ids the caller names (the build
//! cache's layers), and the gzip form remembered for a diff id still in use.
//!
//! **Sweep.** A full mark and sweep of `blobs/sha256` and of `layers/`. A layer
//! directory is named by its chain id, which cannot be traced back to a diff id,
//! so each is placed with its diff id in `diff-ids/<chain>`
//! ([`crate::layers::place_dir`]): a layer no image chain uses stays while the
//! build cache names its diff id. Directories without that note (placed by an
//! older berth) and in no image go.

use crate::blobs::BlobError;
use crate::store::{ImageStore, StoreError};
use rusqlite::params;
use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("image store lock {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("removing {path}: {source}")]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<rusqlite::Error> for GcError {
    fn from(e: rusqlite::Error) -> Self {
        GcError::Store(e.into())
    }
}

const LOCK_FILE: &str = "gc.lock";

/// A writer's hold on the store: while one exists, no collection deletes anything.
/// It also leaves a mark, `writers/<pid>-<n>`, removed when the lease is dropped:
/// a mark whose process is gone tells the next command that a writer was killed
/// and its temporaries need sweeping ([`sweep_if_a_writer_died`]).
#[derive(Debug)]
pub struct Lease {
    _file: File,
    mark: Option<PathBuf>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(mark) = &self.mark {
            let _ = std::fs::remove_file(mark);
        }
    }
}

const WRITERS_DIR: &str = "writers";

fn mark_writer(root: &Path) -> Option<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = root.join(WRITERS_DIR);
    std::fs::create_dir_all(&dir).ok()?;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mark = dir.join(format!("{}-{n}", std::process::id()));
    File::create(&mark).ok().map(|_| mark)
}

/// Runs `sweep` when a writer was killed while holding its lease (its mark is
/// left and its process is gone), then drops those marks. Sweeping lists every
/// blob, layer and build cache entry, so it is not done by every command: in the
/// usual case this costs one read of an empty directory. Writers also sweep when
/// they take a lease ([`lease`]), which covers a process killed before its mark.
pub fn sweep_if_a_writer_died(root: &Path, sweep: impl FnOnce()) {
    let dead: Vec<PathBuf> = std::fs::read_dir(root.join(WRITERS_DIR))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name.split('-').next().and_then(|p| p.parse::<u32>().ok());
            pid.is_some_and(crate::layers::owner_is_gone)
        })
        .map(|e| e.path())
        .collect();
    if dead.is_empty() {
        return;
    }
    sweep();
    for mark in dead {
        let _ = std::fs::remove_file(mark);
    }
}

fn lock_file(root: &Path) -> Result<File, GcError> {
    let path = root.join(LOCK_FILE);
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| GcError::Lock { path, source })
}

/// Takes a lease on the store at `root`, waiting for a running collection (they
/// are short) to finish.
pub fn lease(root: &Path) -> Result<Lease, GcError> {
    let file = lock_file(root)?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockShared).map_err(|e| {
        GcError::Lock {
            path: root.join(LOCK_FILE),
            source: e.into(),
        }
    })?;
    // What killed writers left (only temporaries whose process is gone).
    crate::layers::sweep_store_temps(root);
    Ok(Lease {
        _file: file,
        mark: mark_writer(root),
    })
}

/// More roots than the image rows: the build cache's layers.
#[derive(Debug, Default, Clone)]
pub struct Roots {
    /// Blob digests to keep.
    pub blobs: HashSet<String>,
    /// Diff ids whose layer directories (and remembered gzip forms) stay.
    pub diff_ids: HashSet<String>,
}

/// What a collection did.
#[derive(Debug, Default)]
pub struct Collected {
    /// Bytes given back on disk.
    pub bytes: u64,
    /// Chain ids of the layer directories removed.
    pub layers: Vec<String>,
    /// Blob digests removed.
    pub blobs: Vec<String>,
    /// True when a writer held a lease: nothing was removed this time.
    pub deferred: bool,
}

/// What the image rows and the extra roots use.
#[derive(Default)]
struct Marks {
    blobs: HashSet<String>,
    chains: HashSet<String>,
    /// Every diff id in use (images and extra roots): their gzip forms stay.
    diff_ids: HashSet<String>,
    /// The extra roots' diff ids: their layer directories stay in any chain.
    cached: HashSet<String>,
}

fn mark(store: &ImageStore, extra: &Roots) -> Result<Marks, GcError> {
    let mut m = Marks {
        blobs: extra.blobs.clone(),
        diff_ids: extra.diff_ids.clone(),
        cached: extra.diff_ids.clone(),
        ..Marks::default()
    };
    for rec in store.list()? {
        m.blobs.insert(rec.id.clone());
        m.blobs.insert(rec.manifest.clone());
        // A damaged image keeps what can still be read of it.
        if let Ok(manifest) = store.manifest(&rec) {
            m.blobs
                .extend(manifest.layers().iter().map(|l| l.digest().to_string()));
        }
        if let Ok(config) = store.config(&rec.id) {
            let diff_ids = config.rootfs().diff_ids();
            m.chains.extend(crate::chain_ids(diff_ids));
            m.diff_ids.extend(diff_ids.iter().cloned());
        }
    }
    for (diff_id, digest) in remembered_gzip(store)? {
        if m.diff_ids.contains(&diff_id) {
            m.blobs.insert(digest);
        }
    }
    Ok(m)
}

/// The gzip forms a push made of local layers (the registry crate's table, if
/// it exists yet): diff id → blob.
fn remembered_gzip(store: &ImageStore) -> Result<Vec<(String, String)>, GcError> {
    let exists: bool = store.conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'compressed_layers'",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(Vec::new());
    }
    let mut stmt = store
        .conn
        .prepare("SELECT diff_id, digest FROM compressed_layers")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Removes what nothing uses, unless a writer holds a lease (then nothing, and
/// `deferred` is set).
pub fn collect(store: &ImageStore, extra: &Roots) -> Result<Collected, GcError> {
    let file = lock_file(&store.root)?;
    let exclusive = rustix::fs::FlockOperation::NonBlockingLockExclusive;
    if rustix::fs::flock(&file, exclusive).is_err() {
        return Ok(Collected {
            deferred: true,
            ..Collected::default()
        });
    }
    let marks = mark(store, extra)?;
    let mut out = Collected::default();
    sweep_layers(store, &marks, &mut out)?;
    sweep_blobs(store, &marks, &mut out)?;
    // Forget gzip forms of layers that are gone (their blob went just now).
    for (diff_id, _) in remembered_gzip(store)? {
        if !marks.diff_ids.contains(&diff_id) {
            store.conn.execute(
                "DELETE FROM compressed_layers WHERE diff_id = ?1",
                params![diff_id],
            )?;
        }
    }
    drop(file);
    Ok(out)
}

fn sweep_layers(store: &ImageStore, marks: &Marks, out: &mut Collected) -> Result<(), GcError> {
    use crate::layers::diff_id_file;
    let dir = store.root.join("layers");
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        // Temporaries belong to writers (the leftover sweep handles dead ones).
        if name.starts_with('.') {
            continue;
        }
        let path = e.path();
        let chain = format!("sha256:{name}");
        if marks.chains.contains(&chain) {
            continue;
        }
        let diff_id = std::fs::read_to_string(diff_id_file(&path)).unwrap_or_default();
        if marks.cached.contains(diff_id.trim()) {
            continue;
        }
        let bytes = crate::disk_usage(&path);
        remove_layer_dir(&path)?;
        let _ = std::fs::remove_file(diff_id_file(&path));
        out.bytes += bytes;
        out.layers.push(chain);
    }
    // Notes whose layer never arrived (a crash before the rename).
    for e in std::fs::read_dir(store.root.join("diff-ids"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if !dir.join(e.file_name()).exists() {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(())
}

/// Renames the layer out of its name first, so a crash halfway through leaves a
/// dead temporary (swept later), never a half-deleted layer under a valid name.
fn remove_layer_dir(dir: &Path) -> Result<(), GcError> {
    let parent = dir.parent().unwrap_or(Path::new("/"));
    let doomed = parent.join(format!(
        "{}{}-{}",
        crate::layers::TMP_PREFIX,
        std::process::id(),
        crate::blobs::unique_suffix()
    ));
    let remove_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GcError::Remove { path, source }
    };
    std::fs::rename(dir, &doomed).map_err(remove_err(dir))?;
    std::fs::remove_dir_all(&doomed).map_err(remove_err(&doomed))
}

fn sweep_blobs(store: &ImageStore, marks: &Marks, out: &mut Collected) -> Result<(), GcError> {
    let dir = store.blobs.dir();
    let entries = std::fs::read_dir(dir).map_err(|source| BlobError::Io {
        path: dir.to_path_buf(),
        source,
    });
    for e in entries.map_err(StoreError::from)?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        // Temporaries (".tmp-…") belong to writers; the leftover sweep handles them.
        if name.starts_with('.') {
            continue;
        }
        let digest = format!("sha256:{name}");
        if marks.blobs.contains(&digest) {
            continue;
        }
        let size = e.metadata().map_or(0, |m| m.len());
        store.blobs.remove(&digest).map_err(StoreError::from)?;
        out.bytes += size;
        out.blobs.push(digest);
    }
    Ok(())
}

/// Test hook: with `BERTH_TEST_PAUSE=<point>:<file>`, a writer reaching `point`
/// creates `file` and waits (60 s at most) until the test removes it. This makes a
/// race with `rmi` deterministic; nothing happens without the variable.
pub fn pause_point(point: &str) {
    let Ok(spec) = std::env::var("BERTH_TEST_PAUSE") else {
        return;
    };
    let Some((name, file)) = spec.split_once(':') else {
        return;
    };
    if name != point || std::fs::write(file, b"").is_err() {
        return;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while Path::new(file).exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::Reference;

    #[test]
    fn only_a_dead_writers_mark_triggers_the_sweep() {
        let root = tempfile::tempdir().unwrap();
        let lease = lease(root.path()).unwrap();
        let mut swept = 0;
        sweep_if_a_writer_died(root.path(), || swept += 1);
        assert_eq!(swept, 0, "a live writer's mark is no reason to sweep");
        drop(lease);
        assert_eq!(
            std::fs::read_dir(root.path().join(WRITERS_DIR))
                .unwrap()
                .count(),
            0
        );
        // pid_max is at most 2^22: this pid cannot be running.
        let dead = root.path().join(WRITERS_DIR).join("99999999-0");
        File::create(&dead).unwrap();
        sweep_if_a_writer_died(root.path(), || swept += 1);
        assert_eq!(swept, 1);
        assert!(!dead.exists(), "the dead writer's mark goes with the sweep");
        sweep_if_a_writer_died(root.path(), || swept += 1);
        assert_eq!(swept, 1);
    }

    fn tar_of(name: &str) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        h.set_mtime(0);
        tar.append_data(&mut h, name, &b"hi"[..]).unwrap();
        tar.into_inner().unwrap()
    }

    fn import(store: &ImageStore, data: &[u8], tag: &str) -> String {
        let r = Reference::parse(tag).unwrap();
        crate::import::import(
            store,
            Box::new(std::io::Cursor::new(data.to_vec())),
            Some(&r),
            &[],
            None,
        )
        .unwrap()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    #[test]
    fn shared_layers_stay_until_the_last_image_goes() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let data = tar_of("f");
        let a = import(&store, &data, "a");
        std::thread::sleep(std::time::Duration::from_millis(5));
        let b = import(&store, &data, "b");
        assert_ne!(a, b, "two imports are two images");
        store.remove(&a).unwrap();
        let c = collect(&store, &Roots::default()).unwrap();
        assert!(c.layers.is_empty(), "the layer is b's too: {c:?}");
        assert_eq!(names(&root.path().join("layers")).len(), 1);
        store.remove(&b).unwrap();
        let c = collect(&store, &Roots::default()).unwrap();
        assert_eq!(c.layers.len(), 1, "{c:?}");
        assert!(c.bytes > 0);
        assert!(names(&root.path().join("layers")).is_empty());
        assert!(names(&root.path().join("blobs/sha256")).is_empty());
    }

    #[test]
    fn what_a_killed_writer_placed_without_an_image_is_freed() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let data = tar_of("h");
        // A pull or import killed after placing its layer, before its image row.
        let blob = store.blobs.put_bytes(&data).unwrap();
        let dir = store.layer_dir(&blob);
        crate::layers::unpack_blob(&store.blobs, &blob, &blob, &dir).unwrap();
        // And one killed between the diff-id file and the rename.
        let other = store.layer_dir(&crate::blobs::sha256_digest(b"x"));
        std::fs::write(crate::layers::diff_id_file(&other), "sha256:x").unwrap();
        let c = collect(&store, &Roots::default()).unwrap();
        assert_eq!(c.layers, vec![blob.clone()]);
        assert_eq!(c.blobs, vec![blob]);
        assert!(names(&root.path().join("layers")).is_empty());
        assert!(names(&root.path().join("diff-ids")).is_empty());
    }

    #[test]
    fn a_lease_defers_collection_and_extra_roots_are_kept() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let data = tar_of("g");
        let a = import(&store, &data, "a");
        let diff = store.config(&a).unwrap().rootfs().diff_ids()[0].clone();
        store.remove(&a).unwrap();
        let held = lease(root.path()).unwrap();
        let c = collect(&store, &Roots::default()).unwrap();
        assert!(c.deferred && c.blobs.is_empty() && c.layers.is_empty());
        drop(held);
        let cache = Roots {
            blobs: [diff.clone()].into(),
            diff_ids: [diff.clone()].into(),
        };
        let c = collect(&store, &cache).unwrap();
        assert!(!c.deferred);
        assert!(c.layers.is_empty(), "the build cache uses it");
        assert_eq!(
            names(&root.path().join("blobs/sha256")),
            vec![diff[7..].to_string()]
        );
        // Once the cache lets go, the queued layer goes.
        let c = collect(&store, &Roots::default()).unwrap();
        assert_eq!(c.layers.len(), 1);
        assert!(names(&root.path().join("blobs/sha256")).is_empty());
    }
}
