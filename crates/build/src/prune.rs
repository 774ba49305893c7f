//! `builder prune`: removing build cache the way docker's builder does.
//!
//! What the build cache holds under the state directory: the layer cache's
//! entries ([`crate::cache`]), cache mounts (`RUN --mount=type=cache`), and
//! the stat caches of build contexts. Without `all`, only *dangling* cache
//! goes, as buildkit defines it: entries whose layer no image uses (a layer
//! an image still has is "shared"), every cache mount and stat cache; with
//! `all`, every entry. `until` keeps what was used since then.
//!
//! The layers themselves live in the image store; this module only says
//! which layers the removed entries held and no kept entry still does, and
//! the host frees those that no image uses either.

use crate::cache::Cache;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What to prune.
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// `-a`: entries whose layers images still use too.
    pub all: bool,
    /// `--filter until=`: only what was last used before this time.
    pub until: Option<SystemTime>,
}

/// What a prune removed.
#[derive(Debug, Default)]
pub struct Pruned {
    /// Ids of the removed objects (entry keys, `cachemount:…`, `statcache:…`).
    pub removed: Vec<String>,
    /// Bytes freed in the state directory (layers not counted).
    pub bytes: u64,
    /// Layers (digest, chain id) that removed entries held and no kept entry
    /// refers to: free them unless an image uses them.
    pub layers: Vec<(String, Option<String>)>,
    /// Layer digests kept entries refer to.
    pub kept_digests: HashSet<String>,
    /// What could not be removed, and why.
    pub failed: Vec<String>,
}

/// Removes build cache under `state_dir`. `image_chains`: the chain ids of
/// every layer of every image (a cache entry whose layer is among them is
/// not dangling).
pub fn prune(state_dir: &Path, opts: &PruneOptions, image_chains: &HashSet<String>) -> Pruned {
    let mut out = Pruned::default();
    prune_entries(&Cache::new(state_dir, true), opts, image_chains, &mut out);
    prune_cache_mounts(&state_dir.join("cachemounts"), opts, &mut out);
    prune_files(&state_dir.join("statcache"), "statcache", opts, &mut out);
    out
}

fn old_enough(opts: &PruneOptions, last_used: SystemTime) -> bool {
    opts.until.is_none_or(|u| last_used < u)
}

fn prune_entries(
    cache: &Cache,
    opts: &PruneOptions,
    image_chains: &HashSet<String>,
    out: &mut Pruned,
) {
    let mut removed_layers = Vec::new();
    let mut kept_chains = HashSet::new();
    for e in cache.entries() {
        let layer = e.record.as_ref().and_then(|r| r.layer.clone());
        let chain = e.record.as_ref().and_then(|r| r.chain.clone());
        let shared = match (&layer, &chain) {
            // An entry that made no layer holds nothing; buildkit keeps such
            // records with the step they belong to.
            (None, _) if e.record.is_some() => true,
            (Some(_), Some(c)) => image_chains.contains(c),
            _ => false,
        };
        if !old_enough(opts, e.last_used) || (shared && !opts.all) {
            if let Some(l) = &layer {
                out.kept_digests.insert(l.digest.clone());
            }
            kept_chains.extend(chain);
            continue;
        }
        match cache.remove(&e.key) {
            Ok(bytes) => {
                out.bytes += bytes;
                out.removed.push(e.key.clone());
                if let Some(l) = layer {
                    removed_layers.push((l.digest, chain));
                }
            }
            Err(err) => out
                .failed
                .push(format!("build cache entry {}: {err}", e.key)),
        }
    }
    for t in cache.stale_temporaries() {
        let _ = std::fs::remove_file(t);
    }
    let mut seen = HashSet::new();
    out.layers = removed_layers
        .into_iter()
        .filter(|(_, c)| c.as_ref().is_none_or(|c| !kept_chains.contains(c)))
        .filter(|l| seen.insert(l.clone()))
        .collect();
}

/// Cache mounts: `NAME` directories with an optional `NAME.lock`. One a
/// running build holds locked (`sharing=locked`) stays.
fn prune_cache_mounts(dir: &Path, opts: &PruneOptions, out: &mut Pruned) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if name.ends_with(".lock") || !path.is_dir() {
            continue;
        }
        let used = e.metadata().and_then(|m| m.modified());
        if !old_enough(opts, used.unwrap_or(std::time::UNIX_EPOCH)) {
            continue;
        }
        let lock_path = dir.join(format!("{name}.lock"));
        let _lock = match lock_if_present(&lock_path) {
            Ok(l) => l,
            Err(()) => continue,
        };
        let bytes = berth_image::disk_usage(&path);
        match remove_tree(&path) {
            Ok(()) => {
                let _ = std::fs::remove_file(&lock_path);
                out.bytes += bytes;
                out.removed.push(format!("cachemount:{}", short(&name)));
            }
            Err(err) => out.failed.push(format!("cache mount {name}: {err}")),
        }
    }
}

/// An exclusive lock on `path` if it exists; `Err` when another process
/// holds it.
fn lock_if_present(path: &Path) -> Result<Option<nix::fcntl::Flock<std::fs::File>>, ()> {
    let Ok(f) = std::fs::File::open(path) else {
        return Ok(None);
    };
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map(Some)
        .map_err(|_| ())
}

