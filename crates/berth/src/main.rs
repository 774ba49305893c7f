//! berth: the command line. Parses arguments (clap lives only here), dispatches to the
//! engine, prints results, and maps failures to docker's exit codes (125 for engine
//! errors; commands that run a process return its code).

mod archive_out;
mod args;
mod build;
mod cmd_boot;
mod cmd_completion;
mod cmd_container;
mod cmd_cp;
mod cmd_df;
mod cmd_events;
mod cmd_history;
mod cmd_image;
mod cmd_info;
mod cmd_lifecycle;
mod cmd_network;
mod cmd_prune;
mod cmd_registry;
mod cmd_runflags;
mod cmd_snapshot;
mod cmd_stats;
mod cmd_version;
mod cmd_volume;
mod compat;
mod format;
mod inspect;
mod progress;
mod reader_gone;
mod runflags;
mod security_opt;
mod specgen;

use anyhow::Result;
use args::{BuilderCommand, Command, ContainerCommand, ImageCommand, SystemCommand};
use berth_engine::launch::Launch;
use berth_engine::paths::Paths;
use berth_engine::Engine;
use berth_engine::EngineError;
use std::ffi::OsString;

fn main() {
    berth_engine::inherit::sanitize_at_start();
    if let Some((id, attach)) = monitor_argv(std::env::args_os().skip(1)) {
        std::process::exit(berth_engine::monitor::run(&id, attach));
    }
    reader_gone::install();
    let args: Vec<OsString> = std::env::args_os().collect();
    let ahead = launch_for_run(&args);
    let cli = match args::single::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // Its monitor is told to give up and waited for, before the exit.
            drop(ahead);
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 125,
            };
            // args_os: env::args panics on an argument that is not UTF-8.
            let args: Vec<String> = std::env::args_os()
                .skip(1)
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            match compat::unknown_docker_flag(&e, &args) {
                Some(message) => eprintln!("{message}"),
                None => {
                    let _ = e.print();
                }
            }
            std::process::exit(code);
        }
    };
    if let Command::Monitor(m) = &cli.command {
        std::process::exit(berth_engine::monitor::run(&m.id, m.attach));
    }
    let code = match dispatch(cli.command, ahead) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth: {e:#}");
            e.downcast_ref::<berth_engine::EngineError>()
                .map(|e| e.exit_code())
                .unwrap_or(125)
        }
    };
    std::process::exit(code);
}

/// The exact command line berth gives every container's monitor
/// (`lifecycle::start`): `monitor ID [--attach]`. It is read without clap,
/// which builds its whole command tree before parsing (about 0.4 ms of CPU, once
/// per container start); any other shape goes through clap as usual.
fn monitor_argv(mut args: impl Iterator<Item = std::ffi::OsString>) -> Option<(String, bool)> {
    if args.next()? != "monitor" {
        return None;
    }
    let id = args.next()?.into_string().ok()?;
    let attach = match args.next() {
        None => false,
        Some(flag) if flag == "--attach" => true,
        Some(_) => return None,
    };
    (args.next().is_none() && !id.starts_with('-')).then_some((id, attach))
}

/// `run` launches its container's monitor before it parses its flags, so that the
/// monitor's start-up (an exec, the C library's CPU probing, which traps to the
/// hypervisor in a VM, and opening the database) runs beside the parsing and the
/// container's creation (see `berth_engine::launch`); whether a client attaches
/// is told with the go. Only where the command line names `run` first: anything
/// else is parsed before a monitor is launched.
fn launch_for_run(args: &[OsString]) -> Option<Result<Launch, EngineError>> {
    names_run(args).then(launch_monitor)
}

fn launch_monitor() -> Result<Launch, EngineError> {
    Launch::spawn(&Paths::from_env(), &berth_engine::create::random_id())
}

/// `berth run …` or `berth container run …`.
fn names_run(args: &[OsString]) -> bool {
    match (args.get(1), args.get(2)) {
        (Some(first), _) if first == "run" => true,
        (Some(first), Some(second)) => first == "container" && second == "run",
        _ => false,
    }
}

