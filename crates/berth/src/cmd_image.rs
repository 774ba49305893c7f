//! Image commands: import, images, tag, rmi, image inspect, save, load.

use crate::args::*;
use crate::format::{human_duration, human_size, print_rows, render, seconds_since};
use crate::inspect::image_json;
use anyhow::{bail, Context, Result};
use berth_engine::{store, Engine};
use berth_image::import::import;
use berth_image::reference::familiar;
use berth_image::short_id;
use berth_image::Reference;
use serde_json::json;

pub fn cmd_import(engine: &Engine, a: &ImportArgs) -> Result<i32> {
    let reference = a.reference.as_deref().map(Reference::parse).transpose()?;
    let (source, size): (Box<dyn std::io::Read>, Option<u64>) = if a.file == "-" {
        (Box::new(std::io::stdin()), None)
    } else {
        let f = std::fs::File::open(&a.file)
            .with_context(|| format!("opening {} to import", a.file))?;
        let size = f.metadata().ok().map(|m| m.len());
        (Box::new(f), size)
    };
    let progress = import_progress(size);
    let source: Box<dyn std::io::Read> = match &progress {
        Some(bar) => Box::new(bar.wrap_read(source)),
        None => source,
    };
    let id = import(
        &engine.images,
        Box::new(std::io::BufReader::new(source)),
        reference.as_ref(),
        &a.change,
        a.message.as_deref(),
    )?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    println!("{id}");
    Ok(0)
}