/// Plain files (the stat caches).
fn prune_files(dir: &Path, kind: &str, opts: &PruneOptions, out: &mut Pruned) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() || !old_enough(opts, meta.modified().unwrap_or(std::time::UNIX_EPOCH)) {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        match std::fs::remove_file(e.path()) {
            Ok(()) => {
                out.bytes += meta.len();
                out.removed.push(format!("{kind}:{}", short(&name)));
            }
            Err(err) => out.failed.push(format!("{kind} {name}: {err}")),
        }
    }
}

/// Removes a directory tree whose files may be read-only to their owner.
fn remove_tree(path: &PathBuf) -> std::io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// The first 12 characters of a hex name, as ids are shown.
fn short(name: &str) -> &str {
    let name = name.strip_suffix(".json").unwrap_or(name);
    &name[..name.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Record;
    use crate::host::Layer;
    use std::time::Duration;

    fn layer(n: &str) -> Layer {
        Layer {
            diff_id: format!("sha256:{n}"),
            digest: format!("sha256:{n}"),
            size: 1,
            media_type: "x".into(),
        }
    }

    fn put(cache: &Cache, key: &str, l: Option<&str>) {
        let record = Record {
            layer: l.map(layer),
            created: "t".into(),
            chain: l.map(|n| format!("chain-{n}")),
        };
        cache.put(key, &record).unwrap();
    }

    fn setup() -> (tempfile::TempDir, Cache) {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::new(d.path(), true);
        put(&cache, "aa01", Some("image"));
        put(&cache, "aa02", Some("dangling"));
        put(&cache, "aa03", None);
        std::fs::create_dir_all(d.path().join("cachemounts/abcdef0123456789")).unwrap();
        std::fs::write(d.path().join("cachemounts/abcdef0123456789/f"), "x").unwrap();
        std::fs::create_dir_all(d.path().join("statcache")).unwrap();
        std::fs::write(d.path().join("statcache/0123456789abcdef.json"), "{}").unwrap();
        (d, cache)
    }

    fn keys(cache: &Cache) -> Vec<String> {
        let mut k: Vec<_> = cache.entries().into_iter().map(|e| e.key).collect();
        k.sort();
        k
    }

    #[test]
    fn dangling_prune_keeps_entries_whose_layers_images_use() {
        let (d, cache) = setup();
        let images: HashSet<String> = ["chain-image".to_string()].into();
        let p = prune(d.path(), &PruneOptions::default(), &images);
        assert_eq!(keys(&cache), ["aa01", "aa03"]);
        assert!(p.removed.contains(&"aa02".to_string()), "{:?}", p.removed);
        assert!(p.removed.contains(&"cachemount:abcdef012345".to_string()));
        assert!(p.removed.contains(&"statcache:0123456789ab".to_string()));
        assert_eq!(
            p.layers,
            vec![("sha256:dangling".to_string(), Some("chain-dangling".into()))]
        );
        assert!(p.kept_digests.contains("sha256:image"));
        assert!(!d.path().join("cachemounts/abcdef0123456789").exists());
        assert!(p.bytes > 0);
    }

    #[test]
    fn all_removes_every_entry_and_until_keeps_recent_ones() {
        let (d, cache) = setup();
        let images: HashSet<String> = ["chain-image".to_string()].into();
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        let opts = PruneOptions {
            all: true,
            until: Some(hour_ago),
        };
        let p = prune(d.path(), &opts, &images);
        assert!(
            p.removed.is_empty(),
            "all was used just now: {:?}",
            p.removed
        );
        assert_eq!(keys(&cache).len(), 3);
        let p = prune(
            d.path(),
            &PruneOptions {
                all: true,
                until: None,
            },
            &images,
        );
        assert_eq!(keys(&cache), Vec::<String>::new());
        assert_eq!(p.layers.len(), 2, "{:?}", p.layers);
    }

    #[test]
    fn a_layer_a_kept_entry_holds_is_not_offered_for_freeing() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::new(d.path(), true);
        put(&cache, "bb01", Some("x"));
        put(&cache, "bb02", Some("x"));
        let old = std::time::UNIX_EPOCH + Duration::from_secs(1000);
        std::fs::File::options()
            .write(true)
            .open(d.path().join("cache/bb/bb01"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let opts = PruneOptions {
            all: false,
            until: Some(SystemTime::now() - Duration::from_secs(60)),
        };
        let p = prune(d.path(), &opts, &HashSet::new());
        assert_eq!(p.removed, ["bb01"]);
        assert!(p.layers.is_empty(), "bb02 still holds it: {:?}", p.layers);
    }

    #[test]
    fn a_locked_cache_mount_stays() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("cachemounts");
        std::fs::create_dir_all(dir.join("m1")).unwrap();
        let f = std::fs::File::create(dir.join("m1.lock")).unwrap();
        let _held = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).unwrap();
        let p = prune(d.path(), &PruneOptions::default(), &HashSet::new());
        assert!(p.removed.is_empty());
        assert!(dir.join("m1").is_dir());
    }
}
