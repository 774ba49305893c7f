//! `run`/`create` flags for restart policies, `--init` and healthchecks, and the
//! `system boot` commands.

use clap::{ArgAction, Args};

#[derive(Args, Debug, Clone, Default)]
pub struct RestartArgs {
    /// Restart policy when the container exits: no, on-failure[:max-retries], always, unless-stopped
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub init: bool,
    /// Path to the host's init binary for --init (default: tini-static or catatonit)
    #[arg(long = "init-path", value_name = "PATH")]
    pub init_path: Option<String>,
    /// Command to run to check health (run with /bin/sh -c)
    #[arg(long = "health-cmd", value_name = "COMMAND")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 30s)
    #[arg(long = "health-interval", value_name = "DURATION")]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 30s)
    #[arg(long = "health-timeout", value_name = "DURATION")]
    pub health_timeout: Option<String>,
    /// Start period for the container to initialize before counting retries towards unstable (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-period", value_name = "DURATION")]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h) (default 5s)
    #[arg(long = "health-start-interval", value_name = "DURATION")]
    pub health_start_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy (default 3)
    #[arg(
        long = "health-retries",
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub health_retries: Option<i64>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub no_healthcheck: bool,
}

#[derive(Args, Debug)]
pub struct BootArgs {}

#[cfg(test)]
mod tests {
    use crate::args::{Cli, Command};
    use clap::Parser;

    #[test]
    fn restart_init_and_health_flags_parse() {
        let cli = Cli::try_parse_from([
            "berth",
            "run",
            "--restart=on-failure:3",
            "--init",
            "--health-cmd",
            "exit 0",
            "--health-interval=1s",
            "--health-retries=2",
            "img",
        ])
        .unwrap();
        let Command::Run(r) = cli.command else {
            panic!("not run")
        };
        let a = &r.create.restart;
        assert_eq!(a.restart.as_deref(), Some("on-failure:3"));
        assert!(a.init && !a.no_healthcheck);
        assert_eq!(a.health_cmd.as_deref(), Some("exit 0"));
        assert_eq!(a.health_retries, Some(2));
    }
}
