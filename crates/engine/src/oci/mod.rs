//! User intent (`ContainerSpec`) → OCI runtime config.json. Pure functions over the
//! spec plus a few host facts, so the whole mapping is unit-tested without root.

pub mod devices;
pub mod hostconfig;
pub mod mount_flag;
pub mod mounts;
pub mod namespaces;
pub mod seccomp;
pub mod security;
pub mod sysctls;
pub mod systemd;

use crate::model::{ContainerSpec, NetworkMode, Ulimit};
use crate::users::ResolvedUser;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error(transparent)]
    Security(#[from] security::SecurityError),
    #[error("--security-opt seccomp: {0}")]
    Seccomp(#[from] seccomp::SeccompError),
    #[error("--ulimit {name}={soft}:{hard}: the hard limit is above this host's ({host}); berth cannot raise it (no CAP_SYS_RESOURCE). Use at most {host}")]
    UlimitAboveHost {
        name: String,
        soft: u64,
        hard: u64,
        host: u64,
    },
    #[error("--ulimit {0}: unknown limit; use one of core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack")]
    UnknownUlimit(String),
    #[error(transparent)]
    HostConfig(#[from] hostconfig::HostConfigError),
    #[error("generated OCI config is invalid: {0}")]
    Invalid(String),
}

/// Host facts the config depends on; `from_host` reads them, tests make them up.
#[derive(Debug, Clone)]
pub struct HostFacts {
    /// (resource name, current hard limit) for every rlimit berth may set.
    pub hard_limits: Vec<(String, u64)>,
    /// Character and block devices under /dev, for `--privileged`.
    pub devices: Vec<Value>,
    /// The cgroup layout, for a system container's view of its cgroups.
    pub cgroups: crate::cgroups::CgroupLayout,
}

/// What the config needs besides the spec.
pub struct BundleInputs<'a> {
    pub id: &'a str,
    pub spec: &'a ContainerSpec,
    pub container_dir: &'a Path,
    pub user: &'a ResolvedUser,
    /// Host paths for `spec.binds`, in the same order.
    pub bind_sources: &'a [PathBuf],
    pub host: &'a HostFacts,
    /// Set in systemd mode.
    pub systemd: Option<systemd::SystemdFiles<'a>>,
    /// `--network container:…`: the network namespace to join.
    pub netns: Option<&'a Path>,
    /// Devices, namespaces to join and extra groups, resolved on the host.
    pub resolved: &'a hostconfig::Resolved,
}

const RLIMITS: [(&str, u32); 15] = [
    ("core", libc::RLIMIT_CORE),
    ("cpu", libc::RLIMIT_CPU),
    ("data", libc::RLIMIT_DATA),
    ("fsize", libc::RLIMIT_FSIZE),
    ("locks", libc::RLIMIT_LOCKS),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("msgqueue", libc::RLIMIT_MSGQUEUE),
    ("nice", libc::RLIMIT_NICE),
    ("nofile", libc::RLIMIT_NOFILE),
    ("nproc", libc::RLIMIT_NPROC),
    ("rss", libc::RLIMIT_RSS),
    ("rtprio", libc::RLIMIT_RTPRIO),
    ("rttime", libc::RLIMIT_RTTIME),
    ("sigpending", libc::RLIMIT_SIGPENDING),
    ("stack", libc::RLIMIT_STACK),
];

impl HostFacts {
    pub fn from_host(privileged: bool) -> Self {
        let hard_limits = RLIMITS
            .iter()
            .map(|(name, res)| {
                let mut r = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                // SAFETY: getrlimit writes into the struct we own.
                unsafe { libc::getrlimit(*res as _, &mut r) };
                (name.to_string(), r.rlim_max)
            })
            .collect();
        let devices = if privileged { host_devices() } else { vec![] };
        HostFacts {
            hard_limits,
            devices,
            cgroups: crate::cgroups::CgroupLayout::from_host(),
        }
    }
}

/// Validates a ulimit name; used when parsing flags too.
pub fn check_ulimit_name(name: &str) -> Result<(), OciError> {
    RLIMITS
        .iter()
        .any(|(n, _)| *n == name)
        .then_some(())
        .ok_or_else(|| OciError::UnknownUlimit(name.into()))
}

fn rlimits(ulimits: &[Ulimit], host: &HostFacts) -> Result<Vec<Value>, OciError> {
    let host_hard = |name: &str| {
        host.hard_limits
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, h)| *h)
    };
    let mut out = Vec::new();
    // Docker gives containers a high nofile; we take the host's hard limit, never more.
    let nofile = host_hard("nofile").unwrap_or(1024).min(1_048_576);
    if !ulimits.iter().any(|u| u.name == "nofile") {
        out.push(json!({"type": "RLIMIT_NOFILE", "soft": nofile, "hard": nofile}));
    }
    for u in ulimits {
        check_ulimit_name(&u.name)?;
        if let Some(h) = host_hard(&u.name) {
            if u.hard > h {
                return Err(OciError::UlimitAboveHost {
                    name: u.name.clone(),
                    soft: u.soft,
                    hard: u.hard,
                    host: h,
                });
            }
        }
        out.push(json!({"type": format!("RLIMIT_{}", u.name.to_uppercase()), "soft": u.soft, "hard": u.hard}));
    }
    Ok(out)
}

