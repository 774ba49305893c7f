//! Changing the cgroup limits of a running container (`berth update`): which
//! files get which values, in which order, on cgroup v1 and v2 ([`plan`], pure),
//! then written ([`apply`]). Hand-written, not libcgroups' managers: libcgroups'
//! v1 manager resolves the cgroup relative to the caller's own, and both rewrite
//! every limit of the spec, where `update` must touch only what was asked for and
//! report the kernel's refusal of each value as it is (a memory limit below the
//! container's usage: EBUSY on v1).

use crate::cgroups::{CgroupLayout, PARENT};
use crate::model::Resources;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LimitsError {
    #[error("the kernel refused {value} for {path}: {source}{hint}")]
    Write {
        path: PathBuf,
        value: String,
        source: std::io::Error,
        hint: String,
    },
    #[error("this host has no block I/O weight for the container's cgroup ({0}); --blkio-weight cannot be applied here")]
    NoBlkioWeight(String),
    #[error(
        "this host has no {0} cgroup controller for the container; {1} cannot be applied here"
    )]
    NoController(&'static str, &'static str),
}

/// The memory limits checked against each other: at create (`--memory-swap`,
/// `--memory-reservation` with `-m`) and at `update` (the stored ones with the new).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MemoryLimitsError {
    #[error("--memory-swap needs --memory: the swap limit counts memory and swap together (use -1 for unlimited swap)")]
    SwapWithoutMemory,
    #[error("--memory-swap {swap} is below --memory {memory}: it counts memory and swap together, so give at least the memory limit (or -1 for unlimited)")]
    SwapBelowMemory { swap: i64, memory: i64 },
    #[error("--memory-reservation {reservation} is above --memory {memory}: the soft limit must be below the hard one")]
    ReservationAboveMemory { reservation: i64, memory: i64 },
}

pub fn check_memory(r: &Resources) -> Result<(), MemoryLimitsError> {
    match (r.memory_swap.filter(|s| *s != -1), r.memory) {
        (Some(_), None) => return Err(MemoryLimitsError::SwapWithoutMemory),
        (Some(swap), Some(memory)) if swap < memory => {
            return Err(MemoryLimitsError::SwapBelowMemory { swap, memory })
        }
        _ => {}
    }
    match (r.memory_reservation, r.memory) {
        (Some(reservation), Some(memory)) if reservation > memory => {
            Err(MemoryLimitsError::ReservationAboveMemory {
                reservation,
                memory,
            })
        }
        _ => Ok(()),
    }
}

/// What `update` changes; `None` leaves a limit as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceUpdate {
    pub memory: Option<i64>,
    /// Memory plus swap; -1 unlimited.
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    /// 0: no CPU quota.
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// 0 or less: unlimited.
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
}

impl ResourceUpdate {
    pub fn is_empty(&self) -> bool {
        *self == ResourceUpdate::default()
    }

    /// The stored limits with this update on top.
    pub fn merged(&self, r: &Resources) -> Resources {
        let mut r = r.clone();
        if let Some(m) = self.memory {
            r.memory = Some(m);
        }
        if let Some(s) = self.memory_swap {
            r.memory_swap = Some(s);
        }
        if let Some(m) = self.memory_reservation {
            r.memory_reservation = Some(m);
        }
        if let Some(n) = self.nano_cpus {
            r.nano_cpus = (n > 0).then_some(n);
        }
        if let Some(s) = self.cpu_shares {
            r.cpu_shares = Some(s);
        }
        if let Some(c) = &self.cpuset_cpus {
            r.cpuset_cpus = Some(c.clone());
        }
        if let Some(m) = &self.cpuset_mems {
            r.cpuset_mems = Some(m.clone());
        }
        if let Some(p) = self.pids_limit {
            r.pids_limit = (p > 0).then_some(p);
        }
        if let Some(w) = self.blkio_weight {
            r.blkio_weight = Some(w);
        }
        r
    }
}

/// One cgroup file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub path: PathBuf,
    pub value: String,
}

