//! Arguments of `pause`, `unpause`, `rename`, `update` and `events` (also as
//! `container pause|unpause|rename|update` and `system events`).

use super::LimitFlags;
use clap::Args;

#[derive(Args, Debug)]
pub struct PauseArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RenameArgs {
    /// The container to rename
    pub container: String,
    /// Its new name
    pub new_name: String,
}

/// `update`'s flags (docker's names): resources and the restart policy.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Number of CPUs (0: no limit)
    #[arg(long)]
    pub cpus: Option<String>,
    /// Memory limit (e.g. 512m)
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Tune container pids limit (-1 for unlimited)
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits (no, on-failure[:N], always, unless-stopped)
    #[arg(long)]
    pub restart: Option<String>,
    #[command(flatten)]
    pub limits: LimitFlags,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Show all events created since timestamp (RFC 3339, Unix seconds, or a duration such as 10m)
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
    /// Filter output based on conditions provided (type=, container=, event=, image=, label=, network=)
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format the output using a Go template, or 'json'
    #[arg(long)]
    pub format: Option<String>,
}
