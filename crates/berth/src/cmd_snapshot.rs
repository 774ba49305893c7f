//! Containers to images: commit, diff, export.

use crate::args::{CommitArgs, ContainerArg, ExportArgs};
use anyhow::Result;
use berth_engine::usecase::{self, CommitOptions};
use berth_engine::Engine;
use berth_image::Reference;
use std::io::Write;

pub fn cmd_commit(engine: &Engine, a: &CommitArgs) -> Result<i32> {
    let reference = a.reference.as_deref().map(Reference::parse).transpose()?;
    let c = engine.find(&a.container)?;
    let opts = CommitOptions {
        reference,
        changes: a.change.clone(),
        message: a.message.clone(),
        author: a.author.clone(),
        pause: a.pause,
    };
    println!("{}", usecase::commit(engine, &c, &opts)?);
    Ok(0)
}

pub fn cmd_diff(engine: &Engine, a: &ContainerArg) -> Result<i32> {
    let c = engine.find(&a.container)?;
    let mut out = std::io::stdout().lock();
    for change in usecase::diff(engine, &c)? {
        writeln!(out, "{change}")?;
    }
    Ok(0)
}

pub fn cmd_export(engine: &Engine, a: &ExportArgs) -> Result<i32> {
    let c = engine.find(&a.container)?;
    crate::archive_out::write_archive(a.output.as_deref(), |out| {
        Ok(usecase::export(engine, &c, out)?)
    })?;
    Ok(0)
}
