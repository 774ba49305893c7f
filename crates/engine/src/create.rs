//! `create`: a typed [`ContainerConfig`] merged with the image's config the way docker
//! merges them into the container's `ContainerSpec`, and the container's row. Docker's
//! flag strings never reach this module: the CLI parses them first (its `specgen`).
//! The one exception is `--add-host`, kept in docker's form until the network mode is
//! settled (host-gateway needs a bridge); it and the resolver values are checked here
//! with `berth_net::dns` whoever built the config.

use crate::model::{
    BindMount, Container, ContainerSpec, ContainerState, NetworkMode, NetworkOptions, Resources,
    SeccompProfile, TmpfsMount, Ulimit,
};
use crate::oci;
use crate::{names, now, store, Engine, EngineError};
use berth_image::ImageConfig;
use std::collections::BTreeMap;

/// What the caller wants of a new container, as typed values: docker's flag strings
/// are parsed before this is built (the CLI's `specgen`), the builder and other callers
/// fill it directly. `create` merges it with the image's config.
#[derive(Debug, Clone, Default)]
pub struct ContainerConfig {
    /// The image as the caller named it (kept for `inspect`/`ps`).
    pub image: String,
    pub name: Option<String>,
    /// Replaces the image's CMD when not empty.
    pub command: Vec<String>,
    /// Replaces the image's ENTRYPOINT (and drops its CMD, as docker does); an empty
    /// vector clears it.
    pub entrypoint: Option<Vec<String>>,
    pub hostname: Option<String>,
    /// `KEY=VALUE` entries, in order; later ones win over the image's.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub tty: bool,
    pub open_stdin: bool,
    pub auto_remove: bool,
    /// Binds and volumes; an anonymous volume (empty source) gets a name at create.
    pub binds: Vec<BindMount>,
    pub tmpfs: Vec<TmpfsMount>,
    pub read_only: bool,
    pub privileged: bool,
    /// Capability names, normalised (`CAP_NET_ADMIN`, or `ALL`).
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub no_new_privileges: bool,
    pub seccomp: SeccompProfile,
    /// A signal name or number; the image's (or systemd's SIGRTMIN+3) when absent.
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u32>,
    pub ulimits: Vec<Ulimit>,
    pub resources: Resources,
    /// Added to (and winning over) the image's labels.
    pub labels: Vec<(String, String)>,
    /// An OCI runtime binary; libcontainer in-process when absent.
    pub runtime: Option<String>,
    /// berth's default bridge network when absent. `Container` takes a name or id.
    pub network: Option<NetworkMode>,
    pub systemd: SystemdMode,
    pub publish: Vec<berth_net::PortMapping>,
    /// Publish every port the image exposes, on random host ports.
    pub publish_all: bool,
    pub ip: Option<std::net::Ipv4Addr>,
    /// Six hex pairs separated by colons (checked at create).
    pub mac: Option<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    /// resolv.conf `options` entries (`--dns-option`).
    pub dns_options: Vec<String>,
    /// docker's `NAME:IP`, `NAME=IP` or `NAME:host-gateway`. Checked by
    /// `berth_net::dns` when the spec is built, not before: whether host-gateway has a
    /// meaning depends on the network mode, which is only settled then.
    pub add_hosts: Vec<String>,
    /// `--volumes-from`: the mounts of other containers.
    pub volumes_from: Vec<crate::volumes::VolumesFrom>,
    /// Options and labels for named volumes this container makes on first use
    /// (`--mount type=volume,volume-opt=…,volume-label=…`).
    pub volume_requests: Vec<(String, crate::volumes::VolumeRequest)>,
    /// `--device`, `--sysctl`, `--pid`, `--log-opt`, … (docker's HostConfig extras).
    pub host_config: oci::hostconfig::HostConfig,
    /// `--restart`; refused with `auto_remove` unless `no`.
    pub restart: crate::restart::RestartPolicy,
    /// `--init`, with the host init to use (resolved at create), if given.
    pub init: bool,
    pub init_path: Option<String>,
    /// `--health-*` (`["NONE"]` for `--no-healthcheck`), merged over the image's.
    pub healthcheck: Option<crate::health::HealthConfig>,
}

