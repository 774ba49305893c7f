//! docker's management-command forms (`container run`, `image ls`, `system info`)
//! as the short commands they stand for, and the arguments of the commands that
//! describe berth itself (`version`, `info`, `completion`, man pages).

use super::{Command, ContainerCommand, ImageCommand, InspectArgs, SystemCommand};
use clap::Args;

/// `--format` of `version` and `info`: a Go template (`{{json .}}`, `{{.Server.Version}}`).
#[derive(Args, Debug)]
pub struct FormatArgs {
    /// Format output using a Go-style template ({{json .}}, {{.ServerVersion}})
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

impl Command {
    /// The short command a management form stands for, so that `main` dispatches
    /// each command once: `container ls` is `ps`, `image rm` is `rmi`, `system info`
    /// is `info`. A new sibling of a short command is one variant in
    /// `ContainerCommand` (or `ImageCommand`), one line here, and its name in the
    /// arm of `main::dispatch` that marks rewritten forms unreachable (the compiler
    /// asks for it). Forms whose own arm in `main` matches both shapes
    /// (`Command::Commit(a) | Command::Container(ContainerCommand::Commit(a))`) pass
    /// through unchanged.
    pub fn into_short(self) -> Command {
        use ContainerCommand as C;
        use ImageCommand as I;
        match self {
            Command::Container(c) => match c {
                C::Attach(a) => Command::Attach(a),
                C::Create(a) => Command::Create(a),
                C::Exec(a) => Command::Exec(a),
                C::Inspect(a) => Command::Inspect(InspectArgs {
                    format: a.format,
                    kind: Some("container".into()),
                    names: a.containers,
                }),
                C::Kill(a) => Command::Kill(a),
                C::Logs(a) => Command::Logs(a),
                C::Ls(a) => Command::Ps(a),
                C::Port(a) => Command::Port(a),
                C::Restart(a) => Command::Restart(a),
                C::Rm(a) => Command::Rm(a),
                C::Run(a) => Command::Run(a),
                C::Start(a) => Command::Start(a),
                C::Stop(a) => Command::Stop(a),
                C::Wait(a) => Command::Wait(a),
                other => Command::Container(other),
            },
            Command::Image(I::Build(a)) => Command::Build(*a),
            Command::System(SystemCommand::Info(a)) => Command::Info(a),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Cli;
    use clap::Parser;

    fn short(argv: &[&str]) -> Command {
        let mut full = vec!["berth"];
        full.extend_from_slice(argv);
        Cli::try_parse_from(full).unwrap().command.into_short()
    }

    #[test]
    fn management_forms_are_their_short_commands() {
        assert!(matches!(short(&["container", "ls", "-a"]), Command::Ps(a) if a.all));
        assert!(matches!(short(&["container", "list"]), Command::Ps(_)));
        assert!(matches!(short(&["container", "ps", "-q"]), Command::Ps(a) if a.quiet));
        assert!(matches!(short(&["container", "remove", "-f", "x"]), Command::Rm(a) if a.force));
        assert!(
            matches!(short(&["container", "run", "--rm", "img"]), Command::Run(a) if a.create.rm)
        );
        assert!(matches!(short(&["image", "build", "."]), Command::Build(_)));
        assert!(matches!(
            short(&["image", "remove", "x"]),
            Command::Image(ImageCommand::Rm(_))
        ));
        assert!(matches!(short(&["system", "info"]), Command::Info(_)));
        assert!(
            matches!(short(&["container", "inspect", "c"]), Command::Inspect(a) if a.kind.as_deref() == Some("container"))
        );
        assert!(matches!(
            short(&["container", "prune"]),
            Command::Container(_)
        ));
    }

    #[test]
    fn container_inspect_has_no_type_flag() {
        assert!(
            Cli::try_parse_from(["berth", "container", "inspect", "--type", "image", "x"]).is_err()
        );
    }
}
