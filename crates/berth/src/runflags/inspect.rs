//! The `HostConfig` extras in `inspect`, under docker's names.

use berth_engine::logs::LogDriver;
use berth_engine::model::ContainerSpec;
use serde_json::{json, Map, Value};

/// Adds the extras to a container's inspect object.
pub fn extend(v: &mut Value, s: &ContainerSpec) {
    let h = &s.host_config;
    let devices: Vec<Value> = h
        .devices
        .iter()
        .map(|d| json!({"PathOnHost": d.host, "PathInContainer": d.container, "CgroupPermissions": d.permissions}))
        .collect();
    let rules: Vec<String> = h
        .device_cgroup_rules
        .iter()
        .map(|r| {
            let n = |x: Option<i64>| x.map(|x| x.to_string()).unwrap_or_else(|| "*".into());
            format!("{} {}:{} {}", r.kind, n(r.major), n(r.minor), r.access)
        })
        .collect();
    let mut log_opts: Map<String, Value> = h
        .log
        .opts
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    if h.log.driver == LogDriver::JsonFile {
        // The cap berth applies by default, shown as if it had been asked for.
        if let Some(size) = h.log.max_size {
            log_opts
                .entry("max-size")
                .or_insert(json!(size.to_string()));
        }
        log_opts
            .entry("max-file")
            .or_insert(json!(h.log.max_file.to_string()));
    }
    let extra = json!({
        "Devices": devices,
        "DeviceCgroupRules": rules,
        "GroupAdd": h.group_add,
        "ShmSize": h.shm_size.unwrap_or(64 << 20),
        "Sysctls": h.sysctls,
        "PidMode": h.pid.name(),
        "IpcMode": if h.ipc.is_private() { "private".into() } else { h.ipc.name() },
        "UTSMode": h.uts.name(),
        "CgroupnsMode": match h.cgroupns {
            Some(berth_engine::oci::namespaces::CgroupnsMode::Host) => "host",
            Some(_) => "private",
            None if s.systemd => "private",
            None => "host",
        },
        "CgroupParent": "",
        "OomScoreAdj": h.oom_score_adj.unwrap_or(0),
        "OomKillDisable": h.oom_kill_disable,
        "Annotations": h.annotations,
        "LogConfig": {"Type": h.log.driver.as_str(), "Config": log_opts},
    });
    if let (Some(hc), Some(extra)) = (v["HostConfig"].as_object_mut(), extra.as_object()) {
        hc.extend(extra.clone());
    }
    let exposed: Map<String, Value> = h.expose.iter().map(|p| (p.clone(), json!({}))).collect();
    if !exposed.is_empty() {
        v["Config"]["ExposedPorts"] = Value::Object(exposed);
    }
    if let Some(p) = &h.platform {
        v["Platform"] = json!(p.split('/').next().unwrap_or("linux"));
    }
    if let Some(nets) = v["NetworkSettings"]["Networks"].as_object_mut() {
        if let Some(primary) = nets.get_mut(&s.network.name()) {
            primary["Aliases"] = json!(h.network_aliases);
        }
    }
}
