//! `update`: new resource limits for a container. A running one gets them in its
//! cgroups at once (`limits`); the stored spec gets them too, so the next start
//! (and every restart) keeps them, and a stopped container only gets those.

use super::exclusive;
use crate::cgroups::CgroupLayout;
use crate::limits::{self, Dirs, ResourceUpdate};
use crate::model::{Container, Resources};
use crate::restart::{PolicyName, RestartPolicy};
use crate::{events, store, Engine, EngineError};

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("nothing to update: give --restart or at least one of --cpus, --cpu-shares, --cpuset-cpus, --cpuset-mems, --memory, --memory-swap, --memory-reservation, --pids-limit, --blkio-weight")]
    Nothing,
    #[error(transparent)]
    Memory(#[from] limits::MemoryLimitsError),
    #[error("--blkio-weight {0} is out of range: give 10 to 1000 (0 to leave it unset)")]
    BlkioWeight(u16),
    #[error("--{flag} {value:?} is not a list of numbers and ranges such as 0-2,4")]
    CpuSet { flag: &'static str, value: String },
    #[error("the restart policy of {0} cannot be changed: it is removed when it exits (--rm)")]
    RestartWithAutoRemove(String),
    #[error(transparent)]
    Limits(#[from] limits::LimitsError),
}

fn check(u: &ResourceUpdate, merged: &Resources) -> Result<(), UpdateError> {
    if let Some(w) = u.blkio_weight.filter(|w| !(10..=1000).contains(w)) {
        return Err(UpdateError::BlkioWeight(w));
    }
    for (flag, value) in [
        ("cpuset-cpus", &u.cpuset_cpus),
        ("cpuset-mems", &u.cpuset_mems),
    ] {
        if let Some(v) = value.as_ref().filter(|v| !is_cpu_list(v)) {
            let value = v.clone();
            return Err(UpdateError::CpuSet { flag, value });
        }
    }
    limits::check_memory(merged)?;
    Ok(())
}

/// `0-2,4`: what cpuset.cpus and cpuset.mems take.
fn is_cpu_list(s: &str) -> bool {
    let number = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    s.split(',').all(|part| match part.split_once('-') {
        Some((a, b)) => number(a) && number(b),
        None => number(part),
    })
}

/// New limits (`u`) and, when given, a new restart policy, which the monitor reads
/// when the container next exits.
pub fn update(
    engine: &Engine,
    c: &Container,
    u: &ResourceUpdate,
    restart: Option<RestartPolicy>,
) -> Result<(), EngineError> {
    let refuse = |e: UpdateError| EngineError::from(super::UseCaseError::from(e));
    if u.is_empty() && restart.is_none() {
        return Err(refuse(UpdateError::Nothing));
    }
    exclusive(engine, c, |c, _| {
        if restart.is_some_and(|r| r.name != PolicyName::No) && c.spec.auto_remove {
            return Err(refuse(UpdateError::RestartWithAutoRemove(c.name.clone())));
        }
        let merged = u.merged(&c.spec.resources);
        check(u, &merged).map_err(super::UseCaseError::from)?;
        if c.is_running() && !u.is_empty() {
            let dirs = Dirs::of(&CgroupLayout::from_host(), &c.id);
            let current = current_memory_limit(&dirs);
            let writes = limits::plan(&dirs, u, &merged, current).map_err(UpdateError::from);
            limits::apply(&writes.map_err(super::UseCaseError::from)?)
                .map_err(|e| super::UseCaseError::from(UpdateError::from(e)))?;
        }
        store::update_spec(engine.conn(), &c.id, |spec| {
            spec.resources = merged;
            if let Some(policy) = restart {
                spec.restart = policy;
            }
        })?;
        events::container(&engine.paths.root, c, "update", &[]);
        Ok(())
    })
}

/// cgroup v1: the memory limit in force (unlimited when unreadable).
fn current_memory_limit(dirs: &Dirs) -> i64 {
    let Dirs::V1(dirs) = dirs else {
        return i64::MAX;
    };
    dirs.iter()
        .find(|(c, _)| c == "memory")
        .and_then(|(_, d)| std::fs::read_to_string(d.join("memory.limit_in_bytes")).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(u: ResourceUpdate, stored: Resources) -> String {
        check(&u, &u.merged(&stored)).unwrap_err().to_string()
    }

    #[test]
    fn refuses_what_docker_refuses() {
        let swap = ResourceUpdate {
            memory_swap: Some(100 << 20),
            ..Default::default()
        };
        assert!(err(swap.clone(), Resources::default()).contains("needs --memory"));
        let stored = Resources {
            memory: Some(200 << 20),
            ..Default::default()
        };
        assert!(err(swap, stored.clone()).contains("is below --memory"));
        let lower = ResourceUpdate {
            memory: Some(300 << 20),
            ..Default::default()
        };
        let with_swap = Resources {
            memory_swap: Some(250 << 20),
            ..stored.clone()
        };
        assert!(err(lower, with_swap).contains("is below --memory"));
        let weight = ResourceUpdate {
            blkio_weight: Some(5),
            ..Default::default()
        };
        assert!(err(weight, Resources::default()).contains("10 to 1000"));
        let cpus = ResourceUpdate {
            cpuset_cpus: Some("0;1".into()),
            ..Default::default()
        };
        assert!(err(cpus, Resources::default()).contains("--cpuset-cpus"));
        let reservation = ResourceUpdate {
            memory_reservation: Some(300 << 20),
            ..Default::default()
        };
        assert!(err(reservation, stored).contains("reservation"));
    }

    #[test]
    fn cpu_lists() {
        for ok in ["0", "0-1", "0,2-3"] {
            assert!(is_cpu_list(ok), "{ok}");
        }
        for bad in ["", "a", "0-", "0,,1", "-1"] {
            assert!(!is_cpu_list(bad), "{bad}");
        }
    }
}
