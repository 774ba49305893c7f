//! Containers to images: commit, diff, export.

use crate::args::{CommitArgs, ContainerArg, ExportArgs};
use anyhow::{bail, Context, Result};
use berth_engine::usecase::{self, CommitOptions};
use berth_engine::Engine;
use berth_image::Reference;
use std::io::{BufWriter, IsTerminal, Write};

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
    let Some(path) = &a.output else {
        let stdout = std::io::stdout();
        if stdout.is_terminal() {
            bail!("cowardly refusing to write a tar archive to a terminal: use -o FILE or redirect the output");
        }
        let mut out = BufWriter::new(stdout.lock());
        usecase::export(engine, &c, &mut out)?;
        out.flush()
            .context("writing the archive to standard output")?;
        return Ok(0);
    };
    let file = std::fs::File::create(path).with_context(|| format!("creating {path}"))?;
    let mut out = BufWriter::new(file);
    let written = usecase::export(engine, &c, &mut out)
        .map_err(anyhow::Error::from)
        .and_then(|()| out.flush().with_context(|| format!("writing {path}")));
    if let Err(e) = written {
        let _ = std::fs::remove_file(path); // no half archive left behind
        return Err(e);
    }
    Ok(0)
}
