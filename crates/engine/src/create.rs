//! `create`/`run` options → `ContainerSpec`, merged with the image's config the way
//! docker merges them. Parsing helpers here are pure and unit-tested.

use crate::model::{
    BindMount, Container, ContainerSpec, ContainerState, NetworkMode, NetworkOptions, Resources,
    Ulimit,
};
use crate::oci::{self, mounts};
use crate::{names, now, store, Engine, EngineError};
use berth_image::ImageConfig;
use std::collections::BTreeMap;

/// Everything a user can say on `create`/`run`, already split into values.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub image: String,
    pub name: Option<String>,
    pub command: Vec<String>,
    pub entrypoint: Option<String>,
    pub hostname: Option<String>,
    /// `KEY=VALUE` entries, in order (env files first, then `-e`).
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub tty: bool,
    pub open_stdin: bool,
    pub auto_remove: bool,
    pub volumes: Vec<String>,
    pub tmpfs: Vec<String>,
    pub read_only: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub no_new_privileges: bool,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u32>,
    pub ulimits: Vec<String>,
    pub memory: Option<String>,
    pub cpus: Option<String>,
    pub pids_limit: Option<i64>,
    pub labels: Vec<String>,
    pub runtime: Option<String>,
    pub network: Option<String>,
    /// `--systemd=auto|always|false` (auto when absent).
    pub systemd: Option<String>,
    pub publish: Vec<String>,
    pub publish_all: bool,
    pub ip: Option<String>,
    pub mac: Option<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub add_hosts: Vec<String>,
}

fn invalid(msg: String) -> EngineError {
    EngineError::Invalid(msg)
}

/// Creates the container row and directory; nothing runs yet.
pub fn create(engine: &Engine, req: &CreateRequest) -> Result<Container, EngineError> {
    let image_id = engine.images.resolve(&req.image).map_err(|e| match e {
        berth_image::StoreError::NotFound(_) => invalid(format!(
            "Unable to find image '{}' locally: import it (berth import ROOTFS.tar {}) or pull it",
            req.image, req.image
        )),
        other => other.into(),
    })?;
    let config = engine
        .images
        .config(&image_id)?
        .config()
        .clone()
        .unwrap_or_default();
    let id = random_id();
    let mut spec = spec_from_request(req, &config, &id)?;
    spec.image_id = image_id.clone();
    match &spec.network {
        NetworkMode::Container(other) => {
            let target = engine.find(other)?;
            spec.network = NetworkMode::Container(target.id);
        }
        NetworkMode::Network(n) if n != berth_net::DEFAULT_NETWORK => {
            berth_net::network::get(engine.conn(), n)?;
        }
        _ => {}
    }
    engine.runtime(&spec.runtime)?; // fail now, not at start, for a missing runtime
    let name = match &req.name {
        Some(n) => validate_name(n)?,
        None => names::random_name(&random_bytes()),
    };
    let container = Container {
        id: id.clone(),
        name,
        image_id,
        created: now(),
        spec,
        state: ContainerState::default(),
    };
    store::insert(engine.conn(), &container)?;
    let dir = engine.paths.container_dir(&id);
    if let Err(source) = std::fs::create_dir_all(&dir) {
        let _ = store::delete(engine.conn(), &id);
        return Err(EngineError::Io { path: dir, source });
    }
    Ok(container)
}

