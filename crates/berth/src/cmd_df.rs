//! `system df [-v] [--format]`: what the store holds on disk, as docker shows it
//! (TYPE TOTAL ACTIVE SIZE RECLAIMABLE). A layer several images share is counted
//! once; the build cache counts only the layers no image uses (the rest is in
//! Images already).

use crate::args::DfArgs;
use crate::format::{human_duration, human_size_precision, print_rows, render, seconds_since};
use crate::inspect::ps_row;
use anyhow::Result;
use berth_engine::model::Container;
use berth_engine::Engine;
use berth_image::{short_id, ImageRecord, Reference};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

/// docker prints df sizes with `units.HumanSize` (4 significant digits).
fn size(bytes: u64) -> String {
    human_size_precision(bytes, 4)
}

fn with_percent(part: u64, total: u64) -> String {
    match total {
        0 => size(part),
        t => format!("{} ({}%)", size(part), part * 100 / t),
    }
}

/// One image: its record and the chain ids of its layers.
struct Image {
    rec: ImageRecord,
    chains: Vec<String>,
    containers: usize,
}

struct Usage {
    images: Vec<Image>,
    /// Bytes of each unpacked layer (chain id).
    layer_size: HashMap<String, u64>,
    containers: Vec<(Container, u64)>,
    /// Volume name → (containers using it, bytes).
    volumes: BTreeMap<String, (usize, u64)>,
    /// Build cache layers no image uses: (blob digest, bytes).
    cache: Vec<(String, u64, bool)>,
}

fn usage(engine: &Engine) -> Result<Usage> {
    let containers = engine.list()?;
    let mut layer_size = HashMap::new();
    let mut images = Vec::new();
    let mut image_blobs = HashSet::new();
    for rec in engine.images.list()? {
        let chains = match engine.images.config(&rec.id) {
            Ok(c) => berth_image::chain_ids(c.rootfs().diff_ids()),
            Err(_) => Vec::new(),
        };
        for c in &chains {
            layer_size
                .entry(c.clone())
                .or_insert_with(|| berth_image::disk_usage(&engine.images.layer_dir(c)));
        }
        if let Ok(m) = engine.images.manifest(&rec) {
            image_blobs.extend(m.layers().iter().map(|l| l.digest().to_string()));
        }
        let used = containers.iter().filter(|c| c.image_id == rec.id).count();
        images.push(Image {
            rec,
            chains,
            containers: used,
        });
    }
    let mut volumes: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    // The volume store's list: not its lock file or half-made volumes.
    for v in berth_engine::volumes::list(&engine.paths)? {
        let bytes = berth_image::disk_usage(&engine.paths.volume_dir(&v.name));
        volumes.insert(v.name, (0, bytes));
    }
    for c in &containers {
        for b in c.spec.binds.iter().filter(|b| b.volume) {
            if let Some(v) = volumes.get_mut(&b.source) {
                v.0 += 1;
            }
        }
    }
    let mut cache = Vec::new();
    let mut seen = HashSet::new();
    for l in berth_build::cache::recorded_layers(&engine.paths.root.join("build")) {
        if seen.insert(l.digest.clone()) {
            let bytes =
                std::fs::metadata(engine.images.blobs.path(&l.digest)).map_or(0, |m| m.len());
            cache.push((l.digest.clone(), bytes, image_blobs.contains(&l.digest)));
        }
    }
    let containers = containers
        .into_iter()
        .map(|c| {
            let rw = berth_image::disk_usage(&engine.paths.container_dir(&c.id).join("upper"));
            (c, rw)
        })
        .collect();
    Ok(Usage {
        images,
        layer_size,
        containers,
        volumes,
        cache,
    })
}

/// Bytes of the distinct layers of `images`.
fn unique_bytes<'a>(u: &Usage, images: impl Iterator<Item = &'a Image>) -> u64 {
    let chains: HashSet<&String> = images.flat_map(|i| i.chains.iter()).collect();
    chains
        .iter()
        .map(|c| u.layer_size.get(*c).copied().unwrap_or(0))
        .sum()
}

fn summary(u: &Usage) -> Vec<Value> {
    let total = unique_bytes(u, u.images.iter());
    let active_images = u.images.iter().filter(|i| i.containers > 0);
    let in_use = unique_bytes(u, active_images);
    let c_total: u64 = u.containers.iter().map(|(_, s)| s).sum();
    let c_idle: u64 = u
        .containers
        .iter()
        .filter(|(c, _)| !c.is_running())
        .map(|(_, s)| s)
        .sum();
    let v_total: u64 = u.volumes.values().map(|v| v.1).sum();
    let v_idle: u64 = u.volumes.values().filter(|v| v.0 == 0).map(|v| v.1).sum();
    let cache: u64 = u.cache.iter().filter(|c| !c.2).map(|c| c.1).sum();
    let row = |ty: &str, count: usize, active: usize, bytes: u64, reclaim: String| {
        json!({"Type": ty, "TotalCount": count.to_string(), "Active": active.to_string(),
               "Size": size(bytes), "Reclaimable": reclaim})
    };
    vec![
        row(
            "Images",
            u.images.len(),
            u.images.iter().filter(|i| i.containers > 0).count(),
            total,
            with_percent(total - in_use.min(total), total),
        ),
        row(
            "Containers",
            u.containers.len(),
            u.containers.iter().filter(|(c, _)| c.is_running()).count(),
            c_total,
            with_percent(c_idle, c_total),
        ),
        row(
            "Local Volumes",
            u.volumes.len(),
            u.volumes.values().filter(|v| v.0 > 0).count(),
            v_total,
            with_percent(v_idle, v_total),
        ),
        row("Build Cache", u.cache.len(), 0, cache, size(cache)),
    ]
}

