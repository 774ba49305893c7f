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
    let extra_gids = extra_gids(rootfs, hc)?;
    // `--ipc host` shares the host's /dev/shm too, as docker does. With
    // `container:X` only the IPC namespace is shared (SysV IPC, POSIX message
    // queues): X's /dev/shm is a mount inside X's mount namespace, which cannot be
    // bound from here (docker keeps it on the host to share it).
    let shm_source = (hc.ipc == NamespaceMode::Host).then(|| PathBuf::from("/dev/shm"));
    Ok(Resolved {
        devices,
        joins,
        extra_gids,
        shm_source,
    })
}

/// What the kernel and runtime here can honour, checked at create: a device's
/// permissions, a block I/O weight, an OOM score adjustment below berth's own (which needs
/// CAP_SYS_RESOURCE), and disabling the OOM killer (cgroup v1 only, and
/// libcontainer 0.7 never writes it: it hard-codes `disable_oom_killer: false`).
pub fn check_host(spec: &crate::model::ContainerSpec) -> Result<(), EngineError> {
    let hc = &spec.host_config;
    let refuse = |e| Err(EngineError::Oci(OciError::HostConfig(e)));
    if hc.oom_kill_disable {
        let v1 = Path::new("/sys/fs/cgroup/memory/memory.oom_control").exists();
        if !v1 {
            return refuse(HostConfigError::OomKillDisable(
                "cgroup v2 has no switch to turn the OOM killer off",
            ));
        }
        if spec.runtime.is_empty() {
            return refuse(HostConfigError::OomKillDisable(
                "berth's built-in runtime (libcontainer) does not apply it; run with --runtime runc",
            ));
        }
    }
    // The device cgroup holds a --device to its permissions: v1's devices
    // controller (any runtime), or on v2 an eBPF filter only an OCI runtime binary
    // attaches (berth builds libcontainer without it).
    let devices_v1 = Path::new("/sys/fs/cgroup/devices/devices.allow").exists();
    devices::check_enforced(&hc.devices, devices_v1 || !spec.runtime.is_empty())
        .map_err(|e| EngineError::Oci(OciError::HostConfig(e.into())))?;
    if let Some(w) = spec.resources.blkio_weight {
        if !host_weighs_block_io() {
            return refuse(HostConfigError::NoBlkioWeight(w));
        }
    }
    if let Some(adj) = hc.oom_score_adj {
        let own: i32 = std::fs::read_to_string("/proc/self/oom_score_adj")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        if adj < own && !has_sys_resource() {
            return refuse(HostConfigError::OomScoreBelowOwn { adj, own });
        }
    }
    Ok(())
}

/// Whether this process holds CAP_SYS_RESOURCE (bit 24 of CapEff).
fn has_sys_resource() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 24) != 0)
}

/// `--group-add` as gids, names looked up in the image's /etc/group.
fn extra_gids(rootfs: &Path, hc: &HostConfig) -> Result<Vec<u32>, EngineError> {
    Ok(crate::users::resolve_groups(rootfs, &hc.group_add)?)
}

/// Adds the `--group-add` groups to a process's user (`exec`, as docker's exec
/// gets them too).
pub fn add_groups(
    rootfs: &Path,
    hc: &HostConfig,
    user: &mut crate::users::ResolvedUser,
) -> Result<(), EngineError> {
    for g in extra_gids(rootfs, hc)? {
        if !user.additional_gids.contains(&g) {
            user.additional_gids.push(g);
        }
    }
    Ok(())
}

/// A peer's names in /etc/hosts on `network`: its name, and its `--network-alias`
/// names on the network they were given for (its primary one), as docker scopes
/// them. berth has no DNS server: peers find each other through /etc/hosts.
pub fn names_on(peer: &Container, network: &str) -> String {
    let mut names = vec![peer.name.clone()];
    if peer.spec.network.name() == network {
        names.extend(peer.spec.host_config.network_aliases.iter().cloned());
    }
    names.join(" ")
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
