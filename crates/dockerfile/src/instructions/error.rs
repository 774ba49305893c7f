//! Errors turning AST nodes into typed instructions.

use super::mount::MountError;
use super::Location;

/// An instruction that is not valid: where, and what is wrong.
///
/// Displays as `Dockerfile:7:1: <what is wrong and what to do>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{}: {kind}", location.file, location.position)]
pub struct InstructionError {
    /// Where the instruction (or the offending flag) is (boxed to keep
    /// `Result`s small).
    pub location: Box<Location>,
    /// What is wrong.
    pub kind: InstructionErrorKind,
}

/// What is wrong with an instruction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstructionErrorKind {
    /// Not a Dockerfile instruction.
    #[error("unknown instruction: {name}{}", suggestion.as_ref().map(|s| format!(" (did you mean {s}?)")).unwrap_or_default())]
    UnknownInstruction {
        /// The keyword, upper-cased.
        name: String,
        /// The closest known instruction.
        suggestion: Option<String>,
    },
    /// A flag the instruction does not have.
    #[error("Unknown flag: {flag} ({})", accepted_flags(instruction, accepted))]
    UnknownFlag {
        /// The instruction.
        instruction: String,
        /// The flag name without `--`.
        flag: String,
        /// The flags it accepts.
        accepted: Vec<&'static str>,
    },
    /// `--flag` without the `=value` it needs.
    #[error("Missing a value on flag: {0} (write --{0}=<value>)")]
    MissingFlagValue(String),
    /// A boolean flag with another value.
    #[error("Expecting boolean value for flag {flag}, not: {value} (use --{flag}, --{flag}=true or --{flag}=false)")]
    InvalidBool {
        /// The flag.
        flag: String,
        /// What was given.
        value: String,
    },
    /// A single-value flag given twice.
    #[error("Duplicate flag specified: {0} (give --{0} once)")]
    DuplicateFlag(String),
    /// A flag berth parses but deliberately does not support.
    #[error("{instruction} --{flag} is not supported by berth: {reason}")]
    UnsupportedFlag {
        /// The instruction.
        instruction: String,
        /// The flag.
        flag: String,
        /// Why, and what to do instead.
        reason: &'static str,
    },
    /// Too few arguments.
    #[error("{0} requires at least one argument")]
    AtLeastOneArgument(String),
    /// Not exactly one argument.
    #[error("{0} requires exactly one argument")]
    ExactlyOneArgument(String),
    /// COPY/ADD with only one argument.
    #[error("{0} requires at least two arguments, but only one was provided. Destination could not be determined (write {0} <source>... <destination>)")]
    NoDestination(String),
    /// An empty ENV/LABEL/ARG name.
    #[error("{0} names can not be blank")]
    BlankName(String),
    /// ENV/LABEL arguments that are not key/value triples.
    #[error("Bad input to {0}, too many arguments")]
    TooManyArguments(String),
    /// FROM with a wrong number of words.
    #[error("FROM requires either one or three arguments (FROM <image> [AS <name>])")]
    FromArguments,
    /// A stage name that is not `[a-z][a-z0-9-_.]*`.
    #[error("invalid name for build stage: {}, name can't start with a number or contain symbols", crate::go::quote(.0))]
    InvalidStageName(String),
    /// An instruction before the first FROM (other than ARG).
    #[error("no build stage in current context (add a FROM before {0}; only ARG may come before the first FROM)")]
    NoStage(String),
    /// `ONBUILD ONBUILD`.
    #[error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]
    OnbuildChain,
    /// `ONBUILD FROM`, `ONBUILD MAINTAINER`.
    #[error("{0} isn't allowed as an ONBUILD trigger")]
    OnbuildTrigger(String),
    /// `HEALTHCHECK NONE something`.
    #[error("HEALTHCHECK NONE takes no arguments")]
    HealthcheckNoneArguments,
    /// `HEALTHCHECK --interval=5s NONE`.
    #[error("HEALTHCHECK NONE takes no flags (remove --{0})")]
    HealthcheckNoneFlags(String),
    /// `HEALTHCHECK CMD` without a command.
    #[error("Missing command after HEALTHCHECK CMD")]
    HealthcheckMissingCommand,
    /// `HEALTHCHECK SOMETHING`.
    #[error("Unknown type {} in HEALTHCHECK (try CMD)", crate::go::quote(.0))]
    HealthcheckType(String),
    /// A duration flag that does not parse.
    #[error("invalid --{flag} value {value:?}: {reason} (durations look like 30s, 1m30s, 500ms)")]
    InvalidDuration {
        /// The flag.
        flag: String,
        /// What was given.
        value: String,
        /// Why it does not parse.
        reason: String,
    },
    /// A duration below docker's 1ms minimum.
    #[error("Interval \"{0}\" cannot be less than 1ms")]
    DurationTooShort(String),
    /// `--retries` that is not a non-negative 32-bit integer.
    #[error("invalid --retries value {0:?} (give a whole number, 0 or more)")]
    InvalidRetries(String),
    /// `VOLUME ""`.
    #[error("VOLUME specified can not be an empty string")]
    EmptyVolume,
    /// SHELL not in JSON form.
    #[error("SHELL requires the arguments to be in JSON form (write SHELL [\"executable\", \"parameters\"])")]
    ShellNotJson,
    /// COPY/ADD with a heredoc as destination.
    #[error("{0} cannot accept a heredoc as a destination")]
    HeredocDestination(String),
    /// `RUN --network` with an unknown mode.
    #[error("invalid network mode {} (use none, host or default)", crate::go::quote(.0))]
    InvalidNetwork(String),
    /// A `RUN --mount` that is not valid.
    #[error("invalid --mount: {0}")]
    Mount(#[from] MountError),
}

fn accepted_flags(instruction: &str, accepted: &[&str]) -> String {
    if accepted.is_empty() {
        return format!("{instruction} takes no flags");
    }
    let list: Vec<String> = accepted.iter().map(|f| format!("--{f}")).collect();
    format!("{instruction} accepts {}", list.join(", "))
}