/// When a container runs systemd the way it expects (`--systemd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SystemdMode {
    /// When the command is an init (`/sbin/init`, `…/systemd`).
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// With the local image the name most likely meant, if any.
    #[error("{}", not_found_text(.image, .suggestion.as_deref()))]
    ImageNotFound {
        image: String,
        suggestion: Option<String>,
    },
    #[error(
        "no command specified: the image has no CMD or ENTRYPOINT; give one after the image name"
    )]
    NoCommand,
    #[error("-p/-P, --ip and --mac-address need a bridge network, not --network {0}")]
    NeedsBridge(String),
    #[error("invalid container name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    /// A port the image exposes that cannot be published (`-P`).
    #[error(transparent)]
    ExposedPort(#[from] berth_net::ports::PortError),
    #[error("invalid --mac-address {0:?}: use six hex pairs like 02:42:ac:11:00:02")]
    InvalidMac(String),
    #[error("invalid label {0:?}: expected KEY=VALUE")]
    InvalidLabel(String),
    /// `--add-host`, `--dns`, `--dns-search` or `--dns-option` refused.
    #[error(transparent)]
    Dns(#[from] berth_net::dns::DnsError),
    /// The old docker guides' `-v /sys/fs/cgroup:/sys/fs/cgroup:ro` in systemd mode.
    #[error(
        "{0}: in systemd mode berth mounts the container's own cgroup tree at /sys/fs/cgroup \
         (writable only inside the container's subtree), and a mount there would hide it: \
         the host's tree would show the container every host cgroup, and read-only it keeps \
         systemd from booting. Drop {0}: systemd mode needs no cgroup flags. \
         To mount it anyway, run without systemd mode (--systemd=false)"
    )]
    CgroupMountInSystemdMode(String),
}

/// "Unable to find image …", with a guess at what was meant before the usual advice.
fn not_found_text(image: &str, suggestion: Option<&str>) -> String {
    let guess = suggestion
        .map(|s| format!("; did you mean {s}? (a local image)"))
        .unwrap_or_default();
    format!(
        "Unable to find image '{image}' locally{guess}: import it (berth import ROOTFS.tar {image}) or pull it"
    )
}

/// Six hex pairs separated by colons.
fn valid_mac(mac: &str) -> bool {
    mac.split(':').count() == 6
        && mac
            .split(':')
            .all(|b| b.len() == 2 && u8::from_str_radix(b, 16).is_ok())
}

/// Creates the container row and directory; nothing runs yet.
pub fn create(engine: &Engine, req: &ContainerConfig) -> Result<Container, EngineError> {
    create_as(engine, req, random_id())
}

/// [`create`] with an id chosen by the caller: one [`random_id`] that a monitor was
/// launched for ahead (see `launch`).
pub fn create_as(
    engine: &Engine,
    req: &ContainerConfig,
    id: String,
) -> Result<Container, EngineError> {
    let image_id = engine.images.resolve(&req.image).map_err(|e| match e {
        berth_image::StoreError::NotFound(_) => CreateError::ImageNotFound {
            image: req.image.clone(),
            suggestion: engine.images.suggest(&req.image),
        }
        .into(),
        other => EngineError::from(other),
    })?;
    let config = engine
        .images
        .config(&image_id)?
        .config()
        .clone()
        .unwrap_or_default();
    let mut spec = spec_from_config(req, &config, &id)?;
    spec.image_id = image_id.clone();
    crate::hostresolve::name_to_ids(engine, &mut spec.host_config)?;
    crate::hostresolve::check_host(&spec)?;
    let image_health = engine
        .images
        .blobs
        .read(&image_id)
        .ok()
        .and_then(|b| crate::health::HealthConfig::from_image_config(&b));
    spec.healthcheck =
        crate::health::HealthConfig::merged(req.healthcheck.as_ref(), image_health.as_ref());
    if req.restart.name != crate::restart::PolicyName::No && req.auto_remove {
        return Err(crate::restart::RestartError::WithAutoRemove.into());
    }
    spec.restart = req.restart;
    if req.init {
        if spec.systemd {
            return Err(crate::init::InitError::WithSystemd.into());
        }
        spec.init = Some(crate::init::resolve(req.init_path.as_deref())?);
    }
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
    let mut container = Container {
        id: id.clone(),
        name,
        image_id,
        created: now(),
        spec,
        state: ContainerState::default(),
    };
    let volumes = crate::volumes::claim(
        engine,
        &mut container.spec,
        &req.volumes_from,
        &req.volume_requests,
    )?;
    if let Err(e) = store::insert(engine.conn(), &container) {
        volumes.abandon(engine);
        return Err(e.into());
    }
    drop(volumes);
    let dir = engine.paths.container_dir(&id);
    if let Err(source) = std::fs::create_dir_all(&dir) {
        let _ = store::delete(engine.conn(), &id);
        return Err(EngineError::Io { path: dir, source });
    }
    crate::events::container(&engine.paths.root, &container, "create", &[]);
    Ok(container)
}

