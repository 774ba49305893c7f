//! The layer cache: what a step made, keyed by everything the step's result
//! depends on — the filesystem it ran on (the chain of layers), the
//! instruction after expansion, the environment and build args it saw, and
//! for COPY/ADD the content of its sources. One small JSON file per key under
//! `$BERTH_ROOT/build/cache/`, written atomically; a damaged or unreadable
//! entry is a miss, never an error. A hit touches the file, so its mtime is
//! when the entry was last used (`builder prune --filter until=`).

use crate::host::Layer;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Bumped when the meaning of a key changes, so old entries are never used.
const KEY_VERSION: &str = "berth-build-cache/v1";

/// What a cached step made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The layer, or `None` when the step changed no file.
    pub layer: Option<Layer>,
    /// When the step first ran (its history entry keeps this time, so a
    /// rebuild from the cache gives the same image id).
    pub created: String,
    /// The chain id of the layer on the chain it was made on: the unpacked
    /// directory the entry keeps alive (`None` in entries of older berths).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
}

/// A stored entry, as `builder prune` sees it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    /// `None` when the file could not be read (it is pruned like any other).
    pub record: Option<Record>,
    /// When a build last made or used it.
    pub last_used: std::time::SystemTime,
}

/// The cache directory.
pub struct Cache {
    dir: PathBuf,
    /// `--no-cache`: look nothing up (results are still stored).
    read: bool,
}

/// The key of a step: the hash of its inputs (a JSON value, whose objects
/// serialise with sorted keys).
pub fn key(parent_chain: &str, inputs: &serde_json::Value) -> String {
    let mut h = Sha256::new();
    h.update(KEY_VERSION.as_bytes());
    h.update(b"\n");
    h.update(parent_chain.as_bytes());
    h.update(b"\n");
    h.update(serde_json::to_vec(inputs).expect("JSON values serialise"));
    hex::encode(h.finalize())
}

/// The chain id of layers (OCI: `sha256(parent + " " + diff_id)`), `""` for none.
pub fn chain_id(layers: &[Layer]) -> String {
    let mut chain = String::new();
    for l in layers {
        chain = match chain.is_empty() {
            true => l.diff_id.clone(),
            false => format!(
                "sha256:{}",
                hex::encode(Sha256::digest(format!("{chain} {}", l.diff_id)))
            ),
        };
    }
    chain
}

impl Cache {
    /// The cache under `state_dir`.
    pub fn new(state_dir: &Path, read: bool) -> Cache {
        Cache {
            dir: state_dir.join("cache"),
            read,
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2.min(key.len())]).join(key)
    }

    /// The record for `key`, if there is a readable one.
    pub fn get(&self, key: &str) -> Option<Record> {
        if !self.read {
            return None;
        }
        let data = std::fs::read(self.path(key)).ok()?;
        serde_json::from_slice(&data).ok()
    }

    /// Marks an entry used now (best effort: a failure only makes the entry
    /// look older to `builder prune --filter until=`).
    pub fn touch(&self, key: &str) {
        if let Ok(f) = std::fs::File::options().write(true).open(self.path(key)) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
    }

    /// Every stored entry (temporary files of interrupted writes left out).
    pub fn entries(&self) -> Vec<Entry> {
        let mut out = Vec::new();
        for shard in read_dir(&self.dir) {
            for file in read_dir(&shard.path()) {
                let key = file.file_name().to_string_lossy().into_owned();
                if key.starts_with('.') {
                    continue;
                }
                let path = file.path();
                let last_used = file
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                let record = std::fs::read(&path)
                    .ok()
                    .and_then(|d| serde_json::from_slice(&d).ok());
                out.push(Entry {
                    key,
                    record,
                    last_used,
                });
            }
        }
        out
    }

    /// Removes an entry (already gone is fine); returns the bytes freed.
    pub fn remove(&self, key: &str) -> io::Result<u64> {
        let path = self.path(key);
        let size = std::fs::symlink_metadata(&path).map_or(0, |m| m.len());
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(size),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Temporary files of writes a crash interrupted (`.KEY.PID`), for prune.
    pub fn stale_temporaries(&self) -> Vec<PathBuf> {
        read_dir(&self.dir)
            .flat_map(|shard| read_dir(&shard.path()))
            .filter(|f| f.file_name().to_string_lossy().starts_with('.'))
            .map(|f| f.path())
            .collect()
    }

    /// Stores a record (temp file, fsync, rename).
    pub fn put(&self, key: &str, record: &Record) -> io::Result<()> {
        let path = self.path(key);
        let dir = path.parent().expect("cache paths have a parent");
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".{key}.{}", std::process::id()));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(record).expect("records serialise"))?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    }
}

