//! Docker-shaped JSON for containers and images (`inspect`, `ps --format`).

use crate::format::{human_duration, seconds_since};
use berth_engine::model::{Container, ContainerSpec, MountOrigin, NetworkMode, Status};
use berth_engine::Engine;
use berth_image::reference::familiar;
use berth_image::ImageRecord;
use serde_json::{json, Value};

/// `HostConfig.Mounts`: what `--mount` asked for, in the API's shape (a tmpfs from
/// `--mount` shows under `HostConfig.Tmpfs` with the `--tmpfs` ones).
fn host_config_mounts(s: &ContainerSpec) -> Value {
    let mounts: Vec<Value> = s
        .binds
        .iter()
        .filter(|b| b.origin == MountOrigin::Mount)
        .map(|b| {
            let mut m = json!({
                "Type": if b.volume { "volume" } else { "bind" },
                "Source": b.source, "Target": b.destination, "ReadOnly": b.read_only,
            });
            if let Some(p) = &b.propagation {
                m["BindOptions"] = json!({"Propagation": p});
            }
            if b.no_copy {
                m["VolumeOptions"] = json!({"NoCopy": true});
            }
            m
        })
        .collect();
    if mounts.is_empty() {
        Value::Null
    } else {
        json!(mounts)
    }
}