fn resources(spec: &ContainerSpec) -> Value {
    let mut r = cgroup_limits(spec);
    r["devices"] = json!(security::device_rules(spec.privileged));
    r
}

/// The limits berth sets on a container's cgroup (OCI `linux.resources` without
/// the device rules).
pub fn cgroup_limits(spec: &ContainerSpec) -> Value {
    let mut r = json!({});
    if let Some(m) = spec.resources.memory {
        r["memory"] = json!({ "limit": m });
    }
    if let Some(n) = spec.resources.nano_cpus {
        let period: i64 = 100_000;
        r["cpu"] = json!({ "quota": n * period / 1_000_000_000, "period": period });
    }
    if let Some(p) = spec.resources.pids_limit {
        r["pids"] = json!({ "limit": p });
    }
    more_limits(&spec.resources, &mut r);
    spec.host_config.add_limits(&mut r);
    r
}

/// The limits `update` (and the run flags of the same names) add; a container
/// restarted after `update` gets them again from here.
fn more_limits(res: &crate::model::Resources, r: &mut Value) {
    let mut set = |group: &str, key: &str, v: Value| {
        if !r[group].is_object() {
            r[group] = json!({});
        }
        r[group][key] = v;
    };
    if let Some(s) = res.memory_swap {
        set("memory", "swap", json!(s));
    }
    if let Some(m) = res.memory_reservation {
        set("memory", "reservation", json!(m));
    }
    if let Some(s) = res.cpu_shares {
        set("cpu", "shares", json!(s));
    }
    if let Some(c) = &res.cpuset_cpus {
        set("cpu", "cpus", json!(c));
    }
    if let Some(m) = &res.cpuset_mems {
        set("cpu", "mems", json!(m));
    }
    if let Some(w) = res.blkio_weight {
        set("blockIO", "weight", json!(w));
    }
}

fn namespaces(spec: &ContainerSpec, netns: Option<&Path>) -> Vec<Value> {
    let mut ns: Vec<Value> = ["pid", "ipc", "uts", "mount"]
        .into_iter()
        .map(|t| json!({"type": t}))
        .collect();
    match (&spec.network, netns) {
        (NetworkMode::Host, _) => {}
        (_, Some(path)) => ns.push(json!({"type": "network", "path": path})),
        _ => ns.push(json!({"type": "network"})),
    }
    ns
}

fn all_mounts(inputs: &BundleInputs) -> Vec<Value> {
    let spec = inputs.spec;
    let mut m = mounts::default_mounts(!spec.privileged);
    m.extend(mounts::etc_mounts(inputs.container_dir));
    for t in &spec.tmpfs {
        m.push(mounts::tmpfs_mount(t));
    }
    for (b, src) in spec.binds.iter().zip(inputs.bind_sources) {
        m.push(mounts::bind_mount(b, src));
    }
    if let Some(init) = &spec.init {
        m.push(crate::init::mount(init));
    }
    mounts::dedupe(m)
}

/// The umask of every container process, init and exec'd alike (docker's).
pub const CONTAINER_UMASK: u32 = 0o022;

/// The process object; also used (with other args) for `exec`.
pub fn process(
    spec: &ContainerSpec,
    user: &ResolvedUser,
    args: &[String],
    env: &[String],
    cwd: &str,
    tty: bool,
    caps: &[String],
) -> Result<Value, OciError> {
    let mut p = json!({
        "terminal": tty,
        // docker's umask, whatever the caller's (a careful admin's 077 would leave
        // files the container writes unreadable to its own other users).
        "user": {
            "uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids,
            "umask": CONTAINER_UMASK,
        },
        "args": args,
        "env": env,
        "cwd": if cwd.is_empty() { "/" } else { cwd },
        "capabilities": security::capabilities_json(caps),
    });
    // Only written when true: libcontainer 0.7 treats a present `false` like `true`
    // when ordering seccomp after the capability drop, and the filter then fails to
    // load (EACCES) because no_new_privs was never set.
    if spec.no_new_privileges {
        p["noNewPrivileges"] = json!(true);
    }
    Ok(p)
}

