//! Build failures: the whole build ([`BuildError`]) and one instruction
//! ([`StepError`], always wrapped with the Dockerfile line it came from).

use crate::host::HostError;
use crate::tree::read::ReadError;
use crate::tree::write::WriteError;
use berth_dockerfile::instructions::InstructionError;
use berth_dockerfile::scope::ScopeError;
use berth_dockerfile::ParseError;

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Instruction(#[from] InstructionError),
    #[error(transparent)]
    Scope(#[from] ScopeError),
    #[error("the Dockerfile has no FROM instruction: a build needs at least one stage")]
    NoStages,
    #[error("target stage {target:?} could not be found (stages: {known})")]
    TargetNotFound { target: String, known: String },
    #[error(
        "berth builds for this machine ({host}) only: --platform {requested} would need emulation"
    )]
    Platform { requested: String, host: String },
    #[error("build context {path}: {reason}")]
    Context { path: String, reason: String },
    #[error("invalid .dockerignore: {0}")]
    Ignore(#[from] crate::ignore::IgnoreError),
    #[error("{at}: {instruction}: {source}")]
    Step {
        /// `Dockerfile:12`.
        at: String,
        /// The instruction as written.
        instruction: String,
        source: Box<StepError>,
    },
    #[error("writing the image: {0}")]
    Register(HostError),
}

impl BuildError {
    /// The step error inside, if this is one.
    pub fn step(&self) -> Option<&StepError> {
        match self {
            BuildError::Step { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Why one instruction failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("process {command:?} did not complete successfully: exit code: {code}")]
    RunFailed { command: String, code: i32 },
    #[error("base image {name}: {source}")]
    BaseImage { name: String, source: HostError },
    #[error("image {name} is for {platform}, this build is for {target} (berth does not emulate other platforms)")]
    BasePlatform {
        name: String,
        platform: String,
        target: String,
    },
    #[error("cannot copy from stage {from:?}, it needs to be defined before the current stage")]
    StageOrder { from: String },
    #[error("stage {0:?} refers to itself (a stage can only use earlier stages)")]
    StageCycle(String),
    #[error("failed to compute cache key: {0}")]
    Source(#[from] ReadError),
    #[error("copying: {0}")]
    Write(#[from] WriteError),
    #[error(transparent)]
    User(#[from] crate::users::UserError),
    #[error("invalid chmod parameter: {0:?}; it should be an octal string between 0 and 07777")]
    Chmod(String),
    #[error("secret {0} not found: pass it with --secret id={0},src=FILE (or env=VAR)")]
    SecretMissing(String),
    #[error("ONBUILD trigger {trigger:?} of the base image: {reason}")]
    Onbuild { trigger: String, reason: String },
    #[error(transparent)]
    Scope(#[from] ScopeError),
    #[error(transparent)]
    Ignore(#[from] crate::ignore::IgnoreError),
    #[error(transparent)]
    Glob(#[from] crate::glob::BadPattern),
    #[error(transparent)]
    Port(#[from] crate::ports::PortError),
    #[error("when using COPY with more than one source file, the destination must be a directory and end with a /")]
    NeedsDirectory,
    #[error("checksum can only be given for one HTTP(S) source")]
    ChecksumNeedsUrl,
    #[error("invalid checksum {0:?}: expected sha256:<64 hex digits>")]
    ChecksumFormat(String),
    #[error("checksum mismatch for {url}: expected {want}, got {got}")]
    Checksum {
        url: String,
        want: String,
        got: String,
    },
    #[error("source can't be a URL for COPY (use ADD)")]
    UrlInCopy,
    #[error("{path}: {format} archives cannot be unpacked by berth yet; decompress it into the context or use ADD --unpack=false")]
    ArchiveFormat { path: String, format: &'static str },
    #[error("unpacking {path}: {source}")]
    Archive {
        path: String,
        source: std::io::Error,
    },
    #[error("archive entry {entry:?} of {path} escapes the destination")]
    ArchiveEscape { path: String, entry: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("VOLUME specified can not be an empty string")]
    EmptyVolume,
    #[error("RUN --mount=type=cache,from=… is not supported: berth cannot seed a cache mount from a stage; copy the files in a RUN instead")]
    CacheFrom,
    #[error("COPY and ADD need a build context; this build has none (Dockerfile read from stdin: give a context directory)")]
    NoContext,
}