pub fn container_json(engine: &Engine, c: &Container) -> Value {
    let s = &c.spec;
    let st = &c.state;
    let zero = "0001-01-01T00:00:00Z";
    let mut mounts: Vec<Value> = s
        .binds
        .iter()
        .map(|b| {
            let source = if b.volume {
                berth_engine::volumes::get(&engine.paths, &b.source)
                    .map(|v| v.mountpoint(&engine.paths))
                    .unwrap_or_else(|_| engine.paths.volume_dir(&b.source).join("_data"))
                    .display()
                    .to_string()
            } else {
                b.source.clone()
            };
            let mut m = json!({
                "Type": if b.volume { "volume" } else { "bind" },
                "Source": source, "Destination": b.destination,
                "Mode": if b.read_only { "ro" } else { "" }, "RW": !b.read_only,
                "Propagation": if b.volume { "" } else { b.propagation.as_deref().unwrap_or("rprivate") },
            });
            if b.volume {
                m["Name"] = json!(b.source);
                m["Driver"] = json!("local");
            }
            m
        })
        .collect();
    // An image VOLUME that systemd mode covers with its own file system shows
    // as that file system, so the VOLUME is accounted for.
    mounts.extend(s.systemd_volumes.iter().map(|p| {
        let kind = if p.starts_with("/sys/fs/cgroup") {
            "cgroup"
        } else {
            "tmpfs"
        };
        json!({"Type": kind, "Source": "systemd mode", "Destination": p, "Mode": "", "RW": true})
    }));
    let tmpfs: serde_json::Map<String, Value> = s
        .tmpfs
        .iter()
        .map(|t| (t.destination.clone(), json!(t.options.join(","))))
        .collect();
    let ulimits: Vec<Value> = s
        .ulimits
        .iter()
        .map(|u| json!({"Name": u.name, "Soft": u.soft, "Hard": u.hard}))
        .collect();
    let state = state_name(c);
    let mut v = json!({
        "Id": c.id,
        "Created": c.created,
        "Path": s.args.first().cloned().unwrap_or_default(),
        "Args": s.args.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": state,
            "Running": st.status == Status::Running,
            "Paused": state == "paused",
            "Restarting": state == "restarting", "OOMKilled": false,
            "Dead": false,
            "Pid": st.init.map(|p| p.pid).unwrap_or(0),
            "ExitCode": st.exit_code.unwrap_or(0),
            "Error": st.error.clone().unwrap_or_default(),
            "StartedAt": st.started_at.clone().unwrap_or_else(|| zero.into()),
            "Boot": st.boot.map(|b| b.as_str()),
            "BootStatus": st.boot_status,
            "FinishedAt": st.finished_at.clone().unwrap_or_else(|| zero.into()),
            "Health": st.health,
        },
        "Image": c.image_id,
        "ResolvConfPath": engine.paths.container_dir(&c.id).join("resolv.conf"),
        "HostnamePath": engine.paths.container_dir(&c.id).join("hostname"),
        "HostsPath": engine.paths.container_dir(&c.id).join("hosts"),
        "LogPath": engine.paths.log_file(&c.id),
        "Name": format!("/{}", c.name),
        "RestartCount": st.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": {
            "Binds": s.binds.iter().filter(|b| !b.anonymous && b.origin == MountOrigin::Volume).map(|b| format!("{}:{}{}", b.source, b.destination, if b.read_only { ":ro" } else { "" })).collect::<Vec<_>>(),
            "Mounts": host_config_mounts(s),
            "VolumesFrom": if s.volumes_from.is_empty() { Value::Null } else { json!(s.volumes_from) },
            "NetworkMode": s.network.name(),
            "AutoRemove": s.auto_remove,
            "RestartPolicy": {"Name": s.restart.name.as_str(), "MaximumRetryCount": s.restart.max_retries},
            "Init": s.init.is_some(),
            "Privileged": s.privileged,
            "ReadonlyRootfs": s.read_only,
            "CapAdd": s.cap_add, "CapDrop": s.cap_drop,
            "SecurityOpt": security_opt(s),
            "Tmpfs": tmpfs,
            "Ulimits": ulimits,
            "Memory": s.resources.memory.unwrap_or(0),
            "NanoCpus": s.resources.nano_cpus.unwrap_or(0),
            "PidsLimit": s.resources.pids_limit,
            "MemorySwap": s.resources.memory_swap.unwrap_or(0), "MemoryReservation": s.resources.memory_reservation.unwrap_or(0), "CpuShares": s.resources.cpu_shares.unwrap_or(0), "CpusetCpus": s.resources.cpuset_cpus.clone().unwrap_or_default(), "CpusetMems": s.resources.cpuset_mems.clone().unwrap_or_default(), "BlkioWeight": s.resources.blkio_weight.unwrap_or(0),
            "Runtime": if s.runtime.is_empty() { "libcontainer" } else { s.runtime.as_str() },
        },
        "Mounts": mounts,
        "NetworkSettings": network_settings(c),
        "Config": {
            "Hostname": s.hostname,
            "Domainname": s.domainname,
            "User": s.user,
            "AttachStdin": false,
            "Tty": s.tty,
            "OpenStdin": s.open_stdin,
            "Env": s.env,
            "Cmd": s.cmd,
            "Entrypoint": if s.entrypoint.is_empty() { Value::Null } else { json!(s.entrypoint) },
            "Image": s.image,
            "WorkingDir": s.workdir,
            "Labels": s.labels,
            "StopSignal": s.stop_signal,
            "StopTimeout": s.stop_timeout,
            "Systemd": s.systemd,
            "Healthcheck": s.healthcheck,
        },
    });
    crate::runflags::inspect::extend(&mut v, s);
    v
}

/// `HostConfig.SecurityOpt` as docker shows it: a custom seccomp profile by its
/// text, as it was read at create.
fn security_opt(s: &berth_engine::model::ContainerSpec) -> Vec<String> {
    use berth_engine::model::SeccompProfile;
    let mut opts = Vec::new();
    if s.no_new_privileges {
        opts.push("no-new-privileges".to_string());
    }
    match &s.seccomp {
        SeccompProfile::Default => {}
        SeccompProfile::Unconfined => opts.push("seccomp=unconfined".into()),
        SeccompProfile::Custom(text) => opts.push(format!("seccomp={text}")),
    }
    opts
}