/// The capabilities a container's processes get (docker's defaults, the spec's
/// adds and drops, or all the host has when privileged).
pub fn container_caps(spec: &ContainerSpec) -> Result<Vec<String>, OciError> {
    Ok(security::capabilities(
        spec.privileged,
        &spec.cap_add,
        &spec.cap_drop,
        security::host_bounding_set(),
    )?)
}

/// Sets `KEY=VALUE` entries, replacing earlier values of the same keys.
pub fn override_env(env: &mut Vec<String>, entries: &[String]) {
    for e in entries {
        let key = e.split('=').next().unwrap_or_default();
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
}

/// The container's environment: image + user env, plus HOSTNAME, HOME and TERM as
/// docker sets them.
pub fn container_env(spec: &ContainerSpec, user: &ResolvedUser) -> Vec<String> {
    let mut env = vec![format!("HOSTNAME={}", spec.hostname)];
    env.extend(spec.env.iter().cloned());
    let has = |env: &[String], k: &str| env.iter().any(|e| e.split('=').next() == Some(k));
    if !has(&env, "PATH") {
        env.push(berth_image::DEFAULT_PATH_ENV.into());
    }
    if !has(&env, "HOME") {
        env.push(format!(
            "HOME={}",
            user.home.clone().unwrap_or_else(|| "/".into())
        ));
    }
    if spec.tty && !has(&env, "TERM") {
        env.push("TERM=xterm".into());
    }
    env
}

pub fn build_config(inputs: &BundleInputs) -> Result<Value, OciError> {
    let spec = inputs.spec;
    let caps = container_caps(spec)?;
    let args = match &spec.init {
        Some(_) => crate::init::wrap_args(&spec.args),
        None => spec.args.clone(),
    };
    let mut process = process(
        spec,
        inputs.user,
        &args,
        &container_env(spec, inputs.user),
        &spec.workdir,
        spec.needs_terminal(),
        &caps,
    )?;
    process["rlimits"] = json!(rlimits(&spec.ulimits, inputs.host)?);
    let mut linux = json!({
        "namespaces": namespaces(spec, inputs.netns),
        "resources": resources(spec),
        "cgroupsPath": crate::cgroups::runtime_path(
            inputs.id,
            inputs.host.cgroups.uses_subgroup(inputs.systemd.is_some()),
        ),
    });
    if spec.privileged {
        linux["devices"] = json!(inputs.host.devices);
    } else {
        linux["maskedPaths"] = json!(security::MASKED_PATHS);
        linux["readonlyPaths"] = json!(security::READONLY_PATHS);
        if let Some(filter) = seccomp::for_container(&spec.seccomp, &caps)? {
            linux["seccomp"] = filter;
        }
    }
    let mut config = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": { "path": "rootfs", "readonly": spec.read_only },
        "hostname": spec.hostname,
        "mounts": all_mounts(inputs),
        "linux": linux,
    });
    if let Some(files) = &inputs.systemd {
        let user_mounts: Vec<String> = spec
            .binds
            .iter()
            .map(|b| b.destination.clone())
            .chain(spec.tmpfs.iter().map(|t| t.destination.clone()))
            .collect();
        systemd::apply(&mut config, inputs.id, files, &user_mounts);
        systemd::hold_v1_controllers(&mut config, inputs.id, &inputs.host.cgroups);
    }
    hostconfig::apply(&mut config, &spec.host_config, inputs.resolved);
    // Whatever we write must parse as a spec. Deserialised from a borrow: cloning
    // the config (hundreds of syscall names with docker's profile) cost as much again.
    <oci_spec::runtime::Spec as serde::Deserialize>::deserialize(&config)
        .map_err(|e| OciError::Invalid(e.to_string()))?;
    Ok(config)
}

