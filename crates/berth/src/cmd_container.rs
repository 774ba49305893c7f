//! Container commands: run, create, start, restart, stop, kill, rm, ps, exec, wait,
//! attach.

use crate::args::*;
use crate::format::print_rows;
use crate::inspect::ps_row;
use anyhow::{bail, Context, Result};
use berth_engine::client::{attach, AttachOptions};
use berth_engine::create::{create, parse_env_file, CreateRequest};
use berth_engine::exec::{exec, ExecOptions};
use berth_engine::lifecycle;
use berth_engine::model::{Container, Status};
use berth_engine::Engine;
use std::time::Duration;

/// Whether `arg` names a flag of `berth run` (`--privileged`, `-d`, `-it`,
/// `--rm=true`); asked of clap's own definition, so it never drifts from it.
fn is_run_flag(arg: &str) -> bool {
    use clap::CommandFactory;
    let name = arg.split('=').next().unwrap_or(arg);
    let mut cli = crate::args::Cli::command();
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

fn env_entries(env: &[String], env_files: &[String]) -> Result<Vec<String>> {
    let lookup = |k: &str| std::env::var(k).ok();
    let mut out = Vec::new();
    for f in env_files {
        let text = std::fs::read_to_string(f).with_context(|| format!("reading env file {f}"))?;
        out.extend(parse_env_file(&text, lookup)?);
    }
    for e in env {
        if e.contains('=') {
            out.push(e.clone());
        } else if let Some(v) = lookup(e) {
            out.push(format!("{e}={v}"));
        }
    }
    Ok(out)
}

fn create_request(a: &CreateArgs) -> Result<CreateRequest> {
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
    let security = crate::security_opt::parse(&a.security_opt)?;
    Ok(CreateRequest {
        image: image.clone(),
        name: a.name.clone(),
        command: command.to_vec(),
        entrypoint: a.entrypoint.clone(),
        hostname: a.hostname.clone(),
        env: env_entries(&a.env, &a.env_file)?,
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        tty: a.tty,
        open_stdin: a.interactive,
        auto_remove: a.rm,
        volumes: a.volume.clone(),
        tmpfs: a.tmpfs.clone(),
        read_only: a.read_only,
        privileged: a.privileged,
        cap_add: a.cap_add.clone(),
        cap_drop: a.cap_drop.clone(),
        no_new_privileges: security.no_new_privileges,
        seccomp: security.seccomp,
        stop_signal: a.stop_signal.clone(),
        stop_timeout: a.stop_timeout,
        ulimits: a.ulimit.clone(),
        memory: a.memory.clone(),
        cpus: a.cpus.clone(),
        pids_limit: a.pids_limit.filter(|p| *p > 0),
        labels: a.label.clone(),
        runtime: a.runtime.clone(),
        network: a.network.clone(),
        systemd: a.systemd.clone(),
        publish: a.publish.clone(),
        publish_all: a.publish_all,
        ip: a.ip.clone(),
        mac: a.mac_address.clone(),
        dns: a.dns.clone(),
        dns_search: a.dns_search.clone(),
        dns_options: a.dns_option.clone(),
        add_hosts: a.add_host.clone(),
    })
}

/// The request with its image pulled as `--pull` says (the name may become the
/// fully qualified one a short name resolved to).
fn pulled_request(engine: &Engine, a: &CreateArgs) -> Result<CreateRequest> {
    let mut req = create_request(a)?;
    req.image = crate::cmd_registry::ensure_image(engine, &req.image, &a.pull)?;
    Ok(req)
}

pub fn cmd_create(engine: &Engine, a: &CreateArgs) -> Result<i32> {
    let c = create(engine, &pulled_request(engine, a)?)?;
    println!("{}", c.id);
    Ok(0)
}

pub fn cmd_run(engine: &Engine, a: &RunArgs) -> Result<i32> {
    match a.wait.as_deref() {
        None => {}
        Some("ready") if a.detach => {}
        Some("ready") => {
            bail!("--wait=ready needs -d: a foreground run already waits for the container")
        }
        Some(other) => bail!("--wait={other:?} is not supported: use --wait=ready"),
    }
    let c = create(engine, &pulled_request(engine, &a.create)?)?;
    if a.wait.is_some() && !c.spec.systemd {
        let _ = lifecycle::remove_files(engine, &c, true);
        bail!("--wait=ready needs a systemd container: its command is not an init; add --systemd=always if it speaks sd_notify");
    }
    if a.detach {
        start_or_clean(engine, &c, false)?;
        if a.wait.is_some() {
            lifecycle::wait_ready(engine, &c.id, Duration::from_secs(a.wait_timeout))?;
        }
        println!("{}", c.id);
        return Ok(0);
    }
    start_or_clean(engine, &c, true)?;
    let code = attach(
        engine,
        &c.id,
        AttachOptions {
            stdin: a.create.interactive,
            tty: a.create.tty,
        },
    )?;
    // A system container that died during boot explains itself.
    if code != 0 && c.spec.systemd {
        if let Ok(c) = engine.find(&c.id) {
            let diagnosis = lifecycle::diagnosis_text(engine, &c);
            if !diagnosis.is_empty() {
                eprintln!(
                    "berth: {} stopped with exit code {code}:\n{diagnosis}",
                    c.name
                );
            }
        }
    }
    Ok(code)
}

/// Starts; a container that could not start is removed again if it was `--rm`.
fn start_or_clean(engine: &Engine, c: &Container, attach: bool) -> Result<()> {
    if let Err(e) = lifecycle::start(engine, c, attach) {
        if c.spec.auto_remove {
            if let Ok(c) = engine.find(&c.id) {
                let _ = lifecycle::remove_files(engine, &c, true);
            }
        }
        return Err(e.into());
    }
    Ok(())
}

pub fn cmd_start(engine: &Engine, a: &StartArgs) -> Result<i32> {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let c = engine.find(&a.containers[0])?;
        if c.is_running() {
            return Ok(attach(
                engine,
                &c.id,
                AttachOptions {
                    stdin: a.interactive && c.spec.open_stdin,
                    tty: c.spec.tty,
                },
            )?);
        }
        lifecycle::start(engine, &c, true)?;
        return Ok(attach(
            engine,
            &c.id,
            AttachOptions {
                stdin: a.interactive && c.spec.open_stdin,
                tty: c.spec.tty,
            },
        )?);
    }
    for_each(engine, &a.containers, |engine, c| {
        lifecycle::start(engine, c, false)?;
        Ok(())
    })
}

