//! container/network/image/system prune: docker's prompts and output.

use crate::args::{ImagePruneArgs, PruneArgs, SystemPruneArgs};
use crate::format::human_size_precision;
use anyhow::Result;
use berth_engine::prune::{self, Pruned};
use berth_engine::Engine;
use std::io::{BufRead, Write};

/// docker's confirmation: anything but y/yes (EOF included) declines.
pub(crate) fn confirmed(warning: &str, force: bool) -> bool {
    if force {
        return true;
    }
    print!("WARNING! {warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Prints one section ("Deleted Containers:" and its lines); returns whether
/// something failed.
fn print_section(title: &str, p: &Pruned) -> bool {
    if !p.removed.is_empty() {
        println!("{title}:");
        p.removed.iter().for_each(|r| println!("{r}"));
        println!();
    }
    p.failed
        .iter()
        .for_each(|f| eprintln!("berth: could not remove {f}"));
    !p.failed.is_empty()
}

fn exit_code(failed: bool) -> i32 {
    if failed {
        1
    } else {
        0
    }
}

pub fn cmd_container_prune(engine: &mut Engine, a: &PruneArgs) -> Result<i32> {
    if !confirmed("This will remove all stopped containers.", a.force) {
        return Ok(0);
    }
    let p = prune::containers(engine)?;
    let failed = print_section("Deleted Containers", &p);
    println!("Total reclaimed space: {}", reclaimed(p.bytes));
    Ok(exit_code(failed))
}

pub fn cmd_network_prune(engine: &Engine, a: &PruneArgs) -> Result<i32> {
    let warning = "This will remove all custom networks not used by at least one container.";
    if !confirmed(warning, a.force) {
        return Ok(0);
    }
    let p = prune::networks(engine)?;
    Ok(exit_code(print_section("Deleted Networks", &p)))
}

fn image_warning(all: bool) -> &'static str {
    if all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    }
}

pub fn cmd_image_prune(engine: &mut Engine, a: &ImagePruneArgs) -> Result<i32> {
    let warning = format!("This will remove {}.", image_warning(a.all));
    if !confirmed(&warning, a.force) {
        return Ok(0);
    }
    let mut p = prune::images(engine, a.all)?;
    collect_into(engine, &mut p)?;
    let failed = print_section("Deleted Images", &p);
    println!("Total reclaimed space: {}", reclaimed(p.bytes));
    Ok(exit_code(failed))
}

pub fn cmd_system_prune(engine: &mut Engine, sa: &SystemPruneArgs) -> Result<i32> {
    let a = &sa.prune;
    let warning = format!(
        "This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n{}  - {}\n  - unused build cache\n",
        if sa.volumes { "  - all anonymous volumes not used by at least one container\n" } else { "" },
        image_warning(a.all)
    );
    if !confirmed(&warning, a.force) {
        return Ok(0);
    }
    // What killed builds left (their step containers, which may still run)
    // goes first, so that the container prune below sees none of it.
    let cache_options = berth_build::prune::PruneOptions {
        all: a.all,
        until: None,
    };
    let reaped = crate::build::reap_dead_builds(engine);
    let containers = prune::containers(engine)?;
    let networks = prune::networks(engine)?;
    let volumes = match sa.volumes {
        true => berth_engine::volumes::prune(engine, false, |_| true)?,
        false => Pruned::default(),
    };
    let mut images = prune::images(engine, a.all)?;
    let mut cache = crate::build::prune(engine, &cache_options)?;
    cache.failed.extend(reaped.failed);
    collect_into(engine, &mut images)?;
    let mut failed = print_section("Deleted Containers", &containers);
    failed |= print_section("Deleted Networks", &networks);
    failed |= print_section("Deleted Volumes", &volumes);
    failed |= print_section("Deleted Images", &images);
    failed |= crate::build::print_pruned(&cache);
    println!(
        "Total reclaimed space: {}",
        reclaimed(containers.bytes + volumes.bytes + images.bytes + cache.bytes)
    );
    Ok(exit_code(failed))
}

/// Frees what the removed images left unused; docker lists the freed layers
/// after the images ("deleted: <chain id>").
fn collect_into(engine: &Engine, p: &mut Pruned) -> Result<()> {
    let freed = crate::cmd_image::collect_garbage(engine)?;
    p.bytes += freed.bytes;
    p.removed
        .extend(freed.layers.iter().map(|l| format!("deleted: {l}")));
    Ok(())
}

/// docker prints reclaimed space with `units.HumanSize` (4 significant digits).
fn reclaimed(bytes: u64) -> String {
    human_size_precision(bytes, 4)
}
