//! Typed instructions on top of the AST, as buildkit's `instructions` package:
//! [`parse_stages`] splits a Dockerfile into the ARGs before the first FROM
//! ([`MetaArg`]) and build [`Stage`]s of [`Command`]s.
//!
//! Arguments stay unexpanded here; [`Command::expand`] applies the variable
//! expansion docker does for ADD, COPY, ENV, EXPOSE, LABEL, STOPSIGNAL, USER,
//! VOLUME, WORKDIR and RUN mounts, and [`crate::scope`] handles ARG and FROM.
//!
//! berth is stricter than buildkit where buildkit silently ignores input:
//! flags on STOPSIGNAL, ARG and `HEALTHCHECK NONE` are errors, an unknown
//! instruction after ONBUILD is an error now rather than when the trigger runs.
//! Flags berth cannot honour are refused by name: `ADD --keep-git-dir`,
//! `COPY --parents`, `RUN --mount=type=ssh`, `RUN --security`, `RUN --device`.

mod duration;
mod error;
mod expand;
mod flags;
pub mod mount;
mod parse;

pub use duration::parse_go_duration;
pub use error::{InstructionError, InstructionErrorKind};
pub use expand::ExpandError;
pub use mount::{Mount, MountError, MountSpec, MountType, Sharing};
pub use parse::parse_command;

use crate::ast::Ast;
use crate::error::Position;
use crate::heredoc::Heredoc;
use std::sync::Arc;
use std::time::Duration;

/// Where an instruction is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The Dockerfile's name (as given to [`crate::parse`]).
    pub file: Arc<str>,
    /// First physical line.
    pub start_line: usize,
    /// Last physical line (continuations, heredoc bodies).
    pub end_line: usize,
    /// The keyword, or the flag an error is about.
    pub position: Position,
}

/// One instruction inside a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The keyword as written (`RUN`, `run`).
    pub keyword: String,
    /// The instruction source, trimmed (continuations joined).
    pub code: String,
    /// Where it is.
    pub location: Location,
    /// What it does.
    pub instruction: Instruction,
}

/// The instructions, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `ADD [--chown] [--chmod] [--link] [--checksum] [--exclude] [--unpack] <src>... <dest>`
    Add(Add),
    /// `ARG name[=default] ...`
    Arg(Vec<ArgDecl>),
    /// `CMD`
    Cmd(CommandForm),
    /// `COPY [--from] [--chown] [--chmod] [--link] [--exclude] <src>... <dest>`
    Copy(Copy),
    /// `ENTRYPOINT` (`Exec([])` clears it)
    Entrypoint(CommandForm),
    /// `ENV k=v ...` / `ENV k v`
    Env(Vec<KeyValue>),
    /// `EXPOSE port[/proto] ...` (sorted like buildkit)
    Expose(Vec<String>),
    /// `HEALTHCHECK NONE` / `HEALTHCHECK [options] CMD ...`
    Healthcheck(Healthcheck),
    /// `LABEL k=v ...`
    Label(Vec<KeyValue>),
    /// `MAINTAINER name` (deprecated)
    Maintainer(String),
    /// `ONBUILD <instruction>`
    Onbuild(Onbuild),
    /// `RUN [--mount] [--network] <command>`
    Run(Run),
    /// `SHELL ["exe", "arg"]`
    Shell(Vec<String>),
    /// `STOPSIGNAL signal`
    StopSignal(String),
    /// `USER user[:group]`
    User(String),
    /// `VOLUME path ...`
    Volume(Vec<String>),
    /// `WORKDIR path`
    Workdir(String),
}

/// A shell-form or exec-form (JSON) command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandForm {
    /// Shell form, run with the stage's SHELL (`/bin/sh -c`). Empty when the
    /// instruction had no arguments.
    Shell(String),
    /// Exec form, run as is.
    Exec(Vec<String>),
}

/// `ENV`/`LABEL` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// Name.
    pub key: String,
    /// Value (unexpanded, quotes still in place).
    pub value: String,
    /// Legacy `ENV key value` form (no `=`).
    pub no_delim: bool,
}

/// One name of an `ARG`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// Name.
    pub key: String,
    /// Default value (unexpanded), if given.
    pub value: Option<String>,
    /// Description from a `# NAME text` comment right above.
    pub comment: String,
}

/// A heredoc used as a COPY/ADD source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceContent {
    /// File name (the heredoc terminator word).
    pub path: String,
    /// Contents (`<<-` tabs already stripped).
    pub data: String,
    /// Expand variables in the contents (unquoted terminator).
    pub expand: bool,
}

