//! docs/compat.md, built in: docker's commands and `run` flags beside berth's. The
//! table answers "is this a docker flag berth lacks?" when clap refuses a flag, and
//! the tests below keep it true (every berth command and `run` flag is in it; no
//! flag it calls supported is missing from berth).

use clap::error::{ContextKind, ContextValue, ErrorKind};

const COMPAT_MD: &str = include_str!("../../../docs/compat.md");
const FLAGS_HEADING: &str = "## `run` and `create` flags";

/// One row of the flag table: the flag's spellings, its status and the note.
struct FlagRow<'a> {
    names: Vec<&'a str>,
    status: &'a str,
    note: &'a str,
}

/// The lines of one `## ` section of compat.md.
fn section(heading: &'static str) -> impl Iterator<Item = &'static str> {
    COMPAT_MD
        .lines()
        .skip_while(move |l| *l != heading)
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
}

/// The cells of a table row (`| a | b \| c |` is `["a", "b \| c"]`); `None` for
/// other lines and the header rule.
fn cells(line: &str) -> Option<Vec<&str>> {
    let inner = line.trim().strip_prefix('|')?.strip_suffix('|')?;
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = inner.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'|' && (i == 0 || bytes[i - 1] != b'\\') {
            out.push(inner[start..i].trim());
            start = i + 1;
        }
    }
    out.push(inner[start..].trim());
    (!out[0].starts_with("---")).then_some(out)
}

fn flag_rows() -> impl Iterator<Item = FlagRow<'static>> {
    section(FLAGS_HEADING).filter_map(|line| {
        let cells = cells(line)?;
        let [flags, status, note] = cells.as_slice() else {
            return None;
        };
        let names: Vec<&str> = flags
            .split(',')
            .map(|f| f.trim().trim_matches('`'))
            .filter(|f| f.starts_with('-'))
            .collect();
        (!names.is_empty()).then_some(FlagRow {
            names,
            status,
            note,
        })
    })
}

#[cfg(test)]
/// `(status, count)` of a table's docker rows ("berth only" rows are not docker's).
fn tally(statuses: impl Iterator<Item = &'static str>) -> String {
    let statuses: Vec<_> = statuses.filter(|s| *s != "berth only").collect();
    let n = |w: &str| statuses.iter().filter(|s| **s == w).count();
    format!(
        "{} supported, {} partial, {} planned, {} refused, of {}",
        n("supported"),
        n("partial"),
        n("planned"),
        n("refused"),
        statuses.len()
    )
}

/// The coverage line compat.md must carry, counted from its tables.
#[cfg(test)]
fn coverage() -> String {
    let commands = section("## Commands")
        .filter_map(cells)
        .filter(|c| c.len() == 3 && c[0].starts_with('`'))
        .map(|c| c[1]);
    format!(
        "docker commands: {}. docker `run` flags: {}.",
        tally(commands),
        tally(flag_rows().map(|r| r.status))
    )
}

