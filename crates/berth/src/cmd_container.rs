//! Container commands: run, create, start, restart, stop, kill, rm, ps, exec, wait,
//! attach. Flags become typed options here (`specgen`); the engine's use cases
//! (`berth_engine::usecase`) do the work.

use crate::args::*;
use crate::format::print_rows;
use crate::inspect::ps_row;
use crate::specgen;
use anyhow::{bail, Context, Result};
use berth_engine::launch::Launch;
use berth_engine::model::{Container, Status};
use berth_engine::usecase::{
    self, AttachStreams, ContainerConfig, ExecOptions, RemoveOptions, RunMode, RunOptions,
    RunOutcome, StopOptions,
};
use berth_engine::Engine;
use std::os::fd::AsFd;
use std::time::Duration;

/// Whether `arg` names a flag of `berth run` (`--privileged`, `-d`, `-it`,
/// `--rm=true`); asked of clap's own definition, so it never drifts from it.
fn is_run_flag(arg: &str) -> bool {
    let name = arg.split('=').next().unwrap_or(arg);
    let mut cli = crate::args::single::run_command();
    let Some(run) = cli.find_subcommand_mut("run") else {
        return false;
    };
    let longs: Vec<String> = run
        .get_arguments()
        .flat_map(|a| {
            a.get_long()
                .into_iter()
                .chain(a.get_all_aliases().unwrap_or_default())
        })
        .map(String::from)
        .collect();
    let shorts: Vec<char> = run.get_arguments().filter_map(|a| a.get_short()).collect();
    match (name.strip_prefix("--"), name.strip_prefix('-')) {
        (Some(long), _) => longs.iter().any(|l| l == long),
        (None, Some(cluster)) => {
            !cluster.is_empty() && cluster.chars().all(|c| shorts.contains(&c))
        }
        _ => false,
    }
}

/// The typed config for `create`/`run`: docker's strings parsed once (`specgen`).
fn container_config(a: &CreateArgs) -> Result<ContainerConfig> {
    let (image, command) = a
        .image_and_command
        .split_first()
        .context("an image name is required")?;
    // Only a command that starts with one of berth's flags looks misplaced:
    // `run IMG -d` surely meant `run -d IMG`, while in `run IMG httpd -p 80` the
    // `-p` is httpd's.
    if let Some(arg) = command.first().filter(|a| is_run_flag(a)) {
        eprintln!("berth: warning: {arg:?} comes after the image name, so it is passed to the container's command, not to berth; put berth flags before the image");
    }
    specgen::container_config(a, image, command)
}

/// The CLI's own stdin, stdout and stderr, with its signals forwarded: `docker run`.
fn with_own_streams<T>(stdin: bool, f: impl FnOnce(AttachStreams) -> T) -> T {
    let input = std::io::stdin();
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    f(AttachStreams {
        stdin: stdin.then(|| input.as_fd()),
        stdout: &mut out,
        stderr: &mut err,
        forward_signals: true,
        detach_keys: berth_engine::detachkeys::parse(berth_engine::detachkeys::DEFAULT).ok(),
    })
}

/// The config with its image pulled as `--pull` says (the name may become the
/// fully qualified one a short name resolved to).
fn pulled_config(engine: &Engine, a: &CreateArgs) -> Result<ContainerConfig> {
    let mut config = container_config(a)?;
    config.image = crate::cmd_registry::ensure_image(engine, &config.image, a.pull)?;
    Ok(config)
}

pub fn cmd_create(engine: &Engine, a: &CreateArgs) -> Result<i32> {
    // The cidfile first, as docker makes it: a taken one stops before any pull.
    let cid = crate::cmd_runflags::cidfile(a.runflags.cidfile.as_deref())?;
    let config = pulled_config(engine, a)?;
    let c = usecase::create(engine, &config)?;
    if let Some(cid) = cid {
        cid.write(&c.id)?;
    }
    println!("{}", c.id);
    Ok(0)
}