/// `COPY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// Source paths (context or `--from` stage/image).
    pub sources: Vec<String>,
    /// Inline heredoc sources.
    pub contents: Vec<SourceContent>,
    /// Destination.
    pub dest: String,
    /// `--from=stage|image|index`.
    pub from: Option<String>,
    /// `--chown=user[:group]`.
    pub chown: Option<String>,
    /// `--chmod=mode`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--exclude=pattern` (repeatable).
    pub exclude: Vec<String>,
}

/// `ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Add {
    /// Source paths or URLs.
    pub sources: Vec<String>,
    /// Inline heredoc sources.
    pub contents: Vec<SourceContent>,
    /// Destination.
    pub dest: String,
    /// `--chown`.
    pub chown: Option<String>,
    /// `--chmod`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--checksum=sha256:...` for URL sources.
    pub checksum: Option<String>,
    /// `--exclude=pattern` (repeatable).
    pub exclude: Vec<String>,
    /// `--unpack[=bool]`; `None`: docker's default (local archives unpack).
    pub unpack: Option<bool>,
}

/// `RUN --network=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// The builder's default network.
    #[default]
    Default,
    /// No network.
    None,
    /// The host's network.
    Host,
}

/// `RUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The command.
    pub command: CommandForm,
    /// Heredocs of the line (the first one is often the script itself).
    pub heredocs: Vec<Heredoc>,
    /// `--mount` values, resolved with [`MountSpec::resolve`] (or
    /// [`Command::expand`]) once the stage's variables are known.
    pub mounts: Vec<MountSpec>,
    /// Mounts after [`Command::expand`].
    pub resolved_mounts: Vec<Mount>,
    /// `--network`.
    pub network: Network,
    /// Names of the flags used.
    pub flags_used: Vec<String>,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable the base image's check.
    None,
    /// `HEALTHCHECK [options] CMD ...`.
    Cmd(HealthConfig),
}

/// The options and command of `HEALTHCHECK CMD`. `None`/0 means "docker's
/// default" (a zero duration or retry count given explicitly means the same).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    /// The check.
    pub command: CommandForm,
    /// `--interval`.
    pub interval: Option<Duration>,
    /// `--timeout`.
    pub timeout: Option<Duration>,
    /// `--start-period`.
    pub start_period: Option<Duration>,
    /// `--start-interval`.
    pub start_interval: Option<Duration>,
    /// `--retries`.
    pub retries: u32,
}

impl HealthConfig {
    /// docker's `Test` array: `["CMD", ...]` or `["CMD-SHELL", "..."]`.
    pub fn test(&self) -> Vec<String> {
        match &self.command {
            CommandForm::Exec(args) => std::iter::once("CMD".to_string())
                .chain(args.iter().cloned())
                .collect(),
            CommandForm::Shell(s) => vec!["CMD-SHELL".to_string(), s.clone()],
        }
    }
}

/// `ONBUILD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Onbuild {
    /// The trigger instruction's keyword, upper-cased.
    pub trigger: String,
    /// The trigger as it goes into the image config (heredoc bodies appended).
    pub expression: String,
}

/// `ARG`s before the first `FROM`; usable in FROM lines (and in a stage after
/// re-declaring them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaArg {
    /// The names.
    pub args: Vec<ArgDecl>,
    /// Where.
    pub location: Location,
}

/// A build stage: `FROM` and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// The image (or stage) reference, unexpanded.
    pub base_name: String,
    /// `--platform`, unexpanded.
    pub platform: Option<String>,
    /// The FROM line, trimmed.
    pub code: String,
    /// Where the FROM is.
    pub location: Location,
    /// Description from a `# name text` comment above the FROM.
    pub comment: String,
    /// The instructions.
    pub commands: Vec<Command>,
}

/// Splits an AST into meta ARGs and stages, typing every instruction.
pub fn parse_stages(ast: &Ast) -> Result<(Vec<MetaArg>, Vec<Stage>), InstructionError> {
    let file: Arc<str> = Arc::from(ast.file_name.as_str());
    let mut metas = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in &ast.children {
        let parsed = parse::parse_node(node, &file)?;
        match parsed {
            parse::Parsed::Stage(stage) => stages.push(stage),
            parse::Parsed::Command(cmd) => match (stages.last_mut(), cmd.instruction) {
                (Some(stage), instruction) => stage.commands.push(Command { instruction, ..cmd }),
                (None, Instruction::Arg(args)) => metas.push(MetaArg {
                    args,
                    location: cmd.location,
                }),
                (None, _) => {
                    let kind = InstructionErrorKind::NoStage(cmd.keyword.to_uppercase());
                    return Err(InstructionError {
                        location: Box::new(cmd.location),
                        kind,
                    });
                }
            },
        }
    }
    Ok((metas, stages))
}

#[cfg(test)]
mod tests;