fn network_settings(c: &Container) -> Value {
    let Some(n) = &c.state.network else {
        // Not running: the networks it will join, without addresses, as docker shows.
        let configured: serde_json::Map<String, Value> = match &c.spec.network {
            NetworkMode::Network(primary) => std::iter::once(primary)
                .chain(c.spec.connected.iter().map(|j| &j.name))
                .map(|name| {
                    (
                        name.clone(),
                        json!({"IPAddress": "", "Gateway": "", "IPPrefixLen": 0}),
                    )
                })
                .collect(),
            _ => serde_json::Map::new(),
        };
        return json!({"IPAddress": "", "Gateway": "", "Ports": {}, "Networks": configured});
    };
    let mut ports = serde_json::Map::new();
    for p in &n.ports {
        let ip = p
            .host_ip
            .map(|i| i.to_string())
            .unwrap_or_else(|| "0.0.0.0".into());
        ports.insert(
            format!("{}/{}", p.container_port, p.proto.as_str()),
            json!([{"HostIp": ip, "HostPort": p.host_port.to_string()}]),
        );
    }
    let networks: serde_json::Map<String, Value> = c
        .state
        .attachments()
        .map(|a| {
            let entry = json!({"IPAddress": a.ip.to_string(), "Gateway": a.gateway.to_string(), "IPPrefixLen": a.prefix, "Interface": a.interface});
            (a.network.clone(), entry)
        })
        .collect();
    json!({
        "IPAddress": n.ip.to_string(), "IPPrefixLen": n.prefix, "Gateway": n.gateway.to_string(),
        "MacAddress": n.mac.clone().unwrap_or_default(), "Ports": ports,
        "Networks": networks,
    })
}

/// docker's name for the container's state: `restarting` while its monitor waits
/// to start it again, `paused` while frozen, else the recorded status. Worked out
/// once per container (the paused check reads its cgroup's freezer) and shared by
/// `ps`'s State and Status and `inspect`'s State, so they cannot disagree.
pub fn state_name(c: &Container) -> &'static str {
    if berth_engine::lifecycle::restart_pending(c) {
        "restarting"
    } else {
        berth_engine::usecase::status_name(c)
    }
}

/// `ps`'s Status column; `state` is [`state_name`]'s.
fn status_text(c: &Container, state: &str) -> String {
    match c.state.status {
        Status::Running => {
            let since = c.state.started_at.as_deref().unwrap_or("");
            let up = format!("Up {}", human_duration(seconds_since(since)));
            let up = match &c.state.health {
                _ if state == "paused" => format!("{up} (Paused)"),
                Some(h) if h.status == berth_engine::health::HealthStatus::Starting => {
                    format!("{up} (health: starting)")
                }
                Some(h) => format!("{up} ({})", h.status.as_str()),
                None => up,
            };
            match c.state.boot {
                Some(b) => format!("{up} ({})", b.as_str()),
                None => up,
            }
        }
        Status::Exited if state == "restarting" => format!(
            "Restarting ({}) {} ago",
            c.state.exit_code.unwrap_or(0),
            human_duration(seconds_since(c.state.finished_at.as_deref().unwrap_or("")))
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            c.state.exit_code.unwrap_or(0),
            human_duration(seconds_since(c.state.finished_at.as_deref().unwrap_or("")))
        ),
        Status::Created => "Created".into(),
        Status::Removing => "Removal In Progress".into(),
    }
}