/// A progress bar on stderr while an import reads its tarball, only when stdout is
/// a terminal (scripts parsing the printed id see nothing else).
fn import_progress(size: Option<u64>) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let bar = match size {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    let style = indicatif::ProgressStyle::with_template(
        "importing {bytes}/{total_bytes} {wide_bar} {bytes_per_sec}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

pub fn cmd_images(engine: &Engine, a: &ImagesArgs) -> Result<i32> {
    let filter = a.repository.as_deref().map(Reference::parse).transpose()?;
    let explicit_tag = a
        .repository
        .as_deref()
        .is_some_and(|r| r.rsplit('/').next().unwrap_or("").contains(':'));
    let mut rows = Vec::new();
    for rec in engine.images.list()? {
        let tags: Vec<Option<Reference>> = if rec.tags.is_empty() {
            vec![None]
        } else {
            rec.tags.iter().map(|t| Reference::parse(t).ok()).collect()
        };
        for tag in tags {
            if let Some(f) = &filter {
                let Some(t) = &tag else { continue };
                if t.name() != f.name() || (explicit_tag && t.tag != f.tag) {
                    continue;
                }
            }
            let id = if a.no_trunc {
                rec.id.clone()
            } else {
                short_id(&rec.id)
            };
            rows.push(json!({
                "ID": id,
                "Repository": tag.as_ref().map(|t| t.familiar_name()).unwrap_or_else(|| "<none>".into()),
                "Tag": tag.as_ref().and_then(|t| t.tag.clone()).unwrap_or_else(|| "<none>".into()),
                "Digest": rec.manifest,
                "CreatedSince": format!("{} ago", human_duration(seconds_since(&rec.created))),
                "CreatedAt": rec.created,
                "Size": human_size(rec.size),
            }));
        }
    }
    if a.quiet {
        let mut seen = std::collections::BTreeSet::new();
        for r in &rows {
            let id = r["ID"].as_str().unwrap_or_default().to_string();
            if seen.insert(id.clone()) {
                println!("{id}");
            }
        }
        return Ok(0);
    }
    let headers = [
        ("REPOSITORY", "Repository"),
        ("TAG", "Tag"),
        ("IMAGE ID", "ID"),
        ("CREATED", "CreatedSince"),
        ("SIZE", "Size"),
    ];
    print_rows(a.format.as_deref(), &headers, &rows)?;
    Ok(0)
}

pub fn cmd_tag(engine: &Engine, a: &TagArgs) -> Result<i32> {
    let id = engine.images.resolve(&a.source)?;
    let target = Reference::parse(&a.target)?;
    if target.digest.is_some() {
        bail!(
            "refusing to create a tag with a digest reference ({}); give NAME[:TAG]",
            a.target
        );
    }
    engine.images.tag(&target, &id)?;
    berth_engine::events::image(&engine.paths.root, "tag", &id, &target.to_string());
    Ok(0)
}

pub fn cmd_rmi(engine: &mut Engine, a: &RmiArgs) -> Result<i32> {
    let mut failed = false;
    for name in &a.images {
        match remove_image(engine, name, a.force) {
            Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
            Err(e) => {
                eprintln!("Error response from berth: {e:#}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// docker's rules: a tag name untags (and deletes when it was the last tag); an id
/// deletes, and needs -f when the image has several tags; images used by containers
/// are never deleted.
fn remove_image(engine: &mut Engine, name: &str, force: bool) -> Result<Vec<String>> {
    let id = engine.images.resolve(name)?;
    let rec = engine.images.get(&id)?;
    let by_tag = Reference::parse(name)
        .ok()
        .filter(|r| rec.tags.contains(&r.to_string()));
    let users = store::image_in_use(engine.conn(), &id)?;
    let mut lines = Vec::new();
    if let Some(r) = &by_tag {
        if rec.tags.len() > 1 {
            engine.images.untag(r)?;
            berth_engine::events::image(&engine.paths.root, "untag", &id, &r.to_string());
            return Ok(vec![format!("Untagged: {}", familiar(&r.to_string()))]);
        }
    } else if rec.tags.len() > 1 && !force {
        bail!("conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories", short_id(&id));
    }
    if !users.is_empty() {
        bail!(
            "conflict: unable to remove image {name} ({}): it is used by container {}; remove the container first (berth rm {})",
            short_id(&id), &users[0][..12], &users[0][..12]
        );
    }
    for t in &rec.tags {
        lines.push(format!("Untagged: {}", familiar(t)));
    }
    engine.images.remove(&id)?;
    berth_engine::events::image(&engine.paths.root, "delete", &id, name);
    lines.push(format!("Deleted: {id}"));
    // docker lists the layers the removal freed (their chain ids).
    let freed = collect_garbage(engine)?;
    lines.extend(freed.layers.iter().map(|l| format!("Deleted: {l}")));
    Ok(lines)
}

/// Frees the blobs and layers no image, container or build cache entry uses (see
/// `berth_image::gc`). When another berth is writing images it frees nothing and
/// says so: the next rmi or prune does it.
pub fn collect_garbage(engine: &Engine) -> Result<berth_image::gc::Collected> {
    let mut roots = berth_image::gc::Roots::default();
    for l in berth_build::cache::recorded_layers(&engine.paths.root.join("build")) {
        roots.blobs.insert(l.digest);
        roots.diff_ids.insert(l.diff_id);
    }
    let collected = berth_image::gc::collect(&engine.images, &roots)?;
    if collected.deferred {
        eprintln!("berth: another berth command is writing images; unused layers are freed by the next rmi or prune");
    }
    Ok(collected)
}

pub fn cmd_image_inspect(engine: &Engine, a: &ImageInspectArgs) -> Result<i32> {
    let mut out = Vec::new();
    let mut failed = false;
    for name in &a.images {
        match engine
            .images
            .resolve(name)
            .and_then(|id| engine.images.get(&id))
        {
            Ok(rec) => out.push(image_json(engine, &rec)?),
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    print_inspect(&out, a.format.as_deref())?;
    Ok(if failed { 1 } else { 0 })
}

pub fn print_inspect(items: &[serde_json::Value], format: Option<&str>) -> Result<()> {
    match format {
        Some(f) => {
            for v in items {
                println!("{}", render(f, v)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&items)?),
    }
    Ok(())
}

pub fn cmd_save(engine: &Engine, a: &SaveArgs) -> Result<i32> {
    let format = berth_image::archive::Format::parse(&a.format)?;
    crate::archive_out::write_archive(a.output.as_deref(), |out| {
        Ok(berth_image::archive::save(
            &engine.images,
            &a.images,
            format,
            out,
        )?)
    })?;
    Ok(0)
}

pub fn cmd_load(engine: &Engine, a: &LoadArgs) -> Result<i32> {
    let input: Box<dyn std::io::Read> = match &a.input {
        Some(p) => {
            Box::new(std::fs::File::open(p).with_context(|| format!("opening {p} to load"))?)
        }
        None => Box::new(std::io::stdin().lock()),
    };
    // A compressed archive (docker save | gzip) loads too.
    let input = berth_image::unpack::decompressed(input)?;
    let loaded = berth_image::archive::load(
        &engine.images,
        std::io::BufReader::with_capacity(1 << 20, input),
    )?;
    for l in loaded {
        if l.tags.is_empty() {
            println!("Loaded image ID: {}", l.id);
        }
        for t in &l.tags {
            println!("Loaded image: {}", familiar(t));
        }
    }
    Ok(0)
}
