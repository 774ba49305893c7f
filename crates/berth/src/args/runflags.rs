//! The `run`/`create` flags docker keeps in `HostConfig` beside the basics (devices,
//! sysctls, namespaces, extra cgroup limits, logs, metadata), and the ones only
//! `run` has (what to attach, signal proxying, detach keys).

use super::LimitFlags;
use clap::{ArgAction, Args};

#[derive(Args, Debug, Clone, Default)]
pub struct RunFlags {
    /// Add a host device to the container (HOST[:CONTAINER][:PERMS], PERMS of rwm)
    #[arg(long = "device")]
    pub device: Vec<String>,
    /// Add a rule to the cgroup allowed devices list ('c 1:3 rwm', * for any number)
    #[arg(long = "device-cgroup-rule")]
    pub device_cgroup_rule: Vec<String>,
    /// Add additional groups to join (names from the image's /etc/group, or gids)
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Size of /dev/shm (e.g. 128m; default 64m)
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Namespaced kernel parameters (KEY=VALUE: net.*, kernel.shm*/msg*/sem, fs.mqueue.*)
    #[arg(long = "sysctl")]
    pub sysctl: Vec<String>,
    /// PID namespace to use: private (default), host or container:NAME
    #[arg(long = "pid")]
    pub pid: Option<String>,
    /// IPC namespace to use: private (default), shareable, host or container:NAME
    #[arg(long = "ipc")]
    pub ipc: Option<String>,
    /// UTS namespace to use: private (default) or host
    #[arg(long = "uts")]
    pub uts: Option<String>,
    /// Cgroup namespace to use: host or private (default: private in systemd mode, else host)
    #[arg(long = "cgroupns")]
    pub cgroupns: Option<String>,
    /// Parent cgroup for the container (berth keeps every container under its own parent)
    #[arg(long = "cgroup-parent")]
    pub cgroup_parent: Option<String>,
    /// Platform of the image (only this host's: berth does not emulate)
    #[arg(long)]
    pub platform: Option<String>,
    /// Write the container ID to the file (which must not exist yet)
    #[arg(long)]
    pub cidfile: Option<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file")]
    pub label_file: Vec<String>,
    #[command(flatten)]
    pub limits: LimitFlags,
    /// Tune the container's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", allow_negative_numbers = true)]
    pub oom_score_adj: Option<i32>,
    /// Disable the OOM killer
    #[arg(long = "oom-kill-disable", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    pub oom_kill_disable: bool,
    /// Expose a port or a range of ports (PORT[-PORT][/PROTO])
    #[arg(long)]
    pub expose: Vec<String>,
    /// Container NIS domain name
    #[arg(long)]
    pub domainname: Option<String>,
    /// Add a network-scoped alias for the container (user networks only)
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// Add an annotation to the container (passed through to the OCI runtime)
    #[arg(long)]
    pub annotation: Vec<String>,
    /// Logging driver for the container: json-file (default), none, journald
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options (json-file: max-size, max-file, labels, env)
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
}

/// Flags of `run` alone: they concern the terminal session, not the container.
#[derive(Args, Debug, Clone, Default)]
pub struct RunSessionFlags {
    /// Attach to STDIN, STDOUT or STDERR (default: STDOUT and STDERR, and STDIN with -i)
    #[arg(short = 'a', long = "attach", value_parser = ["STDIN", "STDOUT", "STDERR", "stdin", "stdout", "stderr"])]
    pub attach: Vec<String>,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "true", action = ArgAction::Set)]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container (default ctrl-p,ctrl-q)
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
}
