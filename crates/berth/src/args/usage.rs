//! `image history` and `system df`: what images are made of and what the store
//! holds on disk.

use clap::{ArgAction, Args};

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format (default true)
    #[arg(short = 'H', long = "human", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "true", action = ArgAction::Set)]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long = "quiet", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub quiet: bool,
    /// Format output using a Go-style template ("table …", "json")
    #[arg(long)]
    pub format: Option<String>,
    pub image: String,
}

#[derive(Args, Debug)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short = 'v', long = "verbose", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub verbose: bool,
    /// Format output using a Go-style template ("table …", "json")
    #[arg(long)]
    pub format: Option<String>,
}