fn validate_name(n: &str) -> Result<String, EngineError> {
    let n = n.strip_prefix('/').unwrap_or(n);
    let ok = n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !ok {
        return Err(invalid(format!(
            "invalid container name {n:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    Ok(n.to_string())
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).expect("the kernel's random source is available");
    b
}

pub fn random_id() -> String {
    hex::encode(random_bytes::<32>())
}

/// Merges request and image config into the container's spec.
pub fn spec_from_request(
    req: &CreateRequest,
    image: &ImageConfig,
    id: &str,
) -> Result<ContainerSpec, EngineError> {
    let entrypoint = match &req.entrypoint {
        Some(e) if e.is_empty() => vec![],
        Some(e) => vec![e.clone()],
        None => image.entrypoint().clone().unwrap_or_default(),
    };
    let cmd = if !req.command.is_empty() {
        req.command.clone()
    } else if req.entrypoint.is_some() {
        vec![] // docker: --entrypoint resets the image's CMD
    } else {
        image.cmd().clone().unwrap_or_default()
    };
    let args: Vec<String> = entrypoint.iter().chain(cmd.iter()).cloned().collect();
    if args.is_empty() {
        return Err(invalid("no command specified: the image has no CMD or ENTRYPOINT; give one after the image name".into()));
    }
    let network = match req.network.as_deref().unwrap_or(berth_net::DEFAULT_NETWORK) {
        "none" => NetworkMode::None,
        "host" => NetworkMode::Host,
        "bridge" | "default" => NetworkMode::Network(berth_net::DEFAULT_NETWORK.into()),
        other => match other.strip_prefix("container:") {
            Some("") => {
                return Err(invalid(
                    "--network container: needs a container name".into(),
                ))
            }
            Some(c) => NetworkMode::Container(c.to_string()),
            None => NetworkMode::Network(other.to_string()),
        },
    };
    let net = network_options(req, image, &network)?;
    let hostname = match (&req.hostname, &network) {
        (Some(h), _) => h.clone(),
        (None, NetworkMode::Host) => nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        (None, _) => id[..12].to_string(),
    };
    let systemd = match req.systemd.as_deref().unwrap_or("auto") {
        "auto" => crate::oci::systemd::is_init_command(&args),
        "always" => true,
        // podman spells auto as true
        "true" => crate::oci::systemd::is_init_command(&args),
        "false" => false,
        other => {
            return Err(invalid(format!(
                "invalid --systemd {other:?}: use auto, always or false"
            )))
        }
    };
    // systemd halts cleanly on SIGRTMIN+3; an explicit --stop-signal still wins.
    let stop_signal = match (&req.stop_signal, systemd) {
        (Some(s), _) => s.clone(),
        (None, true) => "SIGRTMIN+3".into(),
        (None, false) => image
            .stop_signal()
            .clone()
            .unwrap_or_else(|| "SIGTERM".into()),
    };
    berth_runtime::signal::parse_signal(&stop_signal)?;
    let mut binds: Vec<BindMount> = req
        .volumes
        .iter()
        .map(|v| mounts::parse_volume(v).map_err(invalid))
        .collect::<Result<_, _>>()?;
    for b in binds.iter_mut().filter(|b| b.anonymous) {
        b.source = random_id();
    }
    for path in image.volumes().clone().unwrap_or_default() {
        mounts::check_container_path(&path).map_err(|why| EngineError::ImageVolume {
            path: path.clone(),
            why,
        })?;
        if !binds.iter().any(|b| b.destination == path) {
            binds.push(BindMount {
                source: random_id(),
                destination: path,
                read_only: false,
                volume: true,
                anonymous: true,
            });
        }
    }
    let user = req
        .user
        .clone()
        .or_else(|| image.user().clone())
        .unwrap_or_default();
    crate::users::validate_spec(&user)?;
    let mut env = image.env().clone().unwrap_or_default();
    crate::oci::override_env(&mut env, &req.env);
    Ok(ContainerSpec {
        image: req.image.clone(),
        image_id: String::new(),
        hostname,
        domainname: String::new(),
        args,
        entrypoint,
        cmd,
        env,
        workdir: req
            .workdir
            .clone()
            .or_else(|| image.working_dir().clone())
            .unwrap_or_default(),
        user,
        tty: req.tty,
        open_stdin: req.open_stdin,
        auto_remove: req.auto_remove,
        binds,
        tmpfs: req
            .tmpfs
            .iter()
            .map(|t| mounts::parse_tmpfs(t).map_err(invalid))
            .collect::<Result<_, _>>()?,
        read_only: req.read_only,
        privileged: req.privileged,
        cap_add: normalised_caps(&req.cap_add)?,
        cap_drop: normalised_caps(&req.cap_drop)?,
        no_new_privileges: req.no_new_privileges,
        stop_signal,
        stop_timeout: req.stop_timeout,
        ulimits: req
            .ulimits
            .iter()
            .map(|u| parse_ulimit(u))
            .collect::<Result<_, _>>()?,
        resources: Resources {
            memory: req.memory.as_deref().map(parse_memory).transpose()?,
            nano_cpus: req.cpus.as_deref().map(parse_cpus).transpose()?,
            pids_limit: req.pids_limit,
        },
        labels: parse_labels(&req.labels, image)?,
        runtime: req.runtime.clone().unwrap_or_default(),
        network,
        systemd,
        net,
        connected: vec![],
    })
}

/// `-p`, `-P`, `--ip`, `--mac-address`, `--dns*`, `--add-host`; only a bridge network
/// can honour them.
fn network_options(
    req: &CreateRequest,
    image: &ImageConfig,
    mode: &NetworkMode,
) -> Result<NetworkOptions, EngineError> {
    let mut publish = Vec::new();
    for p in &req.publish {
        publish.extend(berth_net::parse_publish(p).map_err(|e| invalid(e.to_string()))?);
    }
    if req.publish_all {
        for exposed in image.exposed_ports().clone().unwrap_or_default() {
            let (port, proto) = exposed.split_once('/').unwrap_or((&exposed, "tcp"));
            if proto != "sctp" && !publish.iter().any(|p| p.container_port.to_string() == port) {
                publish.extend(
                    berth_net::parse_publish(&format!("{port}/{proto}"))
                        .map_err(|e| invalid(e.to_string()))?,
                );
            }
        }
    }
    let ip = req
        .ip
        .as_deref()
        .map(|i| {
            i.parse()
                .map_err(|_| invalid(format!("invalid --ip {i:?}: give an IPv4 address")))
        })
        .transpose()?;
    if let Some(mac) = &req.mac {
        let ok = mac.split(':').count() == 6
            && mac
                .split(':')
                .all(|b| b.len() == 2 && u8::from_str_radix(b, 16).is_ok());
        if !ok {
            return Err(invalid(format!(
                "invalid --mac-address {mac:?}: use six hex pairs like 02:42:ac:11:00:02"
            )));
        }
    }
    let mut add_hosts = Vec::new();
    for h in &req.add_hosts {
        let (name, addr) = h
            .split_once(':')
            .ok_or_else(|| invalid(format!("invalid --add-host {h:?}: use NAME:IP")))?;
        if addr.parse::<std::net::IpAddr>().is_err() || name.is_empty() {
            return Err(invalid(format!("invalid --add-host {h:?}: use NAME:IP")));
        }
        add_hosts.push((name.to_string(), addr.to_string()));
    }
    let bridged = matches!(mode, NetworkMode::Network(_));
    if !bridged && (!publish.is_empty() || ip.is_some() || req.mac.is_some()) {
        return Err(invalid(format!(
            "-p/-P, --ip and --mac-address need a bridge network, not --network {}",
            mode.name()
        )));
    }
    Ok(NetworkOptions {
        publish,
        ip,
        mac: req.mac.clone(),
        dns: req.dns.clone(),
        dns_search: req.dns_search.clone(),
        add_hosts,
    })
}

fn normalised_caps(caps: &[String]) -> Result<Vec<String>, EngineError> {
    caps.iter()
        .map(|c| oci::security::normalise_cap(c).map_err(|e| invalid(e.to_string())))
        .collect()
}

fn parse_labels(
    labels: &[String],
    image: &ImageConfig,
) -> Result<BTreeMap<String, String>, EngineError> {
    let mut out: BTreeMap<String, String> = image
        .labels()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    for l in labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        if k.is_empty() {
            return Err(invalid(format!("invalid label {l:?}: expected KEY=VALUE")));
        }
        out.insert(k.into(), v.into());
    }
    Ok(out)
}

/// `512m`, `1g`, `1024`, `2.5GB` → bytes (docker's RAMInBytes).
pub fn parse_memory(s: &str) -> Result<i64, EngineError> {
    let bad = || {
        invalid(format!(
            "invalid memory size {s:?}: use a number with an optional unit b, k, m, g (e.g. 512m)"
        ))
    };
    let lower = s.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    let value: f64 = num.parse().map_err(|_| bad())?;
    let mult: f64 = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        _ => return Err(bad()),
    };
    let bytes = (value * mult) as i64;
    if bytes < 6 * 1024 * 1024 {
        return Err(invalid(format!(
            "memory limit {s:?} is too small: the minimum is 6m"
        )));
    }
    Ok(bytes)
}

pub fn parse_cpus(s: &str) -> Result<i64, EngineError> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok((v * 1e9) as i64),
        _ => Err(invalid(format!(
            "invalid --cpus {s:?}: give a positive number such as 0.5 or 2"
        ))),
    }
}

