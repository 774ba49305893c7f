//! `volume create|ls|inspect|rm|prune`, and the volume flags of `run`/`create`.

use clap::{ArgAction, Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume
    Create(VolumeCreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(VolumeLsArgs),
    /// Display detailed information on one or more volumes
    Inspect(VolumeInspectArgs),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(VolumeRmArgs),
    /// Remove unused anonymous volumes (all unused volumes with -a)
    Prune(VolumePruneArgs),
}

#[derive(Args, Debug)]
pub struct VolumeCreateArgs {
    /// Specify volume name
    #[arg(long = "name", value_name = "NAME")]
    pub name_flag: Option<String>,
    /// Specify volume driver name (local)
    #[arg(short = 'd', long = "driver", default_value = "local")]
    pub driver: String,
    /// Set driver specific options (type=none,o=bind,device=/host/dir)
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// Set metadata for a volume (KEY=VALUE)
    #[arg(long = "label")]
    pub label: Vec<String>,
    /// The volume's name (random when absent)
    pub name: Option<String>,
}

#[derive(Args, Debug)]
pub struct VolumeLsArgs {
    /// Only display volume names
    #[arg(short = 'q', long = "quiet", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub quiet: bool,
    /// Provide filter values (dangling=true|false, name=, label=KEY[=VALUE], driver=)
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a Go-style template ({{.Name}}, {{.Driver}}, table, json)
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct VolumeInspectArgs {
    /// Format output using a Go-style template
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct VolumeRmArgs {
    /// Do not fail on volumes that do not exist (volumes in use are still kept)
    #[arg(short = 'f', long = "force", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub force: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct VolumePruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long = "all", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub all: bool,
    /// Provide filter values (label=KEY[=VALUE], label!=KEY[=VALUE])
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub force: bool,
}

/// `system prune`: image prune's flags, and `--volumes`.
#[derive(Args, Debug)]
pub struct SystemPruneArgs {
    #[command(flatten)]
    pub prune: super::ImagePruneArgs,
    /// Prune anonymous volumes too
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub volumes: bool,
}

/// `run`/`create` volume flags besides `-v` (flattened into `CreateArgs`).
#[derive(Args, Debug, Clone, Default)]
pub struct MountFlags {
    /// Attach a filesystem mount to the container
    /// (type=bind|volume|tmpfs,source=,target=,readonly,bind-propagation=,tmpfs-size=,tmpfs-mode=,volume-opt=)
    #[arg(long = "mount")]
    pub mount: Vec<String>,
    /// Mount volumes from the specified container(s) (CONTAINER[:ro|rw])
    #[arg(long = "volumes-from")]
    pub volumes_from: Vec<String>,
}
