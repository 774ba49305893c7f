//! Registry commands: pull (and the pull that run/create do when an image is
//! missing). The network work happens in berth-registry, which keeps its tokio
//! runtime to itself.

use crate::args::PullArgs;
use crate::progress;
use anyhow::{bail, Context, Result};
use berth_engine::Engine;
use berth_image::reference::familiar;
use berth_image::Reference;
use berth_registry::{PullOptions, Pulled, Settings};

fn settings() -> Result<Settings> {
    Ok(Settings::from_env()?)
}

pub fn cmd_pull(engine: &Engine, a: &PullArgs) -> Result<i32> {
    let settings = settings()?;
    let platform = a
        .platform
        .as_deref()
        .map(berth_registry::Platform::parse)
        .transpose()?;
    let opts = PullOptions { platform };
    if a.all_tags {
        let has_tag = a.reference.contains('@')
            || a.reference
                .rsplit('/')
                .next()
                .is_some_and(|l| l.contains(':'));
        if has_tag {
            bail!("tag can't be used with --all-tags/-a: give the repository only");
        }
        let (repo, mut tags) = berth_registry::pull::list_tags(&settings, &a.reference)?;
        tags.sort();
        if !a.quiet {
            println!("Pulling all tags of {}", repo.familiar_name());
        }
        for t in tags {
            let one = format!("{}:{t}", repo.name());
            pull_one(engine, &settings, &one, &opts, a.quiet)?;
        }
        return Ok(0);
    }
    pull_one(engine, &settings, &a.reference, &opts, a.quiet)?;
    Ok(0)
}

fn pull_one(
    engine: &Engine,
    settings: &Settings,
    input: &str,
    opts: &PullOptions,
    quiet: bool,
) -> Result<Pulled> {
    let explicit_tag =
        input.contains('@') || input.rsplit('/').next().is_some_and(|l| l.contains(':'));
    if !quiet {
        if !explicit_tag {
            println!("Using default tag: latest");
        }
        if let Ok(r) = Reference::parse(input) {
            let tag = r.tag.clone().or(r.digest.clone()).unwrap_or_default();
            println!("{tag}: Pulling from {}", r.repository);
        }
    }
    let before = engine.images.resolve(input).ok();
    let p = berth_registry::pull(
        &engine.images,
        settings,
        input,
        opts,
        progress::for_stdout(quiet),
    )?;
    if quiet {
        println!("{}", p.reference);
    } else {
        println!("Digest: {}", p.digest);
        let name = familiar(&p.reference.to_string());
        if !p.downloaded && before.as_deref() == Some(p.image_id.as_str()) {
            println!("Status: Image is up to date for {name}");
        } else {
            println!("Status: Downloaded newer image for {name}");
        }
        println!("{}", p.reference);
    }
    Ok(p)
}

/// For run/create: the image name to hand to the engine after applying
/// `--pull=missing|always|never`. A short name found locally under any search
/// registry counts as present.
pub fn ensure_image(engine: &Engine, image: &str, policy: &str) -> Result<String> {
    let settings = settings()?;
    let local = || -> Option<String> {
        if engine.images.resolve(image).is_ok() {
            return Some(image.to_string());
        }
        let candidates = settings.candidates(image).ok()?;
        candidates
            .iter()
            .map(|c| c.to_string())
            .find(|c| engine.images.resolve(c).is_ok())
    };
    match policy {
        "never" => return Ok(local().unwrap_or_else(|| image.to_string())),
        "missing" => {
            if let Some(found) = local() {
                return Ok(found);
            }
            // An id prefix or a malformed name is the engine's to explain.
            if Reference::parse(image).is_err() {
                return Ok(image.to_string());
            }
            eprintln!("Unable to find image '{}' locally", familiar_input(image));
        }
        _ => {}
    }
    let p = berth_registry::pull(
        &engine.images,
        &settings,
        image,
        &PullOptions::default(),
        progress::for_stderr(),
    )
    .with_context(|| {
        format!(
            "Unable to find image '{}' locally, and pulling it failed",
            familiar_input(image)
        )
    })?;
    eprintln!("Digest: {}", p.digest);
    eprintln!(
        "Status: Downloaded newer image for {}",
        familiar(&p.reference.to_string())
    );
    Ok(p.reference.to_string())
}

fn familiar_input(image: &str) -> String {
    match Reference::parse(image) {
        Ok(r) if r.digest.is_none() => familiar(&r.to_string()),
        _ => image.to_string(),
    }
}