/// Character and block devices directly under /dev and /dev/<dir>, as docker's
/// `--privileged` passes them.
fn host_devices() -> Vec<Value> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = Vec::new();
    let mut dirs = vec![PathBuf::from("/dev")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let ft = meta.file_type();
            if ft.is_dir()
                && !["/dev/pts", "/dev/shm", "/dev/mqueue"].contains(&path.to_str().unwrap_or(""))
            {
                dirs.push(path);
                continue;
            }
            let kind = if ft.is_char_device() {
                "c"
            } else if ft.is_block_device() {
                "b"
            } else {
                continue;
            };
            if path == Path::new("/dev/console") || path == Path::new("/dev/ptmx") {
                continue;
            }
            let rdev = meta.rdev();
            out.push(json!({
                "path": path, "type": kind,
                "major": libc::major(rdev), "minor": libc::minor(rdev),
                "fileMode": meta.mode() & 0o7777, "uid": meta.uid(), "gid": meta.gid(),
            }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> HostFacts {
        HostFacts {
            hard_limits: vec![("nofile".into(), 20000), ("nproc".into(), 32768)],
            devices: vec![],
            cgroups: crate::cgroups::CgroupLayout::Unified,
        }
    }

    fn config_for(spec: &ContainerSpec) -> Result<Value, OciError> {
        let user = ResolvedUser::default();
        let host = facts();
        build_config(&BundleInputs {
            id: "abc",
            spec,
            container_dir: Path::new("/c"),
            user: &user,
            bind_sources: &[],
            systemd: None,
            netns: None,
            resolved: &Default::default(),
            host: &host,
        })
    }

    fn base() -> ContainerSpec {
        ContainerSpec {
            args: vec!["sh".into()],
            hostname: "h".into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_are_confined() {
        let c = config_for(&base()).unwrap();
        assert_eq!(
            c["process"]["capabilities"]["effective"]
                .as_array()
                .unwrap()
                .len(),
            14
        );
        assert!(c["linux"]["seccomp"].is_object());
        assert_eq!(c["linux"]["maskedPaths"].as_array().unwrap().len(), 12);
        assert_eq!(c["process"]["user"]["umask"], 0o022);
        assert_eq!(c["linux"]["cgroupsPath"], "/berth/abc");
        assert_eq!(c["process"]["rlimits"][0]["hard"], 20000);
        let sys = c["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/sys")
            .unwrap();
        assert!(sys["options"].as_array().unwrap().contains(&json!("ro")));
    }

    #[test]
    fn privileged_lifts_confinement() {
        let c = config_for(&ContainerSpec {
            privileged: true,
            ..base()
        })
        .unwrap();
        // Everything the host's bounding set allows, which is more than docker's 14.
        assert!(
            c["process"]["capabilities"]["effective"]
                .as_array()
                .unwrap()
                .len()
                > 14
        );
        assert!(c["linux"].get("seccomp").is_none());
        assert!(c["linux"].get("maskedPaths").is_none());
    }

    #[test]
    fn seccomp_follows_the_security_opt() {
        use crate::model::SeccompProfile;
        let unconfined = config_for(&ContainerSpec {
            seccomp: SeccompProfile::Unconfined,
            ..base()
        })
        .unwrap();
        assert!(unconfined["linux"].get("seccomp").is_none());
        assert!(unconfined["linux"].get("maskedPaths").is_some());
        let custom = config_for(&ContainerSpec {
            seccomp: SeccompProfile::Custom(
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}"#.into(),
            ),
            ..base()
        })
        .unwrap();
        assert_eq!(
            custom["linux"]["seccomp"]["defaultAction"],
            "SCMP_ACT_ALLOW"
        );
        // A privileged container has no filter, even with a profile (docker).
        let privileged = config_for(&ContainerSpec {
            privileged: true,
            seccomp: SeccompProfile::Custom(r#"{"defaultAction": "SCMP_ACT_ERRNO"}"#.into()),
            ..base()
        })
        .unwrap();
        assert!(privileged["linux"].get("seccomp").is_none());
        let broken = config_for(&ContainerSpec {
            seccomp: SeccompProfile::Custom("{".into()),
            ..base()
        });
        assert!(matches!(broken, Err(OciError::Seccomp(_))));
    }

    #[test]
    fn ulimit_above_host_is_refused() {
        let spec = ContainerSpec {
            ulimits: vec![Ulimit {
                name: "nofile".into(),
                soft: 100,
                hard: 30000,
            }],
            ..base()
        };
        assert!(matches!(
            config_for(&spec),
            Err(OciError::UlimitAboveHost { host: 20000, .. })
        ));
        let spec = ContainerSpec {
            ulimits: vec![Ulimit {
                name: "nofile".into(),
                soft: 100,
                hard: 200,
            }],
            ..base()
        };
        let c = config_for(&spec).unwrap();
        assert_eq!(c["process"]["rlimits"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn resources_and_host_network() {
        let mut spec = base();
        spec.resources = crate::model::Resources {
            memory: Some(1 << 28),
            nano_cpus: Some(1_500_000_000),
            pids_limit: Some(50),
            cpuset_cpus: Some("0".into()),
            memory_swap: Some(1 << 29),
            ..Default::default()
        };
        spec.network = NetworkMode::Host;
        let c = config_for(&spec).unwrap();
        assert_eq!(c["linux"]["resources"]["cpu"]["quota"], 150000);
        assert_eq!(c["linux"]["resources"]["cpu"]["cpus"], "0");
        assert_eq!(c["linux"]["resources"]["memory"]["swap"], 1 << 29);
        assert_eq!(c["linux"]["resources"]["memory"]["limit"], 1 << 28);
        assert_eq!(c["linux"]["resources"]["pids"]["limit"], 50);
        assert!(!c["linux"]["namespaces"].to_string().contains("network"));
    }
}
