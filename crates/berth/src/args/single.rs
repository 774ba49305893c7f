//! Parsing the most frequent commands without building all of berth's commands.
//!
//! clap's derive builds the whole command tree (some 60 commands, hundreds of
//! flags) before it looks at the first argument: about 0.6 ms of CPU and 230 page
//! faults of every command on this VM, a third of an idle `berth ps` and the
//! largest single piece of the CLI's share of `run --rm` (issue 11). clap's `Command::defer` would build a subcommand only
//! when it is used, but the derive does not offer it; so for the commands below
//! the parser is made of that one subcommand alone, from the same derived
//! `Args`, and its matches go through the same `FromArgMatches`. The name, help
//! text and settings of each are repeated here; the test compares each one's help
//! with the full parser's, so they cannot drift apart.

use super::{Cli, CreateArgs, ExecArgs, InspectArgs, PsArgs, RmArgs, RunArgs, StartArgs, StopArgs};
use clap::{Args, Command, FromArgMatches};
use std::ffi::OsString;

/// `Cli`'s own settings (see its `#[command]` attributes).
fn root() -> Command {
    Command::new("berth")
        .version(env!("CARGO_PKG_VERSION"))
        .about("A daemonless, docker-compatible container engine built for system containers")
        .disable_help_subcommand(true)
}

/// The parser for `name` alone, for the commands that have one.
fn single(name: &str) -> Option<Command> {
    let sub = match name {
        "run" => RunArgs::augment_args(Command::new("run"))
            .about("Create a container and start it")
            .disable_help_flag(true),
        "create" => CreateArgs::augment_args(Command::new("create"))
            .about("Create a container without starting it")
            .disable_help_flag(true),
        "start" => StartArgs::augment_args(Command::new("start"))
            .about("Start one or more stopped containers"),
        "stop" => StopArgs::augment_args(Command::new("stop"))
            .about("Stop one or more running containers"),
        "rm" => RmArgs::augment_args(Command::new("rm")).about("Remove one or more containers"),
        "ps" => PsArgs::augment_args(Command::new("ps")).about("List containers"),
        "exec" => ExecArgs::augment_args(Command::new("exec"))
            .about("Run a command in a running container"),
        "inspect" => InspectArgs::augment_args(Command::new("inspect"))
            .about("Return low-level information on containers or images"),
        _ => return None,
    };
    Some(root().subcommand(sub))
}

/// Parses berth's command line, as `Cli::try_parse_from` does.
pub fn try_parse_from(args: Vec<OsString>) -> Result<Cli, clap::Error> {
    use clap::Parser;
    match args.get(1).and_then(|a| a.to_str()).and_then(single) {
        Some(command) => Cli::from_arg_matches(&command.try_get_matches_from(args)?),
        None => Cli::try_parse_from(args),
    }
}

/// The parser `berth run` uses (for questions about its flags).
pub fn run_command() -> Command {
    single("run").expect("run has a parser of its own")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    const SINGLE: [&str; 8] = [
        "run", "create", "start", "stop", "rm", "ps", "exec", "inspect",
    ];

    #[test]
    fn each_single_parser_is_the_full_parsers_subcommand() {
        let mut full = Cli::command();
        full.build();
        for name in SINGLE {
            let mut one = single(name).unwrap();
            one.build();
            let want = full.find_subcommand_mut(name).unwrap().render_long_help();
            let got = one.find_subcommand_mut(name).unwrap().render_long_help();
            assert_eq!(got.to_string(), want.to_string(), "{name}");
            let ids = |c: &Command| -> Vec<String> {
                let sub = c.find_subcommand(name).unwrap();
                sub.get_arguments()
                    .map(|a| format!("{a:?}"))
                    .chain([format!("{:?}", sub.is_disable_help_flag_set())])
                    .collect()
            };
            assert_eq!(ids(&one), ids(&full), "{name}");
        }
        let top = |c: &Command| (c.get_name().to_string(), c.get_version().map(String::from));
        assert_eq!(top(&root()), top(&full));
        assert_eq!(
            root().get_about().map(|a| a.to_string()),
            full.get_about().map(|a| a.to_string())
        );
    }

    #[test]
    fn parses_as_the_full_parser_does() {
        let cases: [&[&str]; 6] = [
            &[
                "berth", "run", "--rm", "-d", "--name", "x", "img", "sh", "-c", "true",
            ],
            &["berth", "ps", "-a", "--format", "{{.Names}}"],
            &["berth", "exec", "-it", "box", "bash"],
            &["berth", "rm", "-f", "a", "b"],
            &["berth", "inspect", "-f", "{{.Id}}", "x"],
            &["berth", "images"],
        ];
        for argv in cases {
            let args: Vec<OsString> = argv.iter().map(OsString::from).collect();
            let got = format!("{:?}", try_parse_from(args.clone()).unwrap().command);
            let want = format!("{:?}", Cli::try_parse_from(args).unwrap().command);
            assert_eq!(got, want, "{argv:?}");
        }
    }

    #[test]
    fn errors_read_as_the_full_parsers_do() {
        for argv in [
            &["berth", "run"][..],
            &["berth", "ps", "--bogus"],
            &["berth", "run", "--memory"],
            &["berth", "exec", "box"],
        ] {
            let args: Vec<OsString> = argv.iter().map(OsString::from).collect();
            let got = try_parse_from(args.clone()).unwrap_err();
            let want = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(got.kind(), want.kind(), "{argv:?}");
            assert_eq!(got.to_string(), want.to_string(), "{argv:?}");
        }
    }
}
