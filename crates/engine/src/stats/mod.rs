//! `stats` and `top`: what a running container uses, read from its cgroup (either
//! layout, `cgroup`), its network namespace (`/proc/<init>/net/dev`) and the
//! host's CPU counters, as docker computes it (CPU % from two samples, memory
//! without the inactive page cache, an unlimited container's limit shown as the
//! host's memory).

pub mod cgroup;

use crate::cgroups::{CgroupLayout, PARENT};
use crate::model::{Container, NetworkMode};
use cgroup::{CgroupStats, Memory, V1, V2};
use std::path::Path;

/// One reading of a container's figures.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sample {
    pub cpu_ns: u64,
    /// All CPUs' time since boot, in nanoseconds (/proc/stat).
    pub system_ns: u64,
    pub online_cpus: u32,
    pub memory: Memory,
    pub pids: u64,
    /// (received, sent) bytes on the container's interfaces but loopback.
    pub net: (u64, u64),
    /// (read, written) bytes.
    pub block: (u64, u64),
}

/// The container's cgroup, on this host's layout.
pub fn cgroup_of(c: &Container) -> Box<dyn CgroupStats> {
    let own = |mount: &Path| mount.join(PARENT).join(&c.id);
    match CgroupLayout::from_host() {
        CgroupLayout::Unified => Box::new(V2 {
            dir: own(Path::new("/sys/fs/cgroup")),
        }),
        CgroupLayout::V1(hierarchies) => {
            let find = |controller: &str| {
                hierarchies
                    .iter()
                    .find(|h| h.options.iter().any(|o| o == controller))
                    .map(|h| own(&h.mount_point))
            };
            Box::new(V1 {
                memory: find("memory"),
                cpuacct: find("cpuacct"),
                pids: find("pids"),
                blkio: find("blkio"),
            })
        }
    }
}

/// Reads the running container's figures now; `None` when it is not running.
pub fn sample(c: &Container) -> Option<Sample> {
    let init = c.state.init.filter(|i| c.is_running() && i.is_alive())?;
    let cg = cgroup_of(c);
    let net = match c.spec.network {
        // The host's interfaces are not the container's: docker shows nothing.
        NetworkMode::Host => (0, 0),
        _ => std::fs::read_to_string(format!("/proc/{}/net/dev", init.pid))
            .map(|t| net_dev(&t))
            .unwrap_or((0, 0)),
    };
    Some(Sample {
        cpu_ns: cg.cpu_ns().unwrap_or(0),
        system_ns: std::fs::read_to_string("/proc/stat")
            .map(|t| system_ns(&t, clock_ticks()))
            .unwrap_or(0),
        online_cpus: online_cpus(),
        memory: cg.memory().unwrap_or_default(),
        pids: cg.pids().unwrap_or(0),
        net,
        block: cg.block_io(),
    })
}

/// docker's CPU %: the container's share of all CPUs' time between two samples,
/// scaled to the number of CPUs (100 % is one CPU busy).
pub fn cpu_percent(before: &Sample, now: &Sample) -> f64 {
    let cpu = now.cpu_ns.saturating_sub(before.cpu_ns) as f64;
    let system = now.system_ns.saturating_sub(before.system_ns) as f64;
    if cpu <= 0.0 || system <= 0.0 {
        return 0.0;
    }
    cpu / system * now.online_cpus.max(1) as f64 * 100.0
}

/// The limit docker shows: the cgroup's, or the host's memory when there is
/// none (or it is above that).
pub fn memory_limit(m: &Memory) -> u64 {
    let host = host_memory();
    match m.limit {
        Some(l) if host == 0 || l < host => l,
        _ => host,
    }
}

/// The processes of a running container (its cgroup's, with those of any cgroup
/// systemd made below it), sorted.
pub fn container_pids(c: &Container) -> Vec<i32> {
    cgroup_of(c).procs()
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let rest = l.strip_prefix("MemTotal:")?;
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        n if n > 0 => n as u64,
        _ => 100,
    }
}

fn online_cpus() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
}

/// The `cpu` line of /proc/stat (user … steal), in nanoseconds.
fn system_ns(proc_stat: &str, ticks_per_second: u64) -> u64 {
    let Some(line) = proc_stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    let ticks: u64 = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    ticks * (1_000_000_000 / ticks_per_second.max(1))
}

/// Received and sent bytes of every interface in a /proc/PID/net/dev but `lo`.
fn net_dev(text: &str) -> (u64, u64) {
    let (mut rx, mut tx) = (0, 0);
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = counters
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if f.len() >= 9 {
            rx += f[0];
            tx += f[8];
        }
    }
    (rx, tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_counters_leave_loopback_out() {
        let text = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     500       5    0    0    0     0          0         0      500       5    0    0    0     0       0          0
  eth0:    1296      16    0    0    0     0          0         0      726       9    0    0    0     0       0          0
";
        assert_eq!(net_dev(text), (1296, 726));
        assert_eq!(net_dev(""), (0, 0));
    }

    #[test]
    fn system_time_and_cpu_share() {
        let stat = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3\n";
        assert_eq!(system_ns(stat, 100), 1000 * 10_000_000);
        let before = Sample {
            cpu_ns: 0,
            system_ns: 1_000_000_000,
            online_cpus: 2,
            ..Default::default()
        };
        let now = Sample {
            cpu_ns: 500_000_000,
            system_ns: 3_000_000_000,
            ..before
        };
        // Half a CPU-second out of two (two CPUs for one second): 25 % of the
        // machine, shown as docker shows it: 50 % of one CPU.
        assert!((cpu_percent(&before, &now) - 50.0).abs() < 1e-9);
        assert_eq!(cpu_percent(&now, &now), 0.0);
    }
}