/// `nofile=1024[:2048]`, `nproc=unlimited`.
pub fn parse_ulimit(s: &str) -> Result<Ulimit, EngineError> {
    let bad = || {
        invalid(format!(
            "invalid --ulimit {s:?}: expected NAME=SOFT[:HARD], e.g. nofile=1024:2048"
        ))
    };
    let (name, values) = s.split_once('=').ok_or_else(bad)?;
    oci::check_ulimit_name(name)?;
    let num = |v: &str| -> Result<u64, EngineError> {
        match v {
            "unlimited" | "-1" => Ok(u64::MAX),
            _ => v.parse().map_err(|_| bad()),
        }
    };
    let (soft, hard) = match values.split_once(':') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(values)?, num(values)?),
    };
    if soft > hard {
        return Err(invalid(format!(
            "invalid --ulimit {s:?}: the soft limit is above the hard limit"
        )));
    }
    Ok(Ulimit {
        name: name.into(),
        soft,
        hard,
    })
}

/// Parses an env file: `KEY=VALUE` lines, `KEY` alone takes the caller's value,
/// `#` comments and blank lines are skipped.
pub fn parse_env_file(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, EngineError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((k, _)) if k.is_empty() || k.contains(char::is_whitespace) => {
                return Err(invalid(format!(
                    "env file line {}: {line:?} is not KEY=VALUE",
                    n + 1
                )))
            }
            Some(_) => out.push(line.to_string()),
            None => {
                if let Some(v) = lookup(line.trim()) {
                    out.push(format!("{}={v}", line.trim()));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(entry: Option<Vec<&str>>, cmd: Option<Vec<&str>>) -> ImageConfig {
        let mut c = ImageConfig::default();
        c.set_entrypoint(entry.map(|v| v.into_iter().map(String::from).collect()));
        c.set_cmd(cmd.map(|v| v.into_iter().map(String::from).collect()));
        c.set_env(Some(vec!["PATH=/bin".into(), "A=1".into()]));
        c
    }

    fn req(cmd: &[&str]) -> CreateRequest {
        CreateRequest {
            image: "img".into(),
            command: cmd.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn command_merging_follows_docker() {
        let id = "0123456789abcdef";
        let s =
            spec_from_request(&req(&[]), &image(Some(vec!["/e"]), Some(vec!["c"])), id).unwrap();
        assert_eq!(s.args, vec!["/e", "c"]);
        let s =
            spec_from_request(&req(&["x"]), &image(Some(vec!["/e"]), Some(vec!["c"])), id).unwrap();
        assert_eq!(s.args, vec!["/e", "x"]);
        let mut r = req(&[]);
        r.entrypoint = Some("/other".into());
        let s = spec_from_request(&r, &image(Some(vec!["/e"]), Some(vec!["c"])), id).unwrap();
        assert_eq!(s.args, vec!["/other"]);
        assert!(spec_from_request(&req(&[]), &image(None, None), id).is_err());
        assert_eq!(s.hostname, "0123456789ab");
    }

    #[test]
    fn env_overrides_image() {
        let mut r = req(&["sh"]);
        r.env = vec!["A=2".into(), "B=3".into()];
        let s = spec_from_request(&r, &image(None, None), "0123456789abcdef").unwrap();
        assert_eq!(s.env, vec!["PATH=/bin", "A=2", "B=3"]);
    }

    #[test]
    fn sizes_and_limits() {
        assert_eq!(parse_memory("512m").unwrap(), 512 << 20);
        assert_eq!(parse_memory("1GB").unwrap(), 1 << 30);
        assert!(parse_memory("1k").is_err());
        assert!(parse_memory("lots").is_err());
        assert_eq!(parse_cpus("1.5").unwrap(), 1_500_000_000);
        assert!(parse_cpus("-1").is_err());
        let u = parse_ulimit("nofile=1024:2048").unwrap();
        assert_eq!((u.soft, u.hard), (1024, 2048));
        assert!(parse_ulimit("nofile=2:1").is_err());
        assert!(parse_ulimit("bogus=1").is_err());
    }

    #[test]
    fn env_file_forms() {
        let got = parse_env_file("# c\n\nA=1\nFROMHOST\nMISSING\n", |k| {
            (k == "FROMHOST").then(|| "h".to_string())
        })
        .unwrap();
        assert_eq!(got, vec!["A=1", "FROMHOST=h"]);
        assert!(parse_env_file("=x", |_| None).is_err());
    }

    #[test]
    fn systemd_mode_resolution() {
        let id = "0123456789abcdef";
        let mut r = req(&["/sbin/init"]);
        let s = spec_from_request(&r, &image(None, None), id).unwrap();
        assert!(s.systemd && s.stop_signal == "SIGRTMIN+3");
        r.systemd = Some("false".into());
        let s = spec_from_request(&r, &image(None, None), id).unwrap();
        assert!(!s.systemd && s.stop_signal == "SIGTERM");
        let mut r = req(&["/bin/sh"]);
        r.systemd = Some("always".into());
        r.stop_signal = Some("SIGTERM".into());
        let s = spec_from_request(&r, &image(None, None), id).unwrap();
        assert!(s.systemd && s.stop_signal == "SIGTERM");
        r.systemd = Some("maybe".into());
        assert!(spec_from_request(&r, &image(None, None), id).is_err());
    }

    #[test]
    fn bad_network_and_signal_are_refused() {
        let mut r = req(&["sh"]);
        r.network = Some("none".into());
        r.publish = vec!["80".into()];
        assert!(
            spec_from_request(&r, &image(None, None), "0123456789abcdef").is_err(),
            "ports need a bridge"
        );
        r.network = None;
        let s = spec_from_request(&r, &image(None, None), "0123456789abcdef").unwrap();
        assert_eq!(s.network, NetworkMode::Network("bridge".into()));
        assert_eq!(s.net.publish.len(), 1);
        let mut r = req(&["sh"]);
        r.stop_signal = Some("SIGNOPE".into());
        assert!(spec_from_request(&r, &image(None, None), "0123456789abcdef").is_err());
    }
}
