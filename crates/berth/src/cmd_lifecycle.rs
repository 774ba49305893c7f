//! `pause`, `unpause`, `rename`, `update`: flags become typed requests here; the
//! engine's use cases do the work.

use crate::args::{PauseArgs, RenameArgs, UpdateArgs};
use crate::cmd_container::for_each;
use crate::specgen::{parse_cpus, parse_memory};
use anyhow::Result;
use berth_engine::usecase::{self, ResourceUpdate};
use berth_engine::Engine;

pub fn cmd_pause(engine: &Engine, a: &PauseArgs) -> Result<i32> {
    for_each(engine, &a.containers, |engine, c| {
        Ok(usecase::pause(engine, c)?)
    })
}

pub fn cmd_unpause(engine: &Engine, a: &PauseArgs) -> Result<i32> {
    for_each(engine, &a.containers, |engine, c| {
        Ok(usecase::unpause(engine, c)?)
    })
}

/// docker prints nothing on success.
pub fn cmd_rename(engine: &Engine, a: &RenameArgs) -> Result<i32> {
    let c = engine.find(&a.container)?;
    usecase::rename(engine, &c, &a.new_name)?;
    Ok(0)
}

pub fn cmd_update(engine: &Engine, a: &UpdateArgs) -> Result<i32> {
    let u = resource_update(a)?;
    let restart = a.restart.as_deref().map(str::parse).transpose()?;
    for_each(engine, &a.containers, |engine, c| {
        Ok(usecase::update(engine, c, &u, restart)?)
    })
}

/// docker's strings as numbers, checked before any container is touched.
fn resource_update(a: &UpdateArgs) -> Result<ResourceUpdate> {
    let cpus = |s: &str| match s.trim().parse::<f64>() {
        Ok(0.0) => Ok(0),
        _ => parse_cpus(s),
    };
    Ok(ResourceUpdate {
        memory: a.memory.as_deref().map(parse_memory).transpose()?,
        nano_cpus: a.cpus.as_deref().map(cpus).transpose()?,
        pids_limit: a.pids_limit,
        ..crate::runflags::limit_update(&a.limits)?
    })
}

#[cfg(test)]
mod tests {
    use crate::args::{Cli, Command};
    use clap::Parser;

    fn parse(argv: &[&str]) -> Result<super::ResourceUpdate, String> {
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        match cli.command {
            Command::Update(a) => super::resource_update(&a).map_err(|e| e.to_string()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_become_numbers() {
        let u = parse(&[
            "berth",
            "update",
            "-m",
            "64m",
            "--memory-swap",
            "-1",
            "--cpus",
            "0.5",
            "--pids-limit",
            "-1",
            "--cpuset-cpus",
            "0",
            "c1",
        ])
        .unwrap();
        assert_eq!(u.memory, Some(64 << 20));
        assert_eq!(u.memory_swap, Some(-1));
        assert_eq!(u.nano_cpus, Some(500_000_000));
        assert_eq!(u.pids_limit, Some(-1));
        assert_eq!(u.cpuset_cpus.as_deref(), Some("0"));
    }

    #[test]
    fn too_small_a_memory_limit_is_refused() {
        let e = parse(&["berth", "update", "--memory", "1k", "c1"]).unwrap_err();
        assert!(e.contains("too small"), "{e}");
    }
}
