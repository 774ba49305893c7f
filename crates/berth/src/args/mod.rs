//! Command-line arguments: docker's flag names and meanings. Long boolean flags take
//! `--x`, `--x=true` and `--x=false`.

use clap::{ArgAction, Args, Parser, Subcommand};

mod build;
mod files;
mod forms;
mod lifecycle;
mod limits;
mod restart;
mod runflags;
pub mod single;
mod usage;
mod volume;
pub use build::{BuildArgs, BuilderCommand, BuilderPruneArgs};
pub use files::{CpArgs, StatsArgs, TopArgs};
pub use forms::{CompletionArgs, ContainerInspectArgs, FormatArgs, ManArgs};
pub use lifecycle::{EventsArgs, PauseArgs, RenameArgs, UpdateArgs};
pub use limits::LimitFlags;
pub use restart::{BootArgs, RestartArgs};
pub use runflags::{RunFlags, RunSessionFlags};
pub use usage::{DfArgs, HistoryArgs};
pub use volume::*;

/// `run`/`create --pull`: when to ask the registry for the image.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullPolicy {
    /// Only when it is not in the store.
    Missing,
    /// Every time (a newer image replaces the tag).
    Always,
    /// Never: a missing image is an error.
    Never,
}

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version,
    about = "A daemonless, docker-compatible container engine built for system containers",
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container and start it
    #[command(disable_help_flag = true)]
    Run(RunArgs),
    /// Create a container without starting it
    #[command(disable_help_flag = true)]
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop and start one or more containers
    Restart(StopArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Send a signal to one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Run a command in a running container
    Exec(ExecArgs),
    /// Return low-level information on containers or images
    Inspect(InspectArgs),
    /// Block until containers stop, then print their exit codes
    Wait(NamesArgs),
    /// Attach to a running container's input and output
    Attach(AttachArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// List the files and directories a container changed (A added, C changed, D deleted)
    Diff(ContainerArg),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Build an image from a Dockerfile
    Build(BuildArgs),
    /// Manage the build cache
    #[command(subcommand)]
    Builder(BuilderCommand),
    /// Import a root filesystem tarball as an image
    Import(ImportArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Save images to a tar archive (docker-archive by default)
    Save(SaveArgs),
    /// Load images from a tar archive (docker-archive or OCI layout)
    Load(LoadArgs),
    /// Log in to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
    /// List images
    Images(ImagesArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// List port mappings of a container
    Port(PortArgs),
    /// Display system-wide information: storage, registry settings
    Info(FormatArgs),
    /// Show the berth version information
    Version(FormatArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completion(CompletionArgs),
    /// Write man pages for every command into a directory (install step)
    #[command(name = "__man", hide = true)]
    Man(ManArgs),
    /// Explain why a container's init (systemd) failed or is degraded, and how to fix it
    Doctor(DoctorArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage berth as a whole
    #[command(subcommand)]
    System(SystemCommand),
    /// Pause all processes within one or more containers
    Pause(PauseArgs),
    /// Unpause all processes within one or more containers
    Unpause(PauseArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Update the resource limits of one or more containers
    Update(UpdateArgs),
    /// Get real-time events from berth's journal of its own state changes
    Events(EventsArgs),
    /// Per-container monitor (internal)
    #[command(hide = true)]
    Monitor(MonitorArgs),
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// List images
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Display detailed information on one or more images
    Inspect(ImageInspectArgs),
    /// Remove one or more images
    #[command(alias = "remove")]
    Rm(RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Build an image from a Dockerfile
    Build(Box<BuildArgs>),
    /// Import a root filesystem tarball as an image
    Import(ImportArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Save images to a tar archive (docker-archive by default)
    Save(SaveArgs),
    /// Load images from a tar archive (docker-archive or OCI layout)
    Load(LoadArgs),
    /// Remove unused images
    Prune(ImagePruneArgs),
    /// Show the history of an image
    History(HistoryArgs),
}

#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    /// Remove all stopped containers (with their anonymous volumes)
    Prune(PruneArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// List the files and directories a container changed (A added, C changed, D deleted)
    Diff(ContainerArg),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Attach to a running container's input and output
    Attach(AttachArgs),
    /// Create a container without starting it
    #[command(disable_help_flag = true)]
    Create(CreateArgs),
    /// Run a command in a running container
    Exec(ExecArgs),
    /// Display detailed information on one or more containers
    Inspect(ContainerInspectArgs),
    /// Send a signal to one or more running containers
    Kill(KillArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// List containers
    #[command(alias = "list", alias = "ps")]
    Ls(PsArgs),
    /// List port mappings of a container
    Port(PortArgs),
    /// Stop and start one or more containers
    Restart(StopArgs),
    /// Remove one or more containers
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Create a container and start it
    #[command(disable_help_flag = true)]
    Run(RunArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Block until containers stop, then print their exit codes
    Wait(NamesArgs),
    /// Pause all processes within one or more containers
    Pause(PauseArgs),
    /// Unpause all processes within one or more containers
    Unpause(PauseArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Update the resource limits of one or more containers
    Update(UpdateArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Display the running processes of a container
    Top(TopArgs),
}

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Remove stopped containers, unused networks and dangling images, and reclaim
    /// what a crashed monitor left on the host
    Prune(SystemPruneArgs),
    /// Show disk usage: images, containers, volumes, build cache
    Df(DfArgs),
    /// Display system-wide information
    Info(FormatArgs),
    /// Get real-time events from berth's journal of its own state changes
    Events(EventsArgs),
    /// Start the containers whose restart policy brings them back at boot (always, unless-stopped)
    Boot(BootArgs),
    /// Install and enable a systemd unit that runs `berth system boot` at boot
    InstallBootUnit(BootArgs),
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct ImagePruneArgs {
    /// Remove all images no container uses, not just dangling ones
    #[arg(short = 'a', long = "all", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub force: bool,
}

#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Print help (-h is --hostname, as in docker)
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub tty: bool,
    /// Automatically remove the container when it exits
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub rm: bool,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Set environment variables (KEY=VALUE, or KEY to pass the caller's value)
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Bind mount a volume (NAME:DST or /HOST/DIR:DST, then :ro, :rw, :nocopy or a propagation; DST alone: an anonymous volume)
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Mount a tmpfs directory (PATH[:OPTIONS])
    #[arg(long)]
    pub tmpfs: Vec<String>,
    #[command(flatten)]
    pub mounts: MountFlags,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub read_only: bool,
    /// Give extended privileges to this container
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub privileged: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Security options: no-new-privileges[=true|false], seccomp=unconfined|builtin|PROFILE.json
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<u32>,
    /// Ulimit options (NAME=SOFT[:HARD])
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Memory limit (e.g. 512m)
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// Tune container pids limit (-1 for unlimited)
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Set metadata on a container
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Runtime to use for this container (default: libcontainer, in-process; or an OCI runtime binary such as runc)
    #[arg(long)]
    pub runtime: Option<String>,
    /// Connect a container to a network: bridge (default), none, host, container:NAME, or a user network
    #[arg(long = "network", alias = "net")]
    pub network: Option<String>,
    /// Publish a container's port(s) to the host ([IP:][HOSTPORT:]CONTAINERPORT[/PROTO])
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random host ports
    #[arg(short = 'P', long = "publish-all", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub publish_all: bool,
    /// IPv4 address on the network (e.g. 10.88.0.10)
    #[arg(long)]
    pub ip: Option<String>,
    /// Container MAC address (e.g. 02:42:ac:11:00:02)
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set custom DNS search domains (. for none)
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Set DNS resolver options (e.g. ndots:2)
    #[arg(long = "dns-option", alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (NAME:IP, NAME=IP, or NAME:host-gateway)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Run systemd as PID 1 the way it expects (auto: when the command is an init)
    #[arg(long, value_name = "auto|always|false")]
    pub systemd: Option<String>,
    /// When to pull the image before creating it
    #[arg(long, value_enum, value_name = "missing|always|never", default_value_t = PullPolicy::Missing)]
    pub pull: PullPolicy,
    #[command(flatten)]
    pub runflags: RunFlags,
    #[command(flatten)]
    pub restart: RestartArgs,
    /// The image, then the command and its arguments
    #[arg(
        required = true,
        trailing_var_arg = true,
        value_name = "IMAGE [COMMAND] [ARG...]"
    )]
    pub image_and_command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long = "detach", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub detach: bool,
    /// With -d: return only once the container is ready (systemd sent READY=1)
    #[arg(long, value_name = "ready")]
    pub wait: Option<String>,
    /// Seconds --wait=ready waits before giving up
    #[arg(long = "wait-timeout", default_value = "120")]
    pub wait_timeout: u64,
    #[command(flatten)]
    pub session: RunSessionFlags,
    #[command(flatten)]
    pub create: CreateArgs,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long = "attach", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long = "interactive", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub interactive: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "time", alias = "timeout")]
    pub time: Option<u32>,
    /// Signal to send to the container
    #[arg(short = 's', long = "signal")]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal", default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long = "force", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long = "volumes", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long = "quiet", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub quiet: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last")]
    pub last: Option<usize>,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long = "latest", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub no_trunc: bool,
    /// Filter output (name=, status=, ancestor=, id=, label=)
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a Go-style template ({{.ID}}, {{.Names}}, table, json)
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long = "follow", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs ("all" or a number)
    #[arg(short = 'n', long = "tail", default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long = "timestamps", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub timestamps: bool,
    /// Show logs since a timestamp (RFC 3339 or Unix) or relative (e.g. 42m)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp (RFC 3339 or Unix) or relative (e.g. 42m)
    #[arg(long)]
    pub until: Option<String>,
    /// Show extra details provided to logs (--log-opt labels=, env=)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub details: bool,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long = "detach", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub tty: bool,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Give extended privileges to the command
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub privileged: bool,
    /// The container, then the command and its arguments
    #[arg(required = true, num_args = 2.., trailing_var_arg = true, value_name = "CONTAINER COMMAND [ARG...]")]
    pub container_and_command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a Go-style template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Only inspect objects of this type (container or image)
    #[arg(long = "type")]
    pub kind: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ImageInspectArgs {
    /// Format output using a Go-style template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct NamesArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long = "no-stdin", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub no_stdin: bool,
    /// Override the key sequence for detaching a container (default ctrl-p,ctrl-q)
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g. "Jane Doe <jane@example.com>")
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply a Dockerfile instruction to the created image (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, STOPSIGNAL, LABEL, VOLUME)
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Freeze a running container while its files are archived (cgroup freezer)
    #[arg(short = 'p', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "true", action = ArgAction::Set)]
    pub pause: bool,
    pub container: String,
    /// Repository and tag for the image
    pub reference: Option<String>,
}

#[derive(Args, Debug)]
pub struct ContainerArg {
    pub container: String,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file instead of standard output
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Apply a Dockerfile instruction to the created image (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, STOPSIGNAL, LABEL, VOLUME)
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long = "message")]
    pub message: Option<String>,
    /// Tarball path, or - for standard input
    pub file: String,
    /// Repository and tag for the image
    pub reference: Option<String>,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Download every tagged image in the repository
    #[arg(short = 'a', long = "all-tags", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub all_tags: bool,
    /// Print only the pulled reference
    #[arg(short = 'q', long = "quiet", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub quiet: bool,
    /// Pull the image for this platform (os/arch[/variant]) instead of the host's
    #[arg(long)]
    pub platform: Option<String>,
    /// NAME[:TAG|@DIGEST]
    pub reference: String,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Print only the pushed reference
    #[arg(short = 'q', long = "quiet", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub quiet: bool,
    /// The local image: NAME[:TAG] or an id
    pub image: String,
    /// Where to push it when not to its own name: REGISTRY/REPOSITORY[:TAG]
    pub destination: Option<String>,
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to this file instead of standard output
    #[arg(short = 'o', long = "output")]
    pub output: Option<String>,
    /// docker-archive (docker's combined archive, loads into docker and podman) or oci-archive
    #[arg(long, default_value = "docker-archive", value_parser = ["docker-archive", "oci-archive"])]
    pub format: String,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from this tar archive instead of standard input
    #[arg(short = 'i', long = "input")]
    pub input: Option<String>,
    /// Suppress progress output (as docker's -q: the loaded names are still printed;
    /// berth load draws no progress, so this changes nothing)
    #[arg(short = 'q', long = "quiet", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long = "username")]
    pub username: Option<String>,
    /// Password (prefer --password-stdin: a password here is visible to other users in ps)
    #[arg(short = 'p', long = "password")]
    pub password: Option<String>,
    /// Read the password from standard input
    #[arg(long = "password-stdin", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub password_stdin: bool,
    /// The registry (default: docker.io)
    pub server: Option<String>,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// The registry (default: docker.io)
    pub server: Option<String>,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Only show image IDs
    #[arg(short = 'q', long = "quiet", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub quiet: bool,
    /// Show all images (berth stores no intermediate images, so this lists the same)
    #[arg(short = 'a', long = "all", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub all: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub no_trunc: bool,
    /// Format output using a Go-style template
    #[arg(long)]
    pub format: Option<String>,
    /// Only images of this repository[:tag]
    pub repository: Option<String>,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    pub source: String,
    pub target: String,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Remove the image even if it has several tags
    #[arg(short = 'f', long = "force", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub force: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// Create a network
    Create(NetworkCreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(NetworkLsArgs),
    /// Display detailed information on one or more networks
    Inspect(NetworkNamesArgs),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(NetworkNamesArgs),
    /// Remove all networks no container uses
    Prune(PruneArgs),
    /// Connect a container to a network (it gets another interface, eth1…)
    Connect(NetworkConnectArgs),
    /// Disconnect a container from a network joined with connect
    Disconnect(NetworkDisconnectArgs),
}

#[derive(Args, Debug)]
pub struct NetworkConnectArgs {
    /// IPv4 address on the network
    #[arg(long)]
    pub ip: Option<std::net::Ipv4Addr>,
    pub network: String,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct NetworkDisconnectArgs {
    pub network: String,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct NetworkCreateArgs {
    /// Subnet in CIDR format (e.g. 10.90.0.0/24)
    #[arg(long)]
    pub subnet: Option<String>,
    /// Gateway address of the subnet
    #[arg(long)]
    pub gateway: Option<String>,
    /// Driver to manage the network (only bridge)
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    pub name: String,
}

#[derive(Args, Debug)]
pub struct NetworkLsArgs {
    /// Only display network names
    #[arg(short = 'q', long = "quiet", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub quiet: bool,
    /// Format output using a Go-style template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct NetworkNamesArgs {
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PortArgs {
    pub container: String,
    /// Only this container port ([PORT[/PROTO]])
    pub port: Option<String>,
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    pub container: String,
}

#[derive(Args, Debug)]
pub struct MonitorArgs {
    pub id: String,
    /// Wait for an attaching client before starting the container (a monitor
    /// launched ahead by `run` or `start` is told this with its go instead).
    #[arg(long)]
    pub attach: bool,
}

#[cfg(test)]
mod tests;
