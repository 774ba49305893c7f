//! The `run`/`create` settings that docker keeps in `HostConfig` beside the basics:
//! devices, sysctls, shared namespaces, extra cgroup limits, OOM settings, extra
//! groups, the size of /dev/shm, log settings and the container's metadata
//! (exposed ports, network aliases, annotations). One typed record, stored with the
//! container spec, and its mapping onto the OCI config.

use super::devices::{self, DeviceMapping, DeviceRule, ResolvedDevice};
use super::namespaces::{self, CgroupnsMode, Joins, NamespaceMode};
use super::sysctls;
use crate::logs::LogConfig;
use crate::model::NetworkMode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum HostConfigError {
    #[error(transparent)]
    Device(#[from] devices::DeviceError),
    #[error(transparent)]
    Sysctl(#[from] sysctls::SysctlError),
    #[error(transparent)]
    Namespace(#[from] namespaces::NamespaceError),
    #[error(transparent)]
    Memory(#[from] crate::limits::MemoryLimitsError),
    #[error("--blkio-weight {0}: this host's kernel has no block I/O weight (no blkio.weight or blkio.bfq.weight, io.weight or io.bfq.weight in the container's cgroup); drop the flag")]
    NoBlkioWeight(u16),
    #[error("conflicting options: --shm-size and --ipc host (the container gets the host's /dev/shm, whose size is the host's); drop --shm-size, or drop --ipc host")]
    ShmSizeWithHostIpc,
    #[error("--oom-kill-disable: {0}")]
    OomKillDisable(&'static str),
    #[error("--oom-score-adj {adj}: lowering it below berth's own ({own}) needs CAP_SYS_RESOURCE, which berth does not have on this host; give {own} or more")]
    OomScoreBelowOwn { adj: i32, own: i32 },
}

/// docker's `HostConfig` extras (and a few `Config` fields: exposed ports,
/// domain name). All optional: an old container's spec loads with the defaults.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct HostConfig {
    pub devices: Vec<DeviceMapping>,
    pub device_cgroup_rules: Vec<DeviceRule>,
    /// `--group-add`: group names (looked up in the image's /etc/group) or gids.
    pub group_add: Vec<String>,
    /// Bytes of /dev/shm (docker's default 64 MiB when absent).
    pub shm_size: Option<u64>,
    pub sysctls: BTreeMap<String, String>,
    pub pid: NamespaceMode,
    pub ipc: NamespaceMode,
    pub uts: NamespaceMode,
    /// Absent: a private one in systemd mode, the host's otherwise (docker on v1).
    pub cgroupns: Option<CgroupnsMode>,
    pub oom_score_adj: Option<i32>,
    pub oom_kill_disable: bool,
    /// `--expose`: `PORT[/PROTO]`, added to the image's exposed ports.
    pub expose: Vec<String>,
    pub domainname: Option<String>,
    /// `--network-alias`: stored and shown in `inspect`.
    pub network_aliases: Vec<String>,
    pub annotations: BTreeMap<String, String>,
    pub log: LogConfig,
    /// `--platform` as given (only the host's is accepted).
    pub platform: Option<String>,
}

impl HostConfig {
    /// Checks what depends on the rest of the spec: sysctls against the network and
    /// IPC namespaces, a `-h` against the UTS namespace, `--shm-size` against the
    /// IPC one, systemd mode's needs, the memory limits against each other.
    pub fn check(
        &self,
        systemd: bool,
        network: &NetworkMode,
        hostname: Option<&str>,
        resources: &crate::model::Resources,
    ) -> Result<(), HostConfigError> {
        for key in self.sysctls.keys() {
            sysctls::check(key, network, &self.ipc)?;
        }
        namespaces::check_uts(&self.uts, hostname, self.domainname.as_deref())?;
        if self.shm_size.is_some() && self.ipc == NamespaceMode::Host {
            return Err(HostConfigError::ShmSizeWithHostIpc);
        }
        if systemd {
            namespaces::check_systemd(&self.pid, self.cgroupns)?;
        }
        crate::limits::check_memory(resources)?;
        Ok(())
    }

    /// The cgroup limit these settings add to `linux.resources` (the other limits
    /// are the spec's `Resources`, which `update` changes too).
    pub fn add_limits(&self, r: &mut Value) {
        if self.oom_kill_disable {
            if !r["memory"].is_object() {
                r["memory"] = json!({});
            }
            r["memory"]["disableOOMKiller"] = json!(true);
        }
    }
}

/// What the host side resolved for these settings when the bundle is written.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    pub devices: Vec<ResolvedDevice>,
    pub joins: Joins,
    /// `--group-add` as gids.
    pub extra_gids: Vec<u32>,
    /// `--ipc host`: the host's /dev/shm, shared with its IPC namespace.
    pub shm_source: Option<std::path::PathBuf>,
}

/// Writes the settings into an OCI config built for the rest of the spec.
pub fn apply(config: &mut Value, hc: &HostConfig, resolved: &Resolved) {
    let linux = &mut config["linux"];
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        let own: Vec<Value> =
            namespaces::entries([&hc.pid, &hc.ipc, &hc.uts], hc.cgroupns, &resolved.joins);
        ns.retain(|n| !matches!(n["type"].as_str(), Some("pid" | "ipc" | "uts")));
        if hc.cgroupns == Some(CgroupnsMode::Host) {
            ns.retain(|n| n["type"] != "cgroup");
        }
        let had_cgroup = ns.iter().any(|n| n["type"] == "cgroup");
        ns.extend(
            own.into_iter()
                .filter(|n| !(had_cgroup && n["type"] == "cgroup")),
        );
    }
    if !hc.sysctls.is_empty() {
        linux["sysctl"] = json!(hc.sysctls);
    }
    if !resolved.devices.is_empty() {
        let nodes = linux["devices"].as_array().cloned().unwrap_or_default();
        let mut nodes: Vec<Value> = nodes
            .into_iter()
            .filter(|n| !resolved.devices.iter().any(|d| d.node["path"] == n["path"]))
            .collect();
        nodes.extend(resolved.devices.iter().map(|d| d.node.clone()));
        linux["devices"] = json!(nodes);
    }
    if let Some(rules) = linux["resources"]["devices"].as_array_mut() {
        rules.extend(resolved.devices.iter().map(|d| d.rule.clone()));
        rules.extend(hc.device_cgroup_rules.iter().map(devices::rule_json));
    }
    if let Some(adj) = hc.oom_score_adj {
        config["process"]["oomScoreAdj"] = json!(adj);
    }
    if let Some(gids) = config["process"]["user"]["additionalGids"].as_array_mut() {
        for g in &resolved.extra_gids {
            if !gids.contains(&json!(g)) {
                gids.push(json!(g));
            }
        }
    }
    if let Some(source) = &resolved.shm_source {
        share_shm(config, source);
    } else if let Some(size) = hc.shm_size {
        set_shm_size(config, size);
    }
    if hc.uts == NamespaceMode::Host {
        // No UTS namespace: the runtime must not set a host name (it would be the
        // host's); the container sees the host's names.
        if let Some(o) = config.as_object_mut() {
            o.remove("hostname");
            o.remove("domainname");
        }
    } else if let Some(d) = hc.domainname.as_deref().filter(|d| !d.is_empty()) {
        config["domainname"] = json!(d);
    }
    if !hc.annotations.is_empty() {
        config["annotations"] = json!(hc.annotations);
    }
}

/// The host's IPC namespace comes with its POSIX shared memory, as docker does:
/// /dev/shm becomes a bind of the host's.
fn share_shm(config: &mut Value, source: &std::path::Path) {
    let Some(mounts) = config["mounts"].as_array_mut() else {
        return;
    };
    for m in mounts.iter_mut().filter(|m| m["destination"] == "/dev/shm") {
        *m = json!({"destination": "/dev/shm", "type": "bind", "source": source, "options": ["rbind", "rprivate", "nosuid", "nodev", "noexec"]});
    }
}

fn set_shm_size(config: &mut Value, size: u64) {
    let Some(mounts) = config["mounts"].as_array_mut() else {
        return;
    };
    for m in mounts
        .iter_mut()
        .filter(|m| m["destination"] == "/dev/shm" && m["type"] == "tmpfs")
    {
        if let Some(opts) = m["options"].as_array_mut() {
            opts.retain(|o| !o.as_str().is_some_and(|o| o.starts_with("size=")));
            opts.push(json!(format!("size={size}")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        json!({
            "hostname": "h",
            "process": {"user": {"uid": 0, "gid": 0, "additionalGids": [10]}},
            "mounts": [{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "size=65536k"]}],
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}],
                "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            },
        })
    }

    #[test]
    fn settings_land_in_the_config() {
        let mut c = base();
        let hc = HostConfig {
            shm_size: Some(128 << 20),
            sysctls: [("net.ipv4.ip_forward".to_string(), "1".to_string())].into(),
            uts: NamespaceMode::Host,
            pid: NamespaceMode::Container("x".into()),
            cgroupns: Some(CgroupnsMode::Private),
            oom_score_adj: Some(500),
            device_cgroup_rules: vec![devices::parse_rule("c 10:200 rwm").unwrap()],
            ..Default::default()
        };
        let resolved = Resolved {
            joins: Joins {
                pid: Some("/proc/9/ns/pid".into()),
                ..Default::default()
            },
            extra_gids: vec![10, 27],
            ..Default::default()
        };
        apply(&mut c, &hc, &resolved);
        assert_eq!(
            c["mounts"][0]["options"],
            json!(["nosuid", "size=134217728"])
        );
        assert_eq!(c["linux"]["sysctl"]["net.ipv4.ip_forward"], "1");
        assert_eq!(
            c["linux"]["namespaces"],
            json!([{"type": "mount"}, {"type": "network"}, {"type": "pid", "path": "/proc/9/ns/pid"}, {"type": "ipc"}, {"type": "cgroup"}])
        );
        assert!(
            c.get("hostname").is_none(),
            "no hostname without a UTS namespace"
        );
        assert_eq!(c["process"]["oomScoreAdj"], 500);
        assert_eq!(c["process"]["user"]["additionalGids"], json!([10, 27]));
        assert_eq!(c["linux"]["resources"]["devices"][1]["major"], 10);
    }

    #[test]
    fn host_ipc_binds_the_hosts_shm() {
        let mut c = base();
        let hc = HostConfig {
            ipc: NamespaceMode::Host,
            shm_size: Some(1 << 20),
            ..Default::default()
        };
        let resolved = Resolved {
            shm_source: Some("/dev/shm".into()),
            ..Default::default()
        };
        apply(&mut c, &hc, &resolved);
        assert_eq!(c["mounts"][0]["type"], "bind");
        assert_eq!(c["mounts"][0]["source"], "/dev/shm");
        assert!(!c["linux"]["namespaces"].to_string().contains("ipc"));
    }

    #[test]
    fn limits_and_their_checks() {
        use crate::limits::MemoryLimitsError;
        let hc = HostConfig {
            oom_kill_disable: true,
            ..Default::default()
        };
        let mut r = json!({"memory": {"limit": 1 << 29}});
        hc.add_limits(&mut r);
        assert_eq!(r["memory"]["limit"], 1 << 29);
        assert_eq!(r["memory"]["disableOOMKiller"], true);
        let net = NetworkMode::None;
        let res = |memory: Option<i64>| crate::model::Resources {
            memory,
            memory_swap: Some(1 << 30),
            memory_reservation: Some(1 << 20),
            ..Default::default()
        };
        assert!(hc.check(false, &net, None, &res(Some(1 << 29))).is_ok());
        assert!(matches!(
            hc.check(false, &net, None, &res(None)),
            Err(HostConfigError::Memory(
                MemoryLimitsError::SwapWithoutMemory
            ))
        ));
        assert!(matches!(
            hc.check(false, &net, None, &res(Some(1 << 31))),
            Err(HostConfigError::Memory(
                MemoryLimitsError::SwapBelowMemory { .. }
            ))
        ));
        let pid_host = HostConfig {
            pid: NamespaceMode::Host,
            ..Default::default()
        };
        assert!(pid_host
            .check(false, &net, None, &res(Some(1 << 30)))
            .is_ok());
        assert!(pid_host
            .check(true, &net, None, &res(Some(1 << 30)))
            .is_err());
    }
}