pub fn cmd_run(engine: &Engine, a: &RunArgs, launched: Option<Launch>) -> Result<i32> {
    let wait_ready = match a.wait.as_deref() {
        None => None,
        Some("ready") if a.detach => Some(Duration::from_secs(a.wait_timeout)),
        Some("ready") => {
            bail!("--wait=ready needs -d: a foreground run already waits for the container")
        }
        Some(other) => bail!("--wait={other:?} is not supported: use --wait=ready"),
    };
    let detach_keys = crate::cmd_runflags::check(a)?;
    let cid = crate::cmd_runflags::cidfile(a.create.runflags.cidfile.as_deref())?;
    let mut config = pulled_config(engine, &a.create)?;
    config.open_stdin |= crate::cmd_runflags::wants_stdin(a);
    let on_created = crate::cmd_runflags::on_created(cid);
    let outcome = if a.detach {
        usecase::run(
            engine,
            RunOptions {
                config,
                mode: RunMode::Detach { wait_ready },
                on_created,
                launched,
            },
        )?
    } else {
        crate::cmd_runflags::with_session_streams(a, detach_keys, |streams| {
            usecase::run(
                engine,
                RunOptions {
                    config,
                    mode: RunMode::Attach(streams),
                    on_created,
                    launched,
                },
            )
        })?
    };
    match outcome {
        RunOutcome::Detached { id } => {
            println!("{id}");
            Ok(0)
        }
        RunOutcome::Exited {
            name,
            code,
            diagnosis,
            ..
        } => {
            if let Some(diagnosis) = diagnosis {
                eprintln!("berth: {name} stopped with exit code {code}:\n{diagnosis}");
            }
            Ok(code)
        }
    }
}

pub fn cmd_start(engine: &Engine, a: &StartArgs) -> Result<i32> {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let c = engine.find(&a.containers[0])?;
        return Ok(with_own_streams(a.interactive, |streams| {
            usecase::start_attached(engine, &c, streams)
        })?);
    }
    for_each(engine, &a.containers, |engine, c| {
        usecase::start(engine, c)?;
        Ok(())
    })
}

