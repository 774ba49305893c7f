//! The container as the user asked for it (`ContainerSpec`, fixed at create) and as it
//! is now (`ContainerState`, changed by the monitor and by stop/kill/rm).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct BindMount {
    /// Host path, or volume name when `volume` is set.
    pub source: String,
    pub destination: String,
    pub read_only: bool,
    pub volume: bool,
    /// Anonymous volumes are removed by `rm -v`.
    pub anonymous: bool,
    /// `--mount bind-propagation=` (rprivate when absent).
    #[serde(default)]
    pub propagation: Option<String>,
    /// `--mount volume-nocopy`: no copy-up of the image's files into a new volume.
    #[serde(default)]
    pub no_copy: bool,
    /// The flag it came from, for `inspect`'s HostConfig (Binds, Mounts, VolumesFrom).
    #[serde(default)]
    pub origin: MountOrigin,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum MountOrigin {
    /// `-v`, or an image VOLUME (anonymous).
    #[default]
    Volume,
    /// `--mount`.
    Mount,
    /// Copied from another container by `--volumes-from`.
    VolumesFrom,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TmpfsMount {
    pub destination: String,
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ulimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Resources {
    pub memory: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub pids_limit: Option<i64>,
    /// Memory plus swap, docker's `--memory-swap` (-1: unlimited swap).
    #[serde(default)]
    pub memory_swap: Option<i64>,
    /// Soft limit (`--memory-reservation`).
    #[serde(default)]
    pub memory_reservation: Option<i64>,
    #[serde(default)]
    pub cpu_shares: Option<u64>,
    #[serde(default)]
    pub cpuset_cpus: Option<String>,
    #[serde(default)]
    pub cpuset_mems: Option<String>,
    #[serde(default)]
    pub blkio_weight: Option<u16>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// Own network namespace with only loopback.
    #[default]
    None,
    Host,
    /// A bridge network by name (`bridge` is the default one).
    Network(String),
    /// The network namespace of another container (by id).
    Container(String),
}

impl NetworkMode {
    pub fn name(&self) -> String {
        match self {
            NetworkMode::None => "none".into(),
            NetworkMode::Host => "host".into(),
            NetworkMode::Network(n) => n.clone(),
            NetworkMode::Container(c) => format!("container:{c}"),
        }
    }
}

/// Network options of a container on a bridge network.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct NetworkOptions {
    pub publish: Vec<berth_net::PortMapping>,
    pub ip: Option<std::net::Ipv4Addr>,
    pub mac: Option<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    #[serde(default)]
    pub dns_options: Vec<String>,
    /// (name, address) from `--add-host`; the address may be
    /// `berth_net::dns::HOST_GATEWAY`, resolved when /etc/hosts is written.
    pub add_hosts: Vec<(String, String)>,
}

/// The seccomp filter a container asked for (`--security-opt seccomp=…`); a
/// privileged container gets none whatever this says, as with docker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SeccompProfile {
    /// Docker's default profile.
    #[default]
    Default,
    Unconfined,
    /// A profile in docker's JSON format, its text as read at create (as docker
    /// keeps it): later edits of the file do not change the container.
    Custom(String),
}

/// User intent, fixed when the container is created.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ContainerSpec {
    pub image: String,
    pub image_id: String,
    pub hostname: String,
    pub domainname: String,
    /// Final argv: entrypoint + cmd after user overrides.
    pub args: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub workdir: String,
    pub user: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub auto_remove: bool,
    pub binds: Vec<BindMount>,
    pub tmpfs: Vec<TmpfsMount>,
    pub read_only: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub no_new_privileges: bool,
    #[serde(default)]
    pub seccomp: SeccompProfile,
    pub stop_signal: String,
    pub stop_timeout: Option<u32>,
    pub ulimits: Vec<Ulimit>,
    pub resources: Resources,
    pub labels: BTreeMap<String, String>,
    pub runtime: String,
    pub network: NetworkMode,
    /// Systemd mode (resolved from `--systemd` and the command at create).
    #[serde(default)]
    pub systemd: bool,
    /// The image's VOLUMEs that systemd mode mounts its own file system on
    /// (`/sys/fs/cgroup`, `/run`, `/tmp`, …) and so made no volume for.
    #[serde(default)]
    pub systemd_volumes: Vec<String>,
    #[serde(default)]
    pub net: NetworkOptions,
    /// Networks joined with `network connect`, besides `network`; joined again
    /// at every start.
    #[serde(default)]
    pub connected: Vec<ConnectedNetwork>,
    /// `--volumes-from` as given (`CONTAINER[:ro|rw]`), for `inspect`.
    #[serde(default)]
    pub volumes_from: Vec<String>,
    /// `--device`, `--sysctl`, `--pid`, `--log-opt`, … (docker's HostConfig extras).
    #[serde(default)]
    pub host_config: crate::oci::hostconfig::HostConfig,
    /// `--restart`, honoured by the monitor (see `restart`).
    #[serde(default)]
    pub restart: crate::restart::RestartPolicy,
    /// `--init`: the host's init binary, bind-mounted as /sbin/docker-init and put
    /// before the command (see `init`).
    #[serde(default)]
    pub init: Option<String>,
    /// The healthcheck in force (the caller's, else the image's), if any.
    #[serde(default)]
    pub healthcheck: Option<crate::health::HealthConfig>,
}

