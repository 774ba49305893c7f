//! The host side of a container's `HostConfig` extras (`oci::hostconfig`): names of
//! containers whose namespaces it joins become ids at create, and when its bundle is
//! written the devices are looked up, the namespaces to join found in the running
//! containers, the extra groups looked up in the image, and the kernel asked whether
//! it can weigh block I/O.

use crate::model::Container;
use crate::oci::hostconfig::{HostConfig, HostConfigError, Resolved};
use crate::oci::namespaces::{NamespaceError, NamespaceMode};
use crate::oci::{devices, OciError};
use crate::{Engine, EngineError};
use std::path::{Path, PathBuf};

/// `--pid/--ipc container:NAME`: the name becomes the container's id, so a rename
/// or a new container of that name later does not change what is joined.
pub fn name_to_ids(engine: &Engine, hc: &mut HostConfig) -> Result<(), EngineError> {
    for mode in [&mut hc.pid, &mut hc.ipc] {
        if let NamespaceMode::Container(name) = mode {
            *name = engine.find(name)?.id;
        }
    }
    Ok(())
}

/// Everything `oci::hostconfig::apply` needs from the host for `c`.
pub fn resolve(engine: &Engine, c: &Container, rootfs: &Path) -> Result<Resolved, EngineError> {
    let hc = &c.spec.host_config;
    let oci = |e: HostConfigError| EngineError::Oci(OciError::HostConfig(e));
    let devices = hc
        .devices
        .iter()
        .map(|d| devices::resolve(d).map_err(|e| oci(e.into())))
        .collect::<Result<_, _>>()?;
    let mut joins = crate::oci::namespaces::Joins::default();
    for (what, mode, slot) in [
        ("PID", &hc.pid, &mut joins.pid),
        ("IPC", &hc.ipc, &mut joins.ipc),
    ] {
        if let NamespaceMode::Container(id) = mode {
            *slot = Some(namespace_of(engine, id, what).map_err(|e| oci(e.into()))?);
        }
    }
    let extra_gids = hc
        .group_add
        .iter()
        .map(|g| Ok(crate::users::resolve_user(rootfs, &format!("0:{g}"))?.gid))
        .collect::<Result<_, EngineError>>()?;
    if let Some(w) = hc.blkio_weight {
        if !host_weighs_block_io() {
            return Err(oci(HostConfigError::NoBlkioWeight(w)));
        }
    }
    Ok(Resolved {
        devices,
        joins,
        extra_gids,
    })
}

/// /proc/PID/ns/<kind> of a running container's init.
fn namespace_of(engine: &Engine, id: &str, what: &'static str) -> Result<PathBuf, NamespaceError> {
    let target = engine.find(id).ok();
    let name = target
        .as_ref()
        .map(|t| t.name.clone())
        .unwrap_or_else(|| id.into());
    let init = target
        .filter(|t| t.is_running())
        .and_then(|t| t.state.init)
        .filter(|i| i.is_alive())
        .ok_or(NamespaceError::NotRunning { what, name })?;
    let kind = what.to_ascii_lowercase();
    Ok(PathBuf::from(format!("/proc/{}/ns/{kind}", init.pid)))
}

/// Whether the kernel can weigh block I/O (CFQ's or BFQ's weight file) in the
/// hierarchy the runtime writes `--blkio-weight` to.
fn host_weighs_block_io() -> bool {
    let v1 = Path::new("/sys/fs/cgroup/blkio");
    if v1.is_dir() {
        return ["blkio.weight", "blkio.bfq.weight"]
            .iter()
            .any(|f| v1.join(f).exists());
    }
    std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
        .is_ok_and(|c| c.split_whitespace().any(|c| c == "io"))
}