/// The row `ps` prints and `ps --format` sees.
pub fn ps_row(c: &Container, no_trunc: bool) -> Value {
    let mut command = c.spec.args.join(" ");
    if !no_trunc && command.chars().count() > 20 {
        command = format!("{}…", command.chars().take(19).collect::<String>());
    }
    let labels: Vec<String> = c
        .spec
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let state = state_name(c);
    json!({
        "ID": if no_trunc { c.id.clone() } else { c.id[..12].to_string() },
        "Image": c.spec.image,
        "Command": format!("\"{command}\""),
        "CreatedAt": c.created,
        "RunningFor": format!("{} ago", human_duration(seconds_since(&c.created))),
        "Status": status_text(c, state),
        "State": state,
        "Ports": c.state.network.as_ref().map(|n| n.ports.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")).unwrap_or_default(),
        "Names": c.name,
        "Labels": labels.join(","),
        "Mounts": c.spec.binds.iter().map(|b| b.destination.clone()).collect::<Vec<_>>().join(","),
    })
}

pub fn image_json(engine: &Engine, rec: &ImageRecord) -> anyhow::Result<Value> {
    let config = engine.images.config(&rec.id)?;
    let mut v = serde_json::to_value(&config)?;
    // The config as stored, not as the OCI type reads it: that type drops
    // docker's Healthcheck, OnBuild and the rest of what docker shows.
    let raw: Value = serde_json::from_slice(&engine.images.blobs.read(&rec.id)?)?;
    let inner = raw.get("config").cloned().unwrap_or(Value::Null);
    let rootfs = v.get("rootfs").cloned().unwrap_or(Value::Null);
    // docker shows the last history entry's comment (a commit's -m) as the image's.
    let comment = config
        .history()
        .as_ref()
        .and_then(|h| h.last())
        .and_then(|h| h.comment().clone())
        .unwrap_or_default();
    let repo_digests: Vec<String> = rec
        .tags
        .iter()
        .filter_map(|t| berth_image::Reference::parse(t).ok())
        .map(|r| format!("{}@{}", r.name(), rec.manifest))
        .collect();
    v = json!({
        "Id": rec.id,
        "RepoTags": rec.tags.iter().map(|t| familiar(t)).collect::<Vec<_>>(),
        "RepoDigests": repo_digests,
        "Created": rec.created,
        "Author": config.author().clone().unwrap_or_default(),
        "Comment": comment,
        "Config": docker_config(&inner),
        "Architecture": v.get("architecture").cloned().unwrap_or(json!("amd64")),
        "Os": v.get("os").cloned().unwrap_or(json!("linux")),
        "Size": rec.size,
        "RootFS": { "Type": "layers", "Layers": rootfs.get("diff_ids").cloned().unwrap_or(json!([])) },
        "Metadata": { "ManifestDigest": rec.manifest },
    });
    Ok(v)
}

/// OCI config keys are already docker's (`Cmd`, `Env`, …) except ExposedPorts and
/// Volumes, which docker shows as objects.
fn docker_config(oci: &Value) -> Value {
    let mut c = oci.clone();
    for key in ["ExposedPorts", "Volumes"] {
        if let Some(Value::Array(items)) = c.get(key).cloned() {
            let obj: serde_json::Map<String, Value> = items
                .iter()
                .filter_map(|i| i.as_str())
                .map(|i| (i.to_string(), json!({})))
                .collect();
            c[key] = Value::Object(obj);
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_engine::model::{ContainerSpec, ContainerState, ProcessId};

    /// A container that exited and whose (live) monitor is waiting to start it
    /// again, as `--restart` leaves it between tries.
    fn waiting_to_restart() -> Container {
        Container {
            id: "0123456789abcdef".into(),
            name: "loop".into(),
            image_id: String::new(),
            created: "2026-01-01T00:00:00Z".into(),
            spec: ContainerSpec::default(),
            state: ContainerState {
                status: Status::Exited,
                exit_code: Some(1),
                restart_pending: true,
                monitor: ProcessId::of(std::process::id() as i32),
                ..Default::default()
            },
        }
    }

    #[test]
    fn ps_state_of_a_restarting_container_is_restarting() {
        let row = ps_row(&waiting_to_restart(), false);
        assert!(
            row["Status"]
                .as_str()
                .unwrap()
                .starts_with("Restarting (1)"),
            "{row}"
        );
        assert_eq!(row["State"], "restarting", "{row}");
    }
}