/// A network joined with `network connect`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConnectedNetwork {
    pub name: String,
    /// `--ip`, when one was asked for.
    pub ip: Option<std::net::Ipv4Addr>,
}

impl ContainerSpec {
    /// The process gets a terminal for `-t`, and in systemd mode so that
    /// /dev/console is a pty whose output reaches the logs.
    pub fn needs_terminal(&self) -> bool {
        self.tty || self.systemd
    }
}

/// How far a systemd container has booted, from its sd_notify messages.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BootState {
    Starting,
    Ready,
    Degraded,
    Stopping,
}

impl BootState {
    pub fn as_str(&self) -> &'static str {
        match self {
            BootState::Starting => "starting",
            BootState::Ready => "ready",
            BootState::Degraded => "degraded",
            BootState::Stopping => "stopping",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Exited,
    Removing,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
            Status::Removing => "removing",
        }
    }
}

/// A process identity that survives pid reuse: pid plus its start time in clock ticks
/// since boot (field 22 of /proc/PID/stat), and its pidfs inode number where the
/// kernel has one (see `pidfs`), which is cheaper to check.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct ProcessId {
    pub pid: i32,
    pub start_ticks: u64,
    /// Absent from records written before it, and on kernels without pidfs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pidfs: Option<PidfsId>,
}

/// A pidfs inode number and the boot it belongs to: the numbers start again
/// with every boot, along with the pids, so after a reboot another process may
/// have both; no process outlives its boot.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct PidfsId {
    pub ino: u64,
    /// The first 64 bits of the kernel's random boot id.
    pub boot: u64,
}

impl ProcessId {
    pub fn of(pid: i32) -> Option<Self> {
        if pid <= 0 {
            return None;
        }
        // The pidfd first, its number taken after the start time is read: a
        // process that has not exited by then is the one both were read from.
        let pidfd = crate::pidfs::Pidfd::open(pid);
        let start_ticks = start_ticks(pid)?;
        let pidfs = pidfd
            .and_then(|fd| fd.inode_if_running())
            .zip(crate::pidfs::boot())
            .map(|(ino, boot)| PidfsId { ino, boot });
        Some(ProcessId {
            pid,
            start_ticks,
            pidfs,
        })
    }

    /// This process's own identity, worked out once: a monitor records itself
    /// more than once, and waiters compare the records.
    pub fn own() -> Option<Self> {
        static OWN: std::sync::OnceLock<Option<ProcessId>> = std::sync::OnceLock::new();
        *OWN.get_or_init(|| ProcessId::of(std::process::id() as i32))
    }

    /// Alive: the same process (pid and pidfs number in this boot, or pid and
    /// start time) exists and is not a zombie.
    pub fn is_alive(&self) -> bool {
        if self.pid <= 0 {
            return false;
        }
        let boot = crate::pidfs::usable().then(crate::pidfs::boot).flatten();
        match (self.pidfs, boot) {
            (Some(id), Some(now)) if id.boot != now => false,
            (Some(id), Some(_)) => {
                crate::pidfs::check(self.pid, id.ino).unwrap_or_else(|| self.alive_by_start_time())
            }
            _ => self.alive_by_start_time(),
        }
    }

