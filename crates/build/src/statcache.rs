//! Content hashes of context files, remembered by (path, size, mtime, ctime,
//! inode): a rebuild where nothing changed stats the sources and reads none.
//! A file changed less than two seconds before it was hashed is not
//! remembered, so a write within the same timestamp tick is never missed.

use crate::tree::read::{open_file, Entry, Kind, ReadError};
use pathrs::Root;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// How recent a change must be not to be trusted (seconds).
const RACY_WINDOW: i64 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    ino: u64,
    hash: String,
}

/// The stat cache of one context directory.
#[derive(Debug, Default)]
pub struct StatCache {
    file: Option<PathBuf>,
    entries: BTreeMap<String, Stamp>,
    changed: bool,
    /// The time racy changes are judged against (seconds).
    now: i64,
}

impl StatCache {
    /// Loads the cache of the context at `context` (canonical path) from
    /// `state_dir`; an unreadable cache starts empty.
    pub fn load(state_dir: &Path, context: &Path) -> StatCache {
        let name = hex::encode(Sha256::digest(context.as_os_str().as_encoded_bytes()));
        let file = state_dir.join("statcache").join(format!("{name}.json"));
        let entries = std::fs::read(&file)
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok())
            .unwrap_or_default();
        StatCache {
            file: Some(file),
            entries,
            changed: false,
            now: chrono::Utc::now().timestamp(),
        }
    }

    /// A cache that remembers nothing on disk (a context unpacked from a tar).
    pub fn memory() -> StatCache {
        StatCache {
            now: chrono::Utc::now().timestamp(),
            ..StatCache::default()
        }
    }

    /// The sha256 of a context file's content (`path` from the context root).
    pub fn hash(&mut self, root: &Root, path: &str, e: &Entry) -> Result<String, ReadError> {
        if let Some(s) = self.entries.get(path) {
            if s.size == e.size && s.mtime == e.mtime && s.ctime == e.ctime && s.ino == e.ino {
                return Ok(s.hash.clone());
            }
        }
        let mut f = open_file(root, path)?;
        let mut h = Sha256::new();
        io::copy(&mut f, &mut h).map_err(|source| ReadError::Io {
            path: format!("/{path}"),
            source,
        })?;
        let hash = hex::encode(h.finalize());
        if self.now - e.mtime.0.max(e.ctime.0) >= RACY_WINDOW {
            self.entries.insert(
                path.to_string(),
                Stamp {
                    size: e.size,
                    mtime: e.mtime,
                    ctime: e.ctime,
                    ino: e.ino,
                    hash: hash.clone(),
                },
            );
            self.changed = true;
        }
        Ok(hash)
    }

    /// Writes the cache back if it learnt something (failures only cost a
    /// re-read next time).
    pub fn save(&self) {
        let (Some(file), true) = (&self.file, self.changed) else {
            return;
        };
        let Some(dir) = file.parent() else { return };
        let tmp = dir.join(format!(".tmp-{}", std::process::id()));
        let ok = std::fs::create_dir_all(dir).is_ok()
            && std::fs::write(&tmp, serde_json::to_vec(&self.entries).unwrap_or_default()).is_ok();
        if !ok || std::fs::rename(&tmp, file).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

/// The hash of a scanned source: names, kinds, permissions, link targets and
/// file contents (owners and times are left out: COPY from the context sets
/// them, as buildkit's content checksums do).
pub fn hash_entries(
    root: &Root,
    base: &str,
    entries: &[Entry],
    stat: &mut StatCache,
) -> Result<String, ReadError> {
    let mut h = Sha256::new();
    for e in entries {
        let from_root = match (base.is_empty(), e.rel.is_empty()) {
            (true, _) => e.rel.clone(),
            (_, true) => base.to_string(),
            _ => format!("{base}/{}", e.rel),
        };
        let content = match e.kind {
            Kind::File => stat.hash(root, &from_root, e)?,
            Kind::Symlink => e
                .link
                .as_ref()
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Kind::Char | Kind::Block => e.rdev.to_string(),
            _ => String::new(),
        };
        let line = format!("{}\0{:?}\0{:o}\0{content}\n", e.rel, e.kind, e.mode);
        h.update(line.as_bytes());
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::read::{scan, Filter};

    fn hash(dir: &Path, state: &Path) -> String {
        let root = Root::open(dir).unwrap();
        let none = Filter {
            ignore: None,
            exclude: None,
        };
        let entries = scan(&root, "", false, &none).unwrap();
        let mut sc = StatCache::load(state, dir);
        let h = hash_entries(&root, "", &entries, &mut sc).unwrap();
        sc.save();
        h
    }

    fn old(path: &Path) {
        let t = filetime_of(1_000_000);
        nix::sys::stat::utimensat(
            None,
            path,
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
    }

    fn filetime_of(secs: i64) -> nix::sys::time::TimeSpec {
        nix::sys::time::TimeSpec::new(secs, 0)
    }

    #[test]
    fn content_and_mode_change_the_hash_times_do_not() {
        let d = tempfile::tempdir().unwrap();
        let s = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), "one").unwrap();
        let h1 = hash(d.path(), s.path());
        old(&d.path().join("a"));
        assert_eq!(hash(d.path(), s.path()), h1, "mtime is not content");
        std::fs::write(d.path().join("a"), "two").unwrap();
        let h2 = hash(d.path(), s.path());
        assert_ne!(h1, h2);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.path().join("a"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        assert_ne!(hash(d.path(), s.path()), h2);
    }

    #[test]
    fn a_remembered_hash_is_used_while_the_stat_matches() {
        let d = tempfile::tempdir().unwrap();
        let s = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), "one").unwrap();
        // Just written: too recent to be remembered.
        hash(d.path(), s.path());
        assert!(!s.path().join("statcache").exists());
        let root = Root::open(d.path()).unwrap();
        let none = Filter {
            ignore: None,
            exclude: None,
        };
        let entries = scan(&root, "a", false, &none).unwrap();
        let mut sc = StatCache::load(s.path(), d.path());
        sc.now += 10;
        let real = sc.hash(&root, "a", &entries[0]).unwrap();
        sc.save();
        // Prove the next lookup reads the cache, not the file.
        let mut sc = StatCache::load(s.path(), d.path());
        sc.entries.get_mut("a").unwrap().hash = "remembered".into();
        assert_eq!(sc.hash(&root, "a", &entries[0]).unwrap(), "remembered");
        // A different stat (size) is a miss.
        let mut changed = entries[0].clone();
        changed.size += 1;
        assert_eq!(sc.hash(&root, "a", &changed).unwrap(), real);
    }
}