/// The monitor launched for `run` ([`launch_for_run`]), or one launched now.
fn launch_ahead(
    command: &Command,
    ahead: Option<Result<Launch, EngineError>>,
) -> Result<Option<Launch>> {
    match command {
        Command::Run(_) | Command::Container(ContainerCommand::Run(_)) => {
            Ok(Some(ahead.unwrap_or_else(launch_monitor)?))
        }
        _ => Ok(None),
    }
}

fn dispatch(command: Command, ahead: Option<Result<Launch, EngineError>>) -> Result<i32> {
    // What describes berth itself needs no engine (and no root).
    match &command {
        Command::Version(a) => return cmd_version::cmd_version(a),
        Command::Completion(a) => return cmd_completion::cmd_completion(a),
        Command::Man(a) => return cmd_completion::cmd_man(a),
        _ => {}
    }
    berth_net::network::linger_from_env()?;
    let launched = launch_ahead(&command, ahead)?;
    let mut engine = Engine::open()?;
    let root = engine.paths.root.clone();
    berth_image::gc::sweep_if_a_writer_died(&root, || {
        berth_image::layers::sweep_store_temps(&root);
        build::sweep_leftovers(&root);
    });
    let e = &mut engine;
    match command {
        Command::Run(a) | Command::Container(ContainerCommand::Run(a)) => {
            cmd_container::cmd_run(e, &a, launched)
        }
        Command::Create(a) | Command::Container(ContainerCommand::Create(a)) => {
            cmd_container::cmd_create(e, &a)
        }
        Command::Start(a) | Command::Container(ContainerCommand::Start(a)) => {
            cmd_container::cmd_start(e, &a)
        }
        Command::Restart(a) | Command::Container(ContainerCommand::Restart(a)) => {
            cmd_container::cmd_restart(e, &a)
        }
        Command::Stop(a) | Command::Container(ContainerCommand::Stop(a)) => {
            cmd_container::cmd_stop(e, &a)
        }
        Command::Kill(a) | Command::Container(ContainerCommand::Kill(a)) => {
            cmd_container::cmd_kill(e, &a)
        }
        Command::Rm(a) | Command::Container(ContainerCommand::Rm(a)) => {
            cmd_container::cmd_rm(e, &a)
        }
        Command::Ps(a) | Command::Container(ContainerCommand::Ls(a)) => {
            cmd_container::cmd_ps(e, &a)
        }
        Command::Logs(a) | Command::Container(ContainerCommand::Logs(a)) => {
            cmd_info::cmd_logs(e, &a)
        }
        Command::Exec(a) | Command::Container(ContainerCommand::Exec(a)) => {
            cmd_container::cmd_exec(e, &a)
        }
        Command::Inspect(a) => cmd_info::cmd_inspect(e, &a),
        Command::Container(ContainerCommand::Inspect(a)) => cmd_info::cmd_inspect(e, &a.into()),
        Command::Wait(a) | Command::Container(ContainerCommand::Wait(a)) => {
            cmd_container::cmd_wait(e, &a)
        }
        Command::Attach(a) | Command::Container(ContainerCommand::Attach(a)) => {
            cmd_container::cmd_attach(e, &a)
        }
        Command::Commit(a) | Command::Container(ContainerCommand::Commit(a)) => {
            cmd_snapshot::cmd_commit(e, &a)
        }
        Command::Diff(a) | Command::Container(ContainerCommand::Diff(a)) => {
            cmd_snapshot::cmd_diff(e, &a)
        }
        Command::Export(a) | Command::Container(ContainerCommand::Export(a)) => {
            cmd_snapshot::cmd_export(e, &a)
        }
        Command::Cp(a) | Command::Container(ContainerCommand::Cp(a)) => cmd_cp::cmd_cp(e, &a),
        Command::Stats(a) | Command::Container(ContainerCommand::Stats(a)) => {
            cmd_stats::cmd_stats(e, &a)
        }
        Command::Top(a) | Command::Container(ContainerCommand::Top(a)) => cmd_stats::cmd_top(e, &a),
        Command::Build(a) => build::cmd_build(e, &a),
        Command::Image(ImageCommand::Build(a)) => build::cmd_build(e, &a),
        Command::Builder(BuilderCommand::Prune(a)) => build::cmd_builder_prune(e, &a),
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => {
            cmd_image::cmd_import(e, &a)
        }
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => cmd_registry::cmd_pull(e, &a),
        Command::Push(a) | Command::Image(ImageCommand::Push(a)) => cmd_registry::cmd_push(e, &a),
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => cmd_image::cmd_save(e, &a),
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => cmd_image::cmd_load(e, &a),
        Command::Login(a) => cmd_registry::cmd_login(&a),
        Command::Logout(a) => cmd_registry::cmd_logout(&a),
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => cmd_image::cmd_images(e, &a),
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => cmd_image::cmd_tag(e, &a),
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => cmd_image::cmd_rmi(e, &a),
        Command::Image(ImageCommand::Inspect(a)) => cmd_image::cmd_image_inspect(e, &a),
        Command::History(a) | Command::Image(ImageCommand::History(a)) => {
            cmd_history::cmd_history(e, &a)
        }
        Command::System(SystemCommand::Df(a)) => cmd_df::cmd_system_df(e, &a),
        Command::Info(a) | Command::System(SystemCommand::Info(a)) => cmd_version::cmd_info(e, &a),
        Command::System(SystemCommand::Boot(_)) => cmd_boot::cmd_boot(e),
        Command::System(SystemCommand::InstallBootUnit(_)) => cmd_boot::cmd_install_boot_unit(e),
        Command::Doctor(a) => cmd_info::cmd_doctor(e, &a),
        Command::Container(ContainerCommand::Prune(a)) => cmd_prune::cmd_container_prune(e, &a),
        Command::Image(ImageCommand::Prune(a)) => cmd_prune::cmd_image_prune(e, &a),
        Command::System(SystemCommand::Prune(a)) => cmd_prune::cmd_system_prune(e, &a),
        Command::Network(c) => cmd_network::cmd_network(e, &c),
        Command::Port(a) | Command::Container(ContainerCommand::Port(a)) => {
            cmd_network::cmd_port(e, &a)
        }
        Command::Volume(c) => cmd_volume::cmd_volume(e, &c),
        Command::Monitor(_) | Command::Version(_) | Command::Completion(_) | Command::Man(_) => {
            unreachable!("handled before the engine is opened")
        }
        Command::Pause(a) | Command::Container(ContainerCommand::Pause(a)) => {
            cmd_lifecycle::cmd_pause(e, &a)
        }
        Command::Unpause(a) | Command::Container(ContainerCommand::Unpause(a)) => {
            cmd_lifecycle::cmd_unpause(e, &a)
        }
        Command::Rename(a) | Command::Container(ContainerCommand::Rename(a)) => {
            cmd_lifecycle::cmd_rename(e, &a)
        }
        Command::Update(a) | Command::Container(ContainerCommand::Update(a)) => {
            cmd_lifecycle::cmd_update(e, &a)
        }
        Command::Events(a) | Command::System(SystemCommand::Events(a)) => {
            cmd_events::cmd_events(e, &a)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{monitor_argv, names_run};

    #[test]
    fn a_monitor_is_launched_before_parsing_only_for_run() {
        let named = |args: &[&str]| {
            let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
            names_run(&args)
        };
        assert!(named(&["berth", "run", "img"]));
        assert!(named(&["berth", "run"]));
        assert!(named(&["berth", "container", "run", "img"]));
        assert!(!named(&["berth", "create", "run"]));
        assert!(!named(&["berth", "container", "create", "run"]));
        assert!(!named(&["berth", "image", "run"]));
        assert!(!named(&["berth", "--help", "run"]));
        assert!(!named(&["berth"]));
    }

    fn argv(args: &[&str]) -> Option<(String, bool)> {
        monitor_argv(args.iter().map(std::ffi::OsString::from))
    }

    #[test]
    fn only_the_monitors_own_command_line_skips_clap() {
        assert_eq!(argv(&["monitor", "abc"]), Some(("abc".into(), false)));
        assert_eq!(
            argv(&["monitor", "abc", "--attach"]),
            Some(("abc".into(), true))
        );
        assert_eq!(argv(&["monitor"]), None);
        assert_eq!(argv(&["monitor", "--help"]), None);
        assert_eq!(argv(&["monitor", "abc", "--other"]), None);
        assert_eq!(argv(&["monitor", "abc", "--attach", "x"]), None);
        assert_eq!(argv(&["run", "abc"]), None);
        assert_eq!(argv(&[]), None);
    }
}