/// Every layer a cache entry under `state_dir` names: the image store's garbage
/// collector keeps them (a layer a cached step made outlives the images built
/// with it, as in docker, until `builder prune` removes the entry).
pub fn recorded_layers(state_dir: &Path) -> Vec<Layer> {
    Cache::new(state_dir, true)
        .entries()
        .into_iter()
        .filter_map(|e| e.record?.layer)
        .collect()
}

fn read_dir(dir: &Path) -> impl Iterator<Item = std::fs::DirEntry> {
    std::fs::read_dir(dir).into_iter().flatten().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn layer(n: &str) -> Layer {
        Layer {
            diff_id: format!("sha256:{n}"),
            digest: format!("sha256:{n}"),
            size: 1,
            media_type: "x".into(),
        }
    }

    #[test]
    fn keys_depend_on_every_input_and_not_on_key_order() {
        let a = key("p", &json!({"run": ["sh", "-c", "x"], "env": ["A=1"]}));
        let b = key("p", &json!({"env": ["A=1"], "run": ["sh", "-c", "x"]}));
        assert_eq!(a, b);
        assert_ne!(
            a,
            key("q", &json!({"run": ["sh", "-c", "x"], "env": ["A=1"]}))
        );
        assert_ne!(
            a,
            key("p", &json!({"run": ["sh", "-c", "x"], "env": ["A=2"]}))
        );
    }

    #[test]
    fn chain_ids_follow_the_spec() {
        assert_eq!(chain_id(&[]), "");
        assert_eq!(chain_id(&[layer("a")]), "sha256:a");
        let two = chain_id(&[layer("a"), layer("b")]);
        let want = format!(
            "sha256:{}",
            hex::encode(Sha256::digest("sha256:a sha256:b"))
        );
        assert_eq!(two, want);
    }

    #[test]
    fn records_round_trip_and_no_cache_reads_nothing() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::new(d.path(), true);
        let rec = Record {
            layer: Some(layer("a")),
            created: "t".into(),
            chain: Some("sha256:a".into()),
        };
        assert_eq!(cache.get("abcd"), None);
        cache.put("abcd", &rec).unwrap();
        assert_eq!(cache.get("abcd"), Some(rec));
        assert_eq!(Cache::new(d.path(), false).get("abcd"), None);
        assert_eq!(recorded_layers(d.path()), vec![layer("a")]);
        std::fs::write(d.path().join("cache/ab/abcd"), "garbage").unwrap();
        assert_eq!(cache.get("abcd"), None);
    }

    #[test]
    fn entries_list_what_is_stored_and_touch_marks_use() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::new(d.path(), true);
        let rec = |l: Option<Layer>| Record {
            layer: l,
            created: "t".into(),
            chain: Some("sha256:c".into()),
        };
        cache.put("aa11", &rec(Some(layer("x")))).unwrap();
        cache.put("bb22", &rec(None)).unwrap();
        std::fs::write(d.path().join("cache/bb/.bb33.99"), "half").unwrap();
        let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1000);
        let f = std::fs::File::options()
            .write(true)
            .open(d.path().join("cache/aa/aa11"))
            .unwrap();
        f.set_modified(old).unwrap();
        let mut keys: Vec<_> = cache.entries().into_iter().map(|e| e.key).collect();
        keys.sort();
        assert_eq!(keys, ["aa11", "bb22"]);
        assert_eq!(cache.stale_temporaries().len(), 1);
        let aged = cache
            .entries()
            .into_iter()
            .find(|e| e.key == "aa11")
            .unwrap();
        assert_eq!(aged.last_used, old);
        cache.touch("aa11");
        let used = cache
            .entries()
            .into_iter()
            .find(|e| e.key == "aa11")
            .unwrap();
        assert!(used.last_used > old);
        assert_eq!(recorded_layers(d.path()), vec![layer("x")]);
        assert!(cache.remove("aa11").unwrap() > 0);
        assert_eq!(cache.remove("aa11").unwrap(), 0);
        assert_eq!(cache.entries().len(), 1);
    }
}