pub fn cmd_system_df(engine: &Engine, a: &DfArgs) -> Result<i32> {
    let u = usage(engine)?;
    if a.verbose {
        return verbose(&u, a.format.as_deref());
    }
    let headers = [
        ("TYPE", "Type"),
        ("TOTAL", "TotalCount"),
        ("ACTIVE", "Active"),
        ("SIZE", "Size"),
        ("RECLAIMABLE", "Reclaimable"),
    ];
    print_rows(a.format.as_deref(), &headers, &summary(&u))?;
    Ok(0)
}

fn image_rows(u: &Usage) -> Vec<Value> {
    let mut users: HashMap<&String, usize> = HashMap::new();
    for i in &u.images {
        for c in &i.chains {
            *users.entry(c).or_default() += 1;
        }
    }
    let mut rows = Vec::new();
    for i in &u.images {
        let bytes = |shared: bool| -> u64 {
            i.chains
                .iter()
                .filter(|c| (users.get(c).copied().unwrap_or(0) > 1) == shared)
                .map(|c| u.layer_size.get(c).copied().unwrap_or(0))
                .sum()
        };
        let (shared, unique) = (bytes(true), bytes(false));
        let tags: Vec<Option<Reference>> = match i.rec.tags.is_empty() {
            true => vec![None],
            false => i
                .rec
                .tags
                .iter()
                .map(|t| Reference::parse(t).ok())
                .collect(),
        };
        for t in tags {
            rows.push(json!({
                "Repository": t.as_ref().map(|t| t.familiar_name()).unwrap_or_else(|| "<none>".into()),
                "Tag": t.as_ref().and_then(|t| t.tag.clone()).unwrap_or_else(|| "<none>".into()),
                "ID": short_id(&i.rec.id),
                "CreatedSince": format!("{} ago", human_duration(seconds_since(&i.rec.created))),
                "Size": size(shared + unique),
                "SharedSize": size(shared),
                "UniqueSize": size(unique),
                "Containers": i.containers.to_string(),
            }));
        }
    }
    rows
}

fn verbose(u: &Usage, format: Option<&str>) -> Result<i32> {
    let images = image_rows(u);
    let containers: Vec<Value> = u
        .containers
        .iter()
        .map(|(c, bytes)| {
            let mut r = ps_row(c, false);
            r["LocalVolumes"] = json!(c.spec.binds.iter().filter(|b| b.volume).count().to_string());
            r["Size"] = json!(size(*bytes));
            r
        })
        .collect();
    let volumes: Vec<Value> = u
        .volumes
        .iter()
        .map(|(name, (links, bytes))| {
            json!({"Name": name, "Links": links.to_string(), "Size": size(*bytes)})
        })
        .collect();
    let cache: Vec<Value> = u
        .cache
        .iter()
        .map(|(digest, bytes, shared)| {
            json!({"ID": short_id(digest), "CacheType": "regular", "Size": size(*bytes),
                   "Shared": shared.to_string()})
        })
        .collect();
    if let Some(f) = format {
        let all = json!({"Images": images, "Containers": containers,
                         "Volumes": volumes, "BuildCache": cache});
        println!("{}", render(f, &all)?);
        return Ok(0);
    }
    println!("Images space usage:\n");
    let h = [
        ("REPOSITORY", "Repository"),
        ("TAG", "Tag"),
        ("IMAGE ID", "ID"),
        ("CREATED", "CreatedSince"),
        ("SIZE", "Size"),
        ("SHARED SIZE", "SharedSize"),
        ("UNIQUE SIZE", "UniqueSize"),
        ("CONTAINERS", "Containers"),
    ];
    print_rows(None, &h, &images)?;
    println!("\nContainers space usage:\n");
    let h = [
        ("CONTAINER ID", "ID"),
        ("IMAGE", "Image"),
        ("COMMAND", "Command"),
        ("LOCAL VOLUMES", "LocalVolumes"),
        ("SIZE", "Size"),
        ("CREATED", "RunningFor"),
        ("STATUS", "Status"),
        ("NAMES", "Names"),
    ];
    print_rows(None, &h, &containers)?;
    println!("\nLocal Volumes space usage:\n");
    let h = [
        ("VOLUME NAME", "Name"),
        ("LINKS", "Links"),
        ("SIZE", "Size"),
    ];
    print_rows(None, &h, &volumes)?;
    let cache_bytes: u64 = u.cache.iter().filter(|c| !c.2).map(|c| c.1).sum();
    println!("\nBuild cache usage: {}\n", size(cache_bytes));
    let h = [
        ("CACHE ID", "ID"),
        ("CACHE TYPE", "CacheType"),
        ("SIZE", "Size"),
        ("SHARED", "Shared"),
    ];
    print_rows(None, &h, &cache)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reclaimable_shows_docker_percentages() {
        assert_eq!(with_percent(0, 0), "0B");
        assert_eq!(with_percent(50, 100), "50B (50%)");
        assert_eq!(with_percent(0, 4_000_000), "0B (0%)");
    }
}