pub(crate) fn validate_name(n: &str) -> Result<String, CreateError> {
    let n = n.strip_prefix('/').unwrap_or(n);
    let ok = n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !ok {
        return Err(CreateError::InvalidName(n.to_string()));
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

/// Merges the caller's config and the image's config into the container's spec.
fn spec_from_config(
    req: &ContainerConfig,
    image: &ImageConfig,
    id: &str,
) -> Result<ContainerSpec, EngineError> {
    let (entrypoint, cmd) = command_of(req, image)?;
    let args: Vec<String> = entrypoint.iter().chain(cmd.iter()).cloned().collect();
    let network = req
        .network
        .clone()
        .unwrap_or_else(|| NetworkMode::Network(berth_net::DEFAULT_NETWORK.into()));
    let net = network_options(req, image, &network)?;
    let hostname = match (&req.hostname, &network) {
        (Some(h), _) => h.clone(),
        (None, NetworkMode::Host) => nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        (None, _) => id[..12].to_string(),
    };
    let systemd = match req.systemd {
        SystemdMode::Auto => crate::oci::systemd::is_init_command(&args),
        SystemdMode::Always => true,
        SystemdMode::Never => false,
    };
    let stop_signal = stop_signal_of(req, image, systemd)?;
    req.host_config
        .check(systemd, &network, req.hostname.as_deref(), &req.resources)
        .map_err(oci::OciError::from)?;
    if systemd {
        refuse_cgroup_mounts(req)?;
    }
    for path in image.volumes().clone().unwrap_or_default() {
        crate::oci::mounts::check_container_path(&path).map_err(|why| {
            EngineError::ImageVolume {
                path: path.clone(),
                why,
            }
        })?;
    }
    let user = req
        .user
        .clone()
        .or_else(|| image.user().clone())
        .unwrap_or_default();
    crate::users::validate_spec(&user)?;
    let (binds, systemd_volumes) = binds_with_image_volumes(&req.binds, image, systemd);
    let mut env = image.env().clone().unwrap_or_default();
    crate::oci::override_env(&mut env, &req.env);
    Ok(ContainerSpec {
        image: req.image.clone(),
        image_id: String::new(),
        hostname,
        domainname: req.host_config.domainname.clone().unwrap_or_default(),
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
        systemd_volumes,
        tmpfs: req.tmpfs.clone(),
        read_only: req.read_only,
        privileged: req.privileged,
        cap_add: req.cap_add.clone(),
        cap_drop: req.cap_drop.clone(),
        no_new_privileges: req.no_new_privileges,
        seccomp: {
            oci::seccomp::validate(&req.seccomp).map_err(oci::OciError::from)?;
            req.seccomp.clone()
        },
        stop_signal,
        stop_timeout: req.stop_timeout,
        ulimits: req.ulimits.clone(),
        resources: req.resources.clone(),
        labels: merged_labels(&req.labels, image),
        runtime: req.runtime.clone().unwrap_or_default(),
        network,
        systemd,
        net,
        connected: vec![],
        volumes_from: vec![],
        host_config: req.host_config.clone(),
        restart: Default::default(),
        init: None,
        healthcheck: None,
    })
}

/// ENTRYPOINT and CMD, the caller's merged with the image's as docker does; not
/// both empty.
fn command_of(
    req: &ContainerConfig,
    image: &ImageConfig,
) -> Result<(Vec<String>, Vec<String>), CreateError> {
    let entrypoint = match &req.entrypoint {
        Some(e) => e.clone(),
        None => image.entrypoint().clone().unwrap_or_default(),
    };
    let cmd = if !req.command.is_empty() {
        req.command.clone()
    } else if req.entrypoint.is_some() {
        vec![] // docker: --entrypoint resets the image's CMD
    } else {
        image.cmd().clone().unwrap_or_default()
    };
    if entrypoint.is_empty() && cmd.is_empty() {
        return Err(CreateError::NoCommand);
    }
    Ok((entrypoint, cmd))
}

/// The caller's stop signal, else systemd's (it halts cleanly on SIGRTMIN+3), else
/// the image's, else SIGTERM; checked.
fn stop_signal_of(
    req: &ContainerConfig,
    image: &ImageConfig,
    systemd: bool,
) -> Result<String, EngineError> {
    let signal = match (&req.stop_signal, systemd) {
        (Some(s), _) => s.clone(),
        (None, true) => "SIGRTMIN+3".into(),
        (None, false) => image
            .stop_signal()
            .clone()
            .unwrap_or_else(|| "SIGTERM".into()),
    };
    berth_runtime::signal::parse_signal(&signal)?;
    Ok(signal)
}

/// In systemd mode berth mounts the container's own cgroup tree; a user mount at
/// or under /sys/fs/cgroup would hide it. Honouring it would not help the user: the
/// old guides added the host's tree for docker, whose containers had no cgroup tree
/// of their own, and that exposes every host cgroup (docs/security.md) while a
/// read-only one stops systemd at boot. Refused, naming the flag to drop.
fn refuse_cgroup_mounts(req: &ContainerConfig) -> Result<(), CreateError> {
    let at_cgroup = |d: &str| {
        let d = d.trim_end_matches('/');
        d == "/sys/fs/cgroup" || d.starts_with("/sys/fs/cgroup/")
    };
    if let Some(b) = req.binds.iter().find(|b| at_cgroup(&b.destination)) {
        let flag = match (b.anonymous, b.read_only) {
            (true, _) => format!("-v {}", b.destination),
            (false, ro) => format!(
                "-v {}:{}{}",
                b.source,
                b.destination,
                if ro { ":ro" } else { "" }
            ),
        };
        return Err(CreateError::CgroupMountInSystemdMode(flag));
    }
    if let Some(t) = req.tmpfs.iter().find(|t| at_cgroup(&t.destination)) {
        return Err(CreateError::CgroupMountInSystemdMode(format!(
            "--tmpfs {}",
            t.destination
        )));
    }
    Ok(())
}

/// Where systemd mode mounts a file system of its own (`oci/systemd.rs`: the
/// container's cgroup file system, tmpfs on the others).
const SYSTEMD_MOUNTS: &[&str] = &[
    "/sys/fs/cgroup",
    "/run",
    "/run/lock",
    "/tmp",
    "/var/log/journal",
];

/// Whether systemd mode provides `path` (a VOLUME there would hide what
/// systemd needs, or keep `/run` and `/tmp` across boots).
fn provided_by_systemd(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    SYSTEMD_MOUNTS.contains(&path) || path.starts_with("/sys/fs/cgroup/")
}

/// The caller's binds (anonymous volumes named now), then an anonymous volume for
/// every VOLUME of the image the caller did not mount something on — except, in
/// systemd mode, where systemd mode mounts its own file system (the classic
/// systemd images declare `VOLUME ["/sys/fs/cgroup"]` for docker's sake); those
/// are returned second, for `inspect`.
fn binds_with_image_volumes(
    binds: &[BindMount],
    image: &ImageConfig,
    systemd: bool,
) -> (Vec<BindMount>, Vec<String>) {
    let mut binds = binds.to_vec();
    let mut by_systemd = Vec::new();
    for b in binds.iter_mut().filter(|b| b.anonymous) {
        b.source = random_id();
    }
    for path in image.volumes().clone().unwrap_or_default() {
        if systemd && provided_by_systemd(&path) && !binds.iter().any(|b| b.destination == path) {
            by_systemd.push(path);
            continue;
        }
        if !binds.iter().any(|b| b.destination == path) {
            binds.push(BindMount {
                source: random_id(),
                destination: path,
                read_only: false,
                volume: true,
                anonymous: true,
                ..Default::default()
            });
        }
    }
    (binds, by_systemd)
}

/// `-p`, `-P`, `--ip`, `--mac-address`, `--dns*`, `--add-host`; only a bridge network
/// can honour the first four.
fn network_options(
    req: &ContainerConfig,
    image: &ImageConfig,
    mode: &NetworkMode,
) -> Result<NetworkOptions, CreateError> {
    let mut publish = req.publish.clone();
    if req.publish_all {
        let exposed_ports = image.exposed_ports().clone().unwrap_or_default();
        for exposed in exposed_ports
            .into_iter()
            .chain(req.host_config.expose.clone())
        {
            let (port, proto) = exposed.split_once('/').unwrap_or((&exposed, "tcp"));
            if proto != "sctp" && !publish.iter().any(|p| p.container_port.to_string() == port) {
                publish.extend(berth_net::parse_publish(&format!("{port}/{proto}"))?);
            }
        }
    }
    let bridged = matches!(mode, NetworkMode::Network(_));
    let resolver = resolver_options(req, bridged)?;
    if !bridged && (!publish.is_empty() || req.ip.is_some() || req.mac.is_some()) {
        return Err(CreateError::NeedsBridge(mode.name()));
    }
    Ok(NetworkOptions {
        publish,
        ip: req.ip,
        mac: checked_mac(req)?,
        ..resolver
    })
}

/// Checks the MAC address and resolver values as [`create`] will, for a caller that wants to refuse
/// them before it pulls the image.
pub fn check_network_values(req: &ContainerConfig) -> Result<(), CreateError> {
    checked_mac(req)?;
    let bridged = matches!(req.network, None | Some(NetworkMode::Network(_)));
    resolver_options(req, bridged)?;
    Ok(())
}

/// `--mac-address`: six hex pairs separated by colons.
fn checked_mac(req: &ContainerConfig) -> Result<Option<String>, CreateError> {
    match req.mac.as_deref() {
        Some(mac) if !valid_mac(mac) => Err(CreateError::InvalidMac(mac.into())),
        other => Ok(other.map(String::from)),
    }
}

/// `--add-host`, `--dns`, `--dns-search` and `--dns-option`, checked: they become
/// lines of the container's /etc/hosts and /etc/resolv.conf.
fn resolver_options(
    req: &ContainerConfig,
    bridged: bool,
) -> Result<NetworkOptions, berth_net::dns::DnsError> {
    use berth_net::dns;
    let each = |values: &[String], parse: fn(&str) -> Result<String, dns::DnsError>| {
        values
            .iter()
            .map(|v| parse(v))
            .collect::<Result<Vec<_>, _>>()
    };
    let mut add_hosts = Vec::new();
    for h in &req.add_hosts {
        let (name, addr) = dns::parse_add_host(h)?;
        if addr == dns::HOST_GATEWAY && !bridged {
            return Err(dns::DnsError::HostGatewayWithoutBridge(h.clone()));
        }
        add_hosts.push((name, addr));
    }
    Ok(NetworkOptions {
        dns: each(&req.dns, dns::parse_server)?,
        dns_search: each(&req.dns_search, dns::parse_search)?,
        dns_options: each(&req.dns_options, dns::parse_option)?,
        add_hosts,
        ..NetworkOptions::default()
    })
}

/// The image's labels, then the caller's (which win).
fn merged_labels(labels: &[(String, String)], image: &ImageConfig) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = image
        .labels()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    out.extend(labels.iter().cloned());
    out
}

#[cfg(test)]
mod tests;
