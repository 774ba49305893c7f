//! The arguments of the management-command forms that have their own (`container
//! inspect`) and of the commands that describe berth itself (`version`, `info`,
//! `completion`, man pages). Every other form takes its short command's
//! arguments, and `main::dispatch` sends both to one handler in one arm.

use super::InspectArgs;
use clap::Args;

/// `--format` of `version` and `info`: a Go template (`{{json .}}`, `{{.Server.Version}}`).
#[derive(Args, Debug)]
pub struct FormatArgs {
    /// Format output using a Go-style template ({{json .}}, {{.ServerVersion}}) or json
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

/// `container inspect`: `inspect` limited to containers, as docker's is.
#[derive(Args, Debug)]
pub struct ContainerInspectArgs {
    /// Format output using a Go-style template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct CompletionArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// Directory to write berth.1, berth-run.1, berth-container-run.1, … into
    pub dir: std::path::PathBuf,
}

/// `container inspect C` is `inspect --type container C`.
impl From<ContainerInspectArgs> for InspectArgs {
    fn from(a: ContainerInspectArgs) -> InspectArgs {
        InspectArgs {
            format: a.format,
            kind: Some("container".into()),
            names: a.containers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;

    fn parse(argv: &[&str]) -> Command {
        let mut full = vec!["berth"];
        full.extend_from_slice(argv);
        Cli::try_parse_from(full).unwrap().command
    }

    /// Each form parses to its own variant, with the short command's arguments;
    /// `main::dispatch` sends both to the same handler in one arm.
    #[test]
    fn management_forms_take_their_short_commands_arguments() {
        use crate::args::{ContainerCommand as C, ImageCommand as I, SystemCommand as S};
        assert!(matches!(parse(&["container", "ls", "-a"]), Command::Container(C::Ls(a)) if a.all));
        assert!(matches!(
            parse(&["container", "list"]),
            Command::Container(C::Ls(_))
        ));
        assert!(
            matches!(parse(&["container", "ps", "-q"]), Command::Container(C::Ls(a)) if a.quiet)
        );
        assert!(
            matches!(parse(&["container", "remove", "-f", "x"]), Command::Container(C::Rm(a)) if a.force)
        );
        assert!(
            matches!(parse(&["container", "run", "--rm", "img"]), Command::Container(C::Run(a)) if a.create.rm)
        );
        assert!(matches!(
            parse(&["image", "build", "."]),
            Command::Image(I::Build(_))
        ));
        assert!(matches!(
            parse(&["image", "remove", "x"]),
            Command::Image(I::Rm(_))
        ));
        assert!(matches!(
            parse(&["system", "info"]),
            Command::System(S::Info(_))
        ));
        let Command::Container(C::Inspect(a)) = parse(&["container", "inspect", "c"]) else {
            panic!("container inspect is not ContainerCommand::Inspect");
        };
        let a = InspectArgs::from(a);
        assert_eq!(
            (a.kind.as_deref(), a.names),
            (Some("container"), vec!["c".to_string()])
        );
        assert!(matches!(
            parse(&["container", "prune"]),
            Command::Container(C::Prune(_))
        ));
    }

    #[test]
    fn container_inspect_has_no_type_flag() {
        assert!(
            Cli::try_parse_from(["berth", "container", "inspect", "--type", "image", "x"]).is_err()
        );
    }
}