    /// Sends `sig` to this process if it is still this process: Ok(false) when
    /// it has gone. A pid checked and then signalled by number could name
    /// another process by the time the signal goes (the pid freed and reused in
    /// between); here the pidfd is opened first, the identity checked after, and
    /// the signal sent through that pidfd. Whatever the pidfd names is either the
    /// process checked (a pid is not reused while its process exists, zombie or
    /// not) or one that exited before the check, which the kernel refuses to
    /// signal. Kernels without pidfds (before 5.3) keep the check-then-kill.
    pub fn signal(&self, sig: i32) -> Result<bool, nix::errno::Errno> {
        let Some(handle) = crate::pidfs::ProcessHandle::open(self.pid)? else {
            return Ok(false);
        };
        if !self.is_alive() {
            return Ok(false);
        }
        match handle.send_signal(sig) {
            Ok(()) => Ok(true),
            Err(nix::errno::Errno::ESRCH) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn alive_by_start_time(&self) -> bool {
        matches!(stat_fields(self.pid), Some((state, start)) if start == self.start_ticks && state != 'Z' && state != 'X')
    }
}

fn start_ticks(pid: i32) -> Option<u64> {
    stat_fields(pid).map(|(_, start)| start)
}

/// (state, start time) from /proc/PID/stat.
fn stat_fields(pid: i32) -> Option<(char, u64)> {
    let mut buf = [0u8; 1024];
    let stat = crate::kernfile::read_small(format!("/proc/{pid}/stat"), &mut buf)?;
    // The command name may hold spaces and parens; fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    // rest starts at field 3 (state); starttime is field 22.
    let state = fields.next()?.chars().next()?;
    Some((state, fields.nth(18)?.parse().ok()?))
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ContainerState {
    pub status: Status,
    pub init: Option<ProcessId>,
    pub monitor: Option<ProcessId>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    pub restart_count: u32,
    /// Systemd containers only.
    #[serde(default)]
    pub boot: Option<BootState>,
    /// The last STATUS= line systemd sent.
    #[serde(default)]
    pub boot_status: Option<String>,
    /// Address and published ports while running on a bridge network.
    #[serde(default)]
    pub network: Option<berth_net::Attachment>,
    /// Addresses on the networks of `spec.connected`, while running.
    #[serde(default)]
    pub connected: Vec<berth_net::Attachment>,
    /// Set by `restart` before it stops a `--rm` container: the exit it causes is
    /// not the end of the container, so its monitor keeps it (docker's restart
    /// lifts AutoRemove the same way). The monitor that sees the exit clears it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restarting: bool,
    /// A user stopped it (`stop`, `rm -f`): no restart, and `unless-stopped` stays
    /// down at boot. Cleared by a user's start (see `restart`).
    #[serde(default)]
    pub manually_stopped: bool,
    /// A user killed it: its next exit is not followed by a restart.
    #[serde(default)]
    pub exit_on_next: bool,
    /// The monitor waits out its back-off before starting it again.
    #[serde(default)]
    pub restart_pending: bool,
    /// The last back-off delay (docker's doubling starts from it).
    #[serde(default)]
    pub restart_delay_ms: u64,
    /// The healthcheck's status and last results, while it has one.
    #[serde(default)]
    pub health: Option<crate::health::Health>,
    /// `pause` froze it and no `unpause` or restart came since: listings ask the
    /// kernel whether it is frozen only then (see `usecase::status_name`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
}

impl ContainerState {
    /// Every network attachment, the primary first.
    pub fn attachments(&self) -> impl Iterator<Item = &berth_net::Attachment> {
        self.network.iter().chain(&self.connected)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub image_id: String,
    pub created: String,
    pub spec: ContainerSpec,
    pub state: ContainerState,
}

impl Container {
    pub fn is_running(&self) -> bool {
        self.state.status == Status::Running
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_identity_is_alive() {
        let me = ProcessId::of(std::process::id() as i32).unwrap();
        assert!(me.is_alive());
        assert!(!another_process_under_the_same_pid(me).is_alive());
    }

    /// The record of another process that had (or took) the pid: another start
    /// time and, where there is pidfs, another number.
    fn another_process_under_the_same_pid(p: ProcessId) -> ProcessId {
        ProcessId {
            start_ticks: p.start_ticks + 1,
            pidfs: p.pidfs.map(|id| PidfsId {
                ino: id.ino + 1,
                ..id
            }),
            ..p
        }
    }

    #[test]
    fn a_record_without_a_pidfs_number_is_checked_by_its_start_time() {
        let me = ProcessId::of(std::process::id() as i32).unwrap();
        let old = ProcessId { pidfs: None, ..me };
        assert!(old.is_alive());
        let stale = ProcessId {
            start_ticks: me.start_ticks + 1,
            ..old
        };
        assert!(!stale.is_alive());
        // As stored before the number existed.
        let parsed: ProcessId = serde_json::from_str(&format!(
            r#"{{"pid":{},"start_ticks":{}}}"#,
            me.pid, me.start_ticks
        ))
        .unwrap();
        assert_eq!(parsed, old);
        assert!(!serde_json::to_string(&old).unwrap().contains("pidfs"));
    }

    #[test]
    fn a_pidfs_number_is_what_counts_where_there_is_one() {
        let me = ProcessId::of(std::process::id() as i32).unwrap();
        let Some(id) = me.pidfs else {
            return; // a kernel without pidfs: the start time above is all there is
        };
        let other_number = ProcessId {
            pidfs: Some(PidfsId {
                ino: id.ino + 1,
                ..id
            }),
            ..me
        };
        assert!(!other_number.is_alive());
        // The same pid and number from another boot: another process.
        let other_boot = ProcessId {
            pidfs: Some(PidfsId {
                boot: id.boot ^ 1,
                ..id
            }),
            ..me
        };
        assert!(!other_boot.is_alive());
    }

    #[test]
    fn a_signal_reaches_the_recorded_process_only() {
        use std::os::unix::process::ExitStatusExt;
        let mut child = crate::pidfs::sleeper();
        let real = ProcessId::of(child.id() as i32).unwrap();
        let earlier = another_process_under_the_same_pid(real);
        assert!(!earlier.signal(libc::SIGTERM).unwrap(), "reported as sent");
        assert!(real.signal(libc::SIGKILL).unwrap());
        // A fatal signal decides the exit status when it is sent: had the
        // SIGTERM gone to the process, it would have ended by that one.
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
        assert!(!real.signal(libc::SIGKILL).unwrap(), "a reaped process");
    }
}