/// Runs `f` on every named container, printing each name on success like docker and
/// each failure on stderr; exit 1 if any failed.
fn for_each(
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
    let signal = a.signal.clone();
    for_each(engine, &a.containers, |engine, c| {
        let mut c = c.clone();
        if let Some(s) = &signal {
            berth_runtime::signal::parse_signal(s)?;
            c.spec.stop_signal = s.clone();
        }
        Ok(lifecycle::stop(engine, &c, a.time)?)
    })
}

pub fn cmd_restart(engine: &Engine, a: &StopArgs) -> Result<i32> {
    for_each(engine, &a.containers, |engine, c| {
        lifecycle::stop(engine, c, a.time)?;
        let c = engine.find(&c.id)?;
        Ok(lifecycle::start(engine, &c, false)?)
    })
}

pub fn cmd_kill(engine: &Engine, a: &KillArgs) -> Result<i32> {
    berth_runtime::signal::parse_signal(&a.signal)?;
    for_each(engine, &a.containers, |_, c| {
        Ok(lifecycle::kill(c, &a.signal)?)
    })
}

pub fn cmd_rm(engine: &Engine, a: &RmArgs) -> Result<i32> {
    for_each(engine, &a.containers, |engine, c| {
        Ok(lifecycle::remove(engine, c, a.force, a.volumes)?)
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
            c.state.status.as_str() == value
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
        list.retain(|c| c.is_running());
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
        env: env_entries(&a.env, &a.env_file)?,
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        tty: a.tty,
        interactive: a.interactive,
        detach: a.detach,
        privileged: a.privileged,
    };
    Ok(exec(engine, &c, &opts)?)
}

pub fn cmd_wait(engine: &Engine, a: &NamesArgs) -> Result<i32> {
    let mut status = 0;
    for n in &a.containers {
        let c = engine.find(n)?;
        lifecycle::wait_stopped(engine, &c.id, Duration::from_secs(u64::MAX / 4))?;
        match engine.find(&c.id) {
            Ok(c) => println!("{}", c.state.exit_code.unwrap_or(0)),
            Err(_) => {
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
    Ok(attach(
        engine,
        &c.id,
        AttachOptions {
            stdin: !a.no_stdin && c.spec.open_stdin,
            tty: c.spec.tty,
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
            "-p",
        ] {
            assert!(is_run_flag(yes), "{yes}");
        }
        for no in ["hello", "--bogus", "-x", "-", "--", "-c"] {
            assert!(!is_run_flag(no), "{no}");
        }
    }
}