/// Runs `f` on every named container, printing each name on success like docker and
/// each failure on stderr; exit 1 if any failed.
pub(crate) fn for_each(
    engine: &Engine,
    names: &[String],
    f: impl Fn(&Engine, &Container) -> Result<()>,
) -> Result<i32> {
    let mut failed = false;
    for n in names {
        match engine
            .find(n)
            .map_err(anyhow::Error::from)
            .and_then(|c| f(engine, &c))
        {
            Ok(()) => println!("{n}"),
            Err(e) => {
                eprintln!("Error response from berth: {e:#}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

pub fn cmd_stop(engine: &Engine, a: &StopArgs) -> Result<i32> {
    let opts = StopOptions {
        timeout: a.time,
        signal: a.signal.clone(),
    };
    for_each(engine, &a.containers, |engine, c| {
        Ok(usecase::stop(engine, c, &opts)?)
    })
}

pub fn cmd_restart(engine: &Engine, a: &StopArgs) -> Result<i32> {
    for_each(engine, &a.containers, |engine, c| {
        Ok(usecase::restart(engine, c, a.time)?)
    })
}

pub fn cmd_kill(engine: &Engine, a: &KillArgs) -> Result<i32> {
    berth_runtime::signal::parse_signal(&a.signal)?;
    for_each(engine, &a.containers, |engine, c| {
        Ok(usecase::kill(engine, c, &a.signal)?)
    })
}

pub fn cmd_rm(engine: &Engine, a: &RmArgs) -> Result<i32> {
    let opts = RemoveOptions {
        force: a.force,
        volumes: a.volumes,
    };
    for_each(engine, &a.containers, |engine, c| {
        Ok(usecase::remove(engine, c, opts)?)
    })
}

fn matches_filter(c: &Container, engine: &Engine, filter: &str) -> Result<bool> {
    let (key, value) = filter
        .split_once('=')
        .with_context(|| format!("bad filter {filter:?}: expected KEY=VALUE"))?;
    Ok(match key {
        "name" => c.name.contains(value.trim_start_matches('/')),
        "id" => c.id.starts_with(value),
        "status" => {
            let known = ["created", "restarting", "running", "removing", "paused", "exited", "dead"];
            if !known.contains(&value) {
                bail!("invalid filter 'status={value}': use one of {}", known.join(", "));
            }
            crate::inspect::state_name(c) == value
        }
        "ancestor" => match engine.images.resolve(value) {
            Ok(id) => c.image_id == id,
            Err(_) => c.spec.image == value,
        },
        "label" => match value.split_once('=') {
            Some((k, v)) => c.spec.labels.get(k).is_some_and(|x| x == v),
            None => c.spec.labels.contains_key(value),
        },
        "exited" => c.state.status == Status::Exited && c.state.exit_code.map(|x| x.to_string()).as_deref() == Some(value),
        other => bail!("invalid filter {other:?}: supported filters are name, id, status, ancestor, label, exited"),
    })
}

pub fn cmd_ps(engine: &Engine, a: &PsArgs) -> Result<i32> {
    let mut list = engine.list()?;
    let last = if a.latest { Some(1) } else { a.last };
    if !a.all && last.is_none() {
        list.retain(|c| c.is_running() || berth_engine::lifecycle::restart_pending(c));
    }
    for f in &a.filter {
        let mut keep = Vec::new();
        for c in list {
            if matches_filter(&c, engine, f)? {
                keep.push(c);
            }
        }
        list = keep;
    }
    if let Some(n) = last {
        list.truncate(n);
    }
    if a.quiet {
        for c in &list {
            println!(
                "{}",
                if a.no_trunc {
                    c.id.clone()
                } else {
                    c.id[..12].to_string()
                }
            );
        }
        return Ok(0);
    }
    // Boot states can change after the boot (a unit failing later); ask systemd.
    berth_engine::boot_refresh::refresh_all(engine, &mut list);
    let rows: Vec<_> = list.iter().map(|c| ps_row(c, a.no_trunc)).collect();
    let headers = [
        ("CONTAINER ID", "ID"),
        ("IMAGE", "Image"),
        ("COMMAND", "Command"),
        ("CREATED", "RunningFor"),
        ("STATUS", "Status"),
        ("PORTS", "Ports"),
        ("NAMES", "Names"),
    ];
    print_rows(a.format.as_deref(), &headers, &rows)?;
    Ok(0)
}

pub fn cmd_exec(engine: &Engine, a: &ExecArgs) -> Result<i32> {
    let (name, args) = a
        .container_and_command
        .split_first()
        .context("a container is required")?;
    let c = engine.find(name)?;
    let opts = ExecOptions {
        args: args.to_vec(),
        env: specgen::env_entries(&a.env, &a.env_file)?,
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        tty: a.tty,
        interactive: a.interactive,
        detach: a.detach,
        privileged: a.privileged,
    };
    Ok(usecase::exec(engine, &c, &opts)?)
}

pub fn cmd_wait(engine: &Engine, a: &NamesArgs) -> Result<i32> {
    let mut status = 0;
    for n in &a.containers {
        let c = engine.find(n)?;
        match usecase::wait(engine, &c)? {
            Some(code) => println!("{code}"),
            None => {
                eprintln!("Error response from berth: container {n} was removed before its exit code could be read");
                status = 1;
            }
        }
    }
    Ok(status)
}

pub fn cmd_attach(engine: &Engine, a: &AttachArgs) -> Result<i32> {
    let c = engine.find(&a.container)?;
    if !c.is_running() {
        bail!(
            "you cannot attach to a stopped container, start it first (berth start -a {})",
            a.container
        );
    }
    let keys = a
        .detach_keys
        .as_deref()
        .map(berth_engine::detachkeys::parse)
        .transpose()?;
    Ok(with_own_streams(
        !a.no_stdin && c.spec.open_stdin,
        |mut streams| {
            if keys.is_some() {
                streams.detach_keys = keys;
            }
            usecase::attach(engine, &c.id, c.spec.tty, streams)
        },
    )?)
}

#[cfg(test)]
mod tests {
    use super::is_run_flag;

    #[test]
    fn recognises_run_flags_from_clap() {
        for yes in [
            "--privileged",
            "--rm=true",
            "-d",
            "-it",
            "--net",
            "--systemd=false",
            "-c",
            "-p",
        ] {
            assert!(is_run_flag(yes), "{yes}");
        }
        for no in ["hello", "--bogus", "-x", "-", "--", "-z"] {
            assert!(!is_run_flag(no), "{no}");
        }
    }
}
