//! `cp`: files between a container and the host (`berth_engine::copy` does the
//! work; here docker's `CONTAINER:PATH` arguments are told apart).

use crate::args::CpArgs;
use crate::format::human_size;
use anyhow::{bail, Result};
use berth_engine::copy::{self, CopyOptions, HostSource, HostTarget};
use berth_engine::Engine;
use std::path::Path;

/// One side of a copy, as docker reads it: a path that is absolute or starts with
/// `.` is local even with a `:` in it; otherwise `NAME:PATH` names a container.
#[derive(Debug, PartialEq, Eq)]
enum End<'a> {
    Local(&'a str),
    Container(&'a str, &'a str),
}

fn end(arg: &str) -> End<'_> {
    if arg.starts_with('/') {
        return End::Local(arg);
    }
    match arg.split_once(':') {
        Some((name, path)) if !name.is_empty() && !name.starts_with('.') => {
            End::Container(name, path)
        }
        _ => End::Local(arg),
    }
}

pub fn cmd_cp(engine: &Engine, a: &CpArgs) -> Result<i32> {
    let opts = CopyOptions {
        archive: a.archive,
        follow_link: a.follow_link,
    };
    let copied = match (end(&a.src), end(&a.dest)) {
        (End::Container(..), End::Container(..)) => {
            bail!("copying between containers is not supported; copy to the host first")
        }
        (End::Local(_), End::Local(_)) => {
            bail!("must specify at least one container source (CONTAINER:PATH)")
        }
        (End::Container(_, ""), _) | (_, End::Container(_, "")) => {
            bail!("the path in the container is empty; write CONTAINER:/path")
        }
        (End::Container(name, src), End::Local(dest)) => {
            let c = engine.find(name)?;
            if dest == "-" {
                let mut out = std::io::stdout().lock();
                copy::copy_from(engine, &c, src, HostTarget::Stream(&mut out), opts)?;
                return Ok(0);
            }
            copy::copy_from(engine, &c, src, HostTarget::Path(Path::new(dest)), opts)?
        }
        (End::Local(src), End::Container(name, dest)) => {
            let c = engine.find(name)?;
            if src == "-" {
                let mut input = std::io::stdin().lock();
                copy::copy_to(engine, &c, dest, HostSource::Stream(&mut input), opts)?;
                return Ok(0);
            }
            copy::copy_to(engine, &c, dest, HostSource::Path(Path::new(src)), opts)?
        }
    };
    if !a.quiet {
        eprintln!("Successfully copied {} to {}", human_size(copied), a.dest);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_container_paths_from_local_ones() {
        assert_eq!(end("box:/etc"), End::Container("box", "/etc"));
        assert_eq!(end("box:"), End::Container("box", ""));
        assert_eq!(end("/tmp/a:b"), End::Local("/tmp/a:b"));
        assert_eq!(end("./a:b"), End::Local("./a:b"));
        assert_eq!(end("file"), End::Local("file"));
        assert_eq!(end("-"), End::Local("-"));
        assert_eq!(end(":x"), End::Local(":x"));
    }
}
