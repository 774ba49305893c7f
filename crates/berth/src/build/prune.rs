//! `builder prune` (and the build-cache part of `system prune`): what dead
//! builds left is reaped, then the build cache is pruned (`berth_build::prune`)
//! and the image store's collector frees the layers only removed entries held.

use super::owner;
use crate::args::BuilderPruneArgs;
use anyhow::{bail, Result};
use berth_build::prune::{PruneOptions, Pruned};
use berth_engine::Engine;
use std::collections::HashSet;

/// The options from `-a` and `--filter`.
pub fn options(all: bool, filters: &[String]) -> Result<PruneOptions> {
    let mut until = None;
    for f in filters {
        match f.split_once('=') {
            Some(("until", v)) => {
                let t = crate::cmd_info::parse_time(v)?;
                until = Some(std::time::SystemTime::from(t));
            }
            _ => bail!(
                "invalid --filter {f:?}: berth's build cache takes only until=DURATION|TIMESTAMP (e.g. until=24h)"
            ),
        }
    }
    Ok(PruneOptions { all, until })
}

pub fn cmd_builder_prune(engine: &Engine, a: &BuilderPruneArgs) -> Result<i32> {
    if a.keep_storage.is_some() {
        bail!("berth builder prune does not support --keep-storage: berth does not size the build cache; use --filter until=DURATION or -a");
    }
    let opts = options(a.all, &a.filter)?;
    let warning = match a.all {
        true => "This will remove all build cache.",
        false => "This will remove all dangling build cache.",
    };
    if !crate::cmd_prune::confirmed(warning, a.force) {
        return Ok(0);
    }
    let mut p = prune(engine, &opts)?;
    p.bytes += crate::cmd_image::collect_garbage(engine)?.bytes;
    let failed = print(&p);
    println!(
        "Total reclaimed space: {}",
        crate::format::human_size_precision(p.bytes, 4)
    );
    Ok(if failed { 1 } else { 0 })
}

/// docker's "Deleted build cache objects:" section; returns whether
/// something could not be removed.
pub fn print(p: &Pruned) -> bool {
    if !p.removed.is_empty() {
        println!("Deleted build cache objects:");
        p.removed.iter().for_each(|r| println!("{r}"));
        println!();
    }
    p.failed
        .iter()
        .for_each(|f| eprintln!("berth: could not remove {f}"));
    !p.failed.is_empty()
}

/// Reaps dead builds and prunes the cache; the caller then collects the image
/// store's garbage, which frees the layers only removed entries held.
pub fn prune(engine: &Engine, opts: &PruneOptions) -> Result<Pruned> {
    let state = engine.paths.root.join("build");
    let reaped = owner::reap(engine, &state);
    let store = &engine.images;
    let mut chains = HashSet::new();
    for rec in store.list()? {
        if let Ok(config) = store.config(&rec.id) {
            chains.extend(berth_image::chain_ids(config.rootfs().diff_ids()));
        }
    }
    let mut opts = opts.clone();
    if let Some(live) = owner::oldest_live(&state) {
        opts.until = Some(opts.until.map_or(live, |u| u.min(live)));
    }
    let mut p = berth_build::prune::prune(&state, &opts, &chains);
    p.failed.extend(reaped.failed);
    // The layers only the removed entries held are left to the image store's
    // collector, which the caller runs next: it keeps what images and the
    // remaining entries use and works under its lock (a concurrent pull may be
    // about to reuse one of them).
    p.layers.clear();
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_take_until_only() {
        let o = options(true, &["until=24h".into()]).unwrap();
        assert!(o.all);
        let until = o.until.unwrap();
        let day = std::time::Duration::from_secs(24 * 3600);
        let age = std::time::SystemTime::now().duration_since(until).unwrap();
        assert!(age >= day && age < day + std::time::Duration::from_secs(60));
        assert!(options(false, &[]).unwrap().until.is_none());
        let e = options(false, &["type=regular".into()]).unwrap_err();
        assert!(e.to_string().contains("only until="), "{e}");
        assert!(options(false, &["until=soon".into()]).is_err());
    }
}