/// Where the cgroup files are: v1 hierarchies by controller, or the v2 directory.
pub enum Dirs {
    V1(Vec<(String, PathBuf)>),
    V2(PathBuf),
}

impl Dirs {
    /// The container's cgroup directories on this host's layout.
    pub fn of(layout: &CgroupLayout, id: &str) -> Dirs {
        match layout {
            CgroupLayout::Unified => Dirs::V2(Path::new("/sys/fs/cgroup").join(PARENT).join(id)),
            CgroupLayout::V1(hs) => Dirs::V1(
                hs.iter()
                    .flat_map(|h| {
                        let dir = h.mount_point.join(PARENT).join(id);
                        h.options.iter().map(move |o| (o.clone(), dir.clone()))
                    })
                    .collect(),
            ),
        }
    }

    fn v1(&self, controller: &'static str, flag: &'static str) -> Result<&Path, LimitsError> {
        let Dirs::V1(dirs) = self else {
            unreachable!("v1 only")
        };
        dirs.iter()
            .find(|(c, _)| c == controller)
            .map(|(_, d)| d.as_path())
            .ok_or(LimitsError::NoController(controller, flag))
    }
}

/// The writes that put `u` into effect, in an order the kernel accepts.
/// `current_memory` is the v1 memory limit now (memory+swap may not go below it).
pub fn plan(
    dirs: &Dirs,
    u: &ResourceUpdate,
    merged: &Resources,
    current_memory: i64,
) -> Result<Vec<Write>, LimitsError> {
    let mut out = Vec::new();
    let mut w = |dir: &Path, file: &str, value: String| {
        out.push(Write {
            path: dir.join(file),
            value,
        })
    };
    let quota = |n: i64| (n > 0).then(|| n * 100_000 / 1_000_000_000);
    let pids = |p: i64| if p > 0 { p.to_string() } else { "max".into() };
    match dirs {
        Dirs::V1(_) => {
            if u.memory.is_some() || u.memory_swap.is_some() || u.memory_reservation.is_some() {
                let mem = dirs.v1("memory", "--memory")?;
                // Memory+swap first when it grows past the current limit, else the
                // kernel refuses the new limit above the old memory+swap.
                let swap_first = u.memory_swap.is_some_and(|s| s == -1 || s > current_memory);
                let swap = u.memory_swap.map(|s| s.to_string());
                if let (true, Some(s)) = (swap_first, &swap) {
                    w(mem, "memory.memsw.limit_in_bytes", s.clone());
                }
                if let Some(m) = u.memory {
                    w(mem, "memory.limit_in_bytes", m.to_string());
                }
                if let (false, Some(s)) = (swap_first, swap) {
                    w(mem, "memory.memsw.limit_in_bytes", s);
                }
                if let Some(r) = u.memory_reservation {
                    w(mem, "memory.soft_limit_in_bytes", r.to_string());
                }
            }
            if let Some(n) = u.nano_cpus {
                let cpu = dirs.v1("cpu", "--cpus")?;
                w(cpu, "cpu.cfs_period_us", "100000".into());
                w(cpu, "cpu.cfs_quota_us", quota(n).unwrap_or(-1).to_string());
            }
            if let Some(s) = u.cpu_shares {
                w(dirs.v1("cpu", "--cpu-shares")?, "cpu.shares", s.to_string());
            }
            if let Some(c) = &u.cpuset_cpus {
                w(
                    dirs.v1("cpuset", "--cpuset-cpus")?,
                    "cpuset.cpus",
                    c.clone(),
                );
            }
            if let Some(m) = &u.cpuset_mems {
                w(
                    dirs.v1("cpuset", "--cpuset-mems")?,
                    "cpuset.mems",
                    m.clone(),
                );
            }
            if let Some(p) = u.pids_limit {
                w(dirs.v1("pids", "--pids-limit")?, "pids.max", pids(p));
            }
            if let Some(weight) = u.blkio_weight {
                let blkio = dirs.v1("blkio", "--blkio-weight")?;
                let file = ["blkio.weight", "blkio.bfq.weight"]
                    .into_iter()
                    .find(|f| blkio.join(f).exists())
                    .ok_or_else(|| LimitsError::NoBlkioWeight(blkio.display().to_string()))?;
                w(blkio, file, weight.to_string());
            }
        }
        Dirs::V2(dir) => plan_v2(dir, u, merged, &mut w)?,
    }
    Ok(out)
}