/// For clap's "unexpected argument" on `run`/`create`: a message naming the docker
/// flag berth lacks, what compat.md says of it, and where to read more. `None`
/// leaves clap's own message (not a flag, or not a `run`/`create` flag of docker's).
/// `args` is the command line after the program name.
pub fn unknown_docker_flag(e: &clap::Error, args: &[String]) -> Option<String> {
    if e.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let flag = arg.split('=').next().unwrap_or(arg);
    if !flag.starts_with('-') {
        return None;
    }
    let command = command_words(args, arg);
    let help = format!(
        "See '{} --help'.",
        std::iter::once("berth")
            .chain(command.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let is_run = matches!(command.last().map(String::as_str), Some("run" | "create"));
    let row = flag_rows()
        .find(|r| r.names.contains(&flag))
        .filter(|_| is_run);
    Some(match row {
        Some(r) => {
            let why = match r.note {
                "" => r.status.to_string(),
                note => format!("{}: {note}", r.status),
            };
            format!(
                "berth: unknown flag: {flag}\n{flag} is a docker flag that berth does not have ({why}).\n\
                 docs/compat.md lists docker's flags and what berth does with each. {help}"
            )
        }
        None => format!(
            "berth: unknown flag: {flag}\n{help} docs/compat.md lists docker's commands and flags and what berth does with each."
        ),
    })
}

/// The command words (`container run`) before the offending argument.
fn command_words(args: &[String], offending: &str) -> Vec<String> {
    args.iter()
        .take_while(|a| *a != offending)
        .take_while(|a| !a.starts_with('-'))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Cli;
    use clap::{CommandFactory, Parser};

    /// Every visible command path: `run`, `container run`, `network create`, …
    fn command_paths(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let path = format!("{prefix}{}", sub.get_name());
            out.push(path.clone());
            command_paths(sub, &format!("{path} "), out);
        }
    }

    #[test]
    fn every_berth_command_is_in_compat_md() {
        let mut paths = Vec::new();
        command_paths(&Cli::command(), "", &mut paths);
        let commands: String = section("## Commands").collect::<Vec<_>>().join("\n");
        let missing: Vec<_> = paths
            .iter()
            .filter(|p| !commands.contains(&format!("`{p}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/compat.md's Commands table lacks {missing:?}"
        );
    }

    #[test]
    fn every_run_flag_is_in_compat_md() {
        let rows: Vec<_> = flag_rows().collect();
        for name in ["run", "create"] {
            let cli = Cli::command();
            let cmd = cli.find_subcommand(name).unwrap();
            for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
                let Some(long) = arg.get_long() else { continue };
                let flag = format!("--{long}");
                let row = rows.iter().find(|r| r.names.contains(&flag.as_str()));
                let row = row.unwrap_or_else(|| {
                    panic!("docs/compat.md's flag table lacks berth {name} {flag}")
                });
                assert!(
                    ["supported", "partial", "berth only"].contains(&row.status),
                    "berth {name} has {flag}, but docs/compat.md calls it {:?}",
                    row.status
                );
            }
        }
    }

    #[test]
    fn no_flag_compat_md_calls_supported_is_missing() {
        let cli = Cli::command();
        let run = cli.find_subcommand("run").unwrap();
        for row in flag_rows().filter(|r| r.status != "refused" && r.status != "planned") {
            for name in &row.names {
                let known = run.get_arguments().any(|a| {
                    a.get_long().is_some_and(|l| *name == format!("--{l}"))
                        || a.get_short().is_some_and(|s| *name == format!("-{s}"))
                        || a.get_all_aliases()
                            .is_some_and(|al| al.iter().any(|l| *name == format!("--{l}")))
                });
                assert!(
                    known || *name == "--help",
                    "compat.md calls {name} {}, berth run lacks it",
                    row.status
                );
            }
        }
    }

    #[test]
    fn coverage_line_matches_the_tables() {
        let line = format!("Coverage: {}", coverage());
        assert!(
            COMPAT_MD.lines().any(|l| l == line),
            "docs/compat.md should say:\n{line}"
        );
    }

    #[test]
    fn statuses_are_the_four_words() {
        let rows: Vec<_> = flag_rows().collect();
        assert!(rows.len() > 90, "{} docker run flags", rows.len());
        for r in rows {
            assert!(
                ["supported", "partial", "refused", "planned", "berth only"].contains(&r.status),
                "{:?}: {}",
                r.names,
                r.status
            );
        }
    }

    #[test]
    fn a_docker_flag_berth_lacks_is_named() {
        let refused = flag_rows().find(|r| r.status == "refused").unwrap();
        let flag = refused.names.last().unwrap().to_string();
        let args: Vec<String> = ["container", "run", "--rm", &flag, "x", "img"]
            .map(String::from)
            .into();
        let e = Cli::try_parse_from(std::iter::once("berth".to_string()).chain(args.clone()))
            .unwrap_err();
        let message = unknown_docker_flag(&e, &args).unwrap();
        assert!(
            message.contains(&format!("unknown flag: {flag}\n")),
            "{message}"
        );
        assert!(
            message.contains("is a docker flag that berth does not have (refused: "),
            "{message}"
        );
        assert!(message.contains("docs/compat.md"), "{message}");
        assert!(
            message.contains("See 'berth container run --help'."),
            "{message}"
        );
        // A planned flag, by its first spelling (a short one where docker has it).
        if let Some(planned) = flag_rows().find(|r| r.status == "planned" && r.note.is_empty()) {
            let flag = planned.names[0];
            let args: Vec<String> = ["run", flag, "x", "img"].map(String::from).into();
            let e = Cli::try_parse_from(["berth", "run", flag, "x", "img"]).unwrap_err();
            let message = unknown_docker_flag(&e, &args).unwrap();
            assert!(
                message.contains(&format!(
                    "{flag} is a docker flag that berth does not have (planned)."
                )),
                "{message}"
            );
        }
        // Not a docker run flag: clap's words, with the pointer.
        let args: Vec<String> = ["ps", "--bogus"].map(String::from).into();
        let e = Cli::try_parse_from(["berth", "ps", "--bogus"]).unwrap_err();
        let message = unknown_docker_flag(&e, &args).unwrap();
        assert!(
            message.starts_with("berth: unknown flag: --bogus\nSee 'berth ps --help'."),
            "{message}"
        );
        // Before any command word: berth's own help, not "berth  --help".
        let args: Vec<String> = ["--bogus"].map(String::from).into();
        let e = Cli::try_parse_from(["berth", "--bogus"]).unwrap_err();
        let message = unknown_docker_flag(&e, &args).unwrap();
        assert!(message.contains("See 'berth --help'."), "{message}");
    }
}