/// cgroup v2: docker's v1 values converted as runc converts them.
fn plan_v2(
    dir: &Path,
    u: &ResourceUpdate,
    merged: &Resources,
    w: &mut impl FnMut(&Path, &str, String),
) -> Result<(), LimitsError> {
    let max = |v: Option<i64>| {
        v.filter(|v| *v >= 0)
            .map_or("max".into(), |v| v.to_string())
    };
    if let Some(m) = u.memory {
        w(dir, "memory.max", m.to_string());
    }
    if u.memory_swap.is_some() || u.memory.is_some() && merged.memory_swap.is_some() {
        // v2's swap.max is swap alone, docker's --memory-swap memory plus swap.
        let swap = match (merged.memory_swap, merged.memory) {
            (Some(-1), _) | (None, _) => None,
            (Some(s), Some(m)) => Some((s - m).max(0)),
            (Some(s), None) => Some(s),
        };
        w(dir, "memory.swap.max", max(swap));
    }
    if let Some(r) = u.memory_reservation {
        w(dir, "memory.low", r.to_string());
    }
    if let Some(n) = u.nano_cpus {
        let quota = (n > 0).then(|| n * 100_000 / 1_000_000_000);
        w(dir, "cpu.max", format!("{} 100000", max(quota)));
    }
    if let Some(s) = u.cpu_shares {
        let weight = 1 + (s.clamp(2, 262_144) - 2) * 9999 / 262_142;
        w(dir, "cpu.weight", weight.to_string());
    }
    if let Some(c) = &u.cpuset_cpus {
        w(dir, "cpuset.cpus", c.clone());
    }
    if let Some(m) = &u.cpuset_mems {
        w(dir, "cpuset.mems", m.clone());
    }
    if let Some(p) = u.pids_limit {
        w(dir, "pids.max", max(Some(p).filter(|p| *p > 0)));
    }
    if let Some(weight) = u.blkio_weight {
        let (file, value) = match dir.join("io.bfq.weight").exists() {
            true => ("io.bfq.weight", u64::from(weight)),
            false => (
                "io.weight",
                1 + (u64::from(weight).clamp(10, 1000) - 10) * 9999 / 990,
            ),
        };
        if !dir.join(file).exists() {
            return Err(LimitsError::NoBlkioWeight(dir.display().to_string()));
        }
        w(dir, file, value.to_string());
    }
    Ok(())
}

/// Writes the plan in order; stops at the first value the kernel refuses.
pub fn apply(writes: &[Write]) -> Result<(), LimitsError> {
    for w in writes {
        std::fs::write(&w.path, &w.value).map_err(|source| LimitsError::Write {
            hint: hint(&w.path, &source),
            path: w.path.clone(),
            value: w.value.clone(),
            source,
        })?;
    }
    Ok(())
}

/// What to try when the kernel refused a value.
fn hint(path: &Path, e: &std::io::Error) -> String {
    let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
    let online = |p: &str| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    match (file, e.raw_os_error()) {
        ("memory.limit_in_bytes" | "memory.max", Some(libc::EBUSY)) => {
            "; the container uses more memory than that now: give a higher limit, or free memory in it first".into()
        }
        ("memory.limit_in_bytes", Some(libc::EINVAL)) => {
            "; the limit may not exceed --memory-swap: raise --memory-swap with it".into()
        }
        ("cpuset.cpus", _) => format!("; this host's CPUs are {}", online("/sys/devices/system/cpu/online")),
        ("cpuset.mems", _) => format!(
            "; this host's memory nodes are {}",
            online("/sys/devices/system/node/online")
        ),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1() -> Dirs {
        let d = |c: &str, m: &str| (c.to_string(), PathBuf::from(format!("/cg/{m}/berth/x")));
        Dirs::V1(vec![
            d("memory", "memory"),
            d("cpu", "cpu,cpuacct"),
            d("cpuacct", "cpu,cpuacct"),
            d("cpuset", "cpuset"),
            d("pids", "pids"),
        ])
    }

    fn files(w: &[Write]) -> Vec<(String, String)> {
        w.iter()
            .map(|w| (w.path.display().to_string(), w.value.clone()))
            .collect()
    }

    #[test]
    fn v1_writes_only_what_changes() {
        let u = ResourceUpdate {
            memory: Some(64 << 20),
            cpuset_cpus: Some("0".into()),
            pids_limit: Some(-1),
            ..Default::default()
        };
        let got = files(&plan(&v1(), &u, &u.merged(&Resources::default()), i64::MAX).unwrap());
        assert_eq!(
            got,
            [
                ("/cg/memory/berth/x/memory.limit_in_bytes", "67108864"),
                ("/cg/cpuset/berth/x/cpuset.cpus", "0"),
                ("/cg/pids/berth/x/pids.max", "max"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
    }

    #[test]
    fn v1_memory_and_swap_in_the_order_the_kernel_accepts() {
        let u = ResourceUpdate {
            memory: Some(200),
            memory_swap: Some(400),
            ..Default::default()
        };
        let merged = u.merged(&Resources::default());
        let names = |cur| -> Vec<String> {
            plan(&v1(), &u, &merged, cur)
                .unwrap()
                .iter()
                .map(|w| w.path.file_name().unwrap().to_string_lossy().into())
                .collect()
        };
        assert_eq!(
            names(100),
            ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
        );
        assert_eq!(
            names(1000),
            ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
        );
    }

    #[test]
    fn v1_cpus_and_a_missing_controller() {
        let u = ResourceUpdate {
            nano_cpus: Some(1_500_000_000),
            cpu_shares: Some(512),
            ..Default::default()
        };
        let got = files(&plan(&v1(), &u, &Resources::default(), 0).unwrap());
        assert_eq!(got[1].1, "150000");
        assert_eq!(
            got[2],
            ("/cg/cpu,cpuacct/berth/x/cpu.shares".into(), "512".into())
        );
        let blkio = ResourceUpdate {
            blkio_weight: Some(300),
            ..Default::default()
        };
        let e = plan(&v1(), &blkio, &Resources::default(), 0).unwrap_err();
        assert!(e.to_string().contains("no blkio cgroup controller"), "{e}");
    }

    #[test]
    fn v2_converts_dockers_values() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = Dirs::V2(dir.path().into());
        let u = ResourceUpdate {
            memory: Some(100),
            memory_swap: Some(300),
            nano_cpus: Some(500_000_000),
            cpu_shares: Some(1024),
            pids_limit: Some(20),
            ..Default::default()
        };
        let got = files(&plan(&dirs, &u, &u.merged(&Resources::default()), 0).unwrap());
        let values: Vec<_> = got
            .iter()
            .map(|(p, v)| (p.rsplit('/').next().unwrap().to_string(), v.clone()))
            .collect();
        let want = [
            ("memory.max", "100"),
            ("memory.swap.max", "200"),
            ("cpu.max", "50000 100000"),
            ("cpu.weight", "39"),
            ("pids.max", "20"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()));
        assert_eq!(values, want);
        let none = ResourceUpdate {
            blkio_weight: Some(500),
            ..Default::default()
        };
        assert!(matches!(
            plan(&dirs, &none, &Resources::default(), 0),
            Err(LimitsError::NoBlkioWeight(_))
        ));
    }

    #[test]
    fn merging_keeps_what_is_not_updated() {
        let stored = Resources {
            memory: Some(1 << 30),
            pids_limit: Some(50),
            ..Default::default()
        };
        let u = ResourceUpdate {
            pids_limit: Some(0),
            cpuset_cpus: Some("1".into()),
            ..Default::default()
        };
        let m = u.merged(&stored);
        assert_eq!(m.memory, Some(1 << 30));
        assert_eq!(m.pids_limit, None, "0 is unlimited");
        assert_eq!(m.cpuset_cpus.as_deref(), Some("1"));
    }
}
