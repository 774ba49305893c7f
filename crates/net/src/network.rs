//! Networks as containers see them: which exist, who is attached with which
//! address and ports, and the host-side plumbing (bridge, veth pair, NAT) that is
//! made when the first container of a network starts and removed when the last goes.

use crate::cmd::CmdError;
use crate::ipam::{host_subnets, pick_subnet, IpamError, Subnet};
use crate::nat;
use crate::nfnl::NfnlError;
use crate::ports::{PortMapping, Proto};
use crate::rtnl::RtnlError;
use crate::store::{self, Network};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

pub use crate::plumbing::{
    connect, leave, loopback_up, publish, remove_if_idle, remove_plumbing, remove_veths,
    start_nat_setup, NatSetup,
};

pub const DEFAULT_NETWORK: &str = "bridge";

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(transparent)]
    Cmd(#[from] CmdError),
    #[error(transparent)]
    Ipam(#[from] IpamError),
    #[error(transparent)]
    Rtnl(#[from] RtnlError),
    #[error(transparent)]
    Nfnl(#[from] NfnlError),
    #[error(transparent)]
    Nat(#[from] nat::NatError),
    #[error(transparent)]
    Dns(#[from] crate::dns::DnsError),
    #[error("network metadata: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("network {0} not found; create it with berth network create {0}")]
    NotFound(String),
    #[error("network {0} already exists")]
    Exists(String),
    #[error("network {name} is in use by {count} container(s); remove them first")]
    InUse { name: String, count: usize },
    #[error(
        "Bind for {0} failed: port is already allocated; choose another host port (-p OTHER:{1})"
    )]
    PortInUse(String, u16),
    #[error("address {0} is already in use on network {1}")]
    AddressInUse(Ipv4Addr, String),
    #[error("no free subnet for a network: every candidate clashes with the host's routes; give one with --subnet")]
    NoSubnet,
    #[error("{0}")]
    Invalid(String),
}

/// Where berth's network pieces are named, overridable so tests never meet the user's.
#[derive(Debug, Clone)]
pub struct NetConfig {
    pub bridge: String,
    pub subnet: Option<String>,
    pub table: String,
    pub runroot: PathBuf,
    /// How long an idle network's bridge outlives its last container.
    pub linger: std::time::Duration,
}

impl NetConfig {
    pub fn from_env(runroot: &Path) -> Self {
        NetConfig {
            bridge: std::env::var("BERTH_BRIDGE").unwrap_or_else(|_| "berth0".into()),
            subnet: std::env::var("BERTH_SUBNET").ok(),
            table: std::env::var("BERTH_NFT_TABLE").unwrap_or_else(|_| "berth".into()),
            runroot: runroot.to_path_buf(),
            // The CLI refuses a malformed value (see `linger_from_env`) before any
            // monitor could read it.
            linger: linger_from_env().unwrap_or(DEFAULT_LINGER),
        }
    }
}

const DEFAULT_LINGER: std::time::Duration = std::time::Duration::from_millis(2000);

/// `BERTH_NET_LINGER_MS`: how long an idle bridge outlives its last container.
pub fn linger_from_env() -> Result<std::time::Duration, NetError> {
    match std::env::var("BERTH_NET_LINGER_MS") {
        Err(_) => Ok(DEFAULT_LINGER),
        Ok(v) => v
            .trim()
            .parse()
            .map(std::time::Duration::from_millis)
            .map_err(|_| {
                NetError::Invalid(format!(
                    "BERTH_NET_LINGER_MS={v:?} is not a whole number of milliseconds; set it like BERTH_NET_LINGER_MS=2000, or unset it"
                ))
            }),
    }
}

/// A container's place on a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub network: String,
    pub bridge: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub mac: Option<String>,
    pub ports: Vec<PortMapping>,
    /// The interface inside the container: `eth0` on the network it was started
    /// on (which has the default route and the published ports), `eth1`… on
    /// networks joined with `network connect`.
    #[serde(default = "primary_interface")]
    pub interface: String,
}

pub const PRIMARY_INTERFACE: &str = "eth0";

fn primary_interface() -> String {
    PRIMARY_INTERFACE.into()
}

impl Attachment {
    pub fn is_primary(&self) -> bool {
        self.interface == PRIMARY_INTERFACE
    }
}

/// The networks' tables, created with the database's own (`berth_image::db::open_with`).
pub const SCHEMA: &str = store::SCHEMA;

pub(crate) fn lock(cfg: &NetConfig) -> Option<std::fs::File> {
    lock_file(&cfg.runroot.join("net.lock"))
}

/// The lock of the networks' lifetime, one for all of a state root's networks
/// (berth's nft table, which the last teardown removes, is shared by them all).
fn lifetime_lock_path(cfg: &NetConfig) -> PathBuf {
    cfg.runroot.join("net-lifetime.lock")
}

/// Held by a container being plugged in, from before it looks whether its bridge
/// and berth's nft table exist until its ports are published: a lingering
/// teardown (which holds the lock exclusively, see `remove_if_idle`) then runs
/// wholly before — and the container makes what it removed again — or wholly
/// after, when it finds the network in use and removes nothing. Shared, so
/// containers still start in parallel. Drop it before anything that may tear a
/// network down (`leave`, `disconnect`), which would wait for it.
#[must_use = "the lock is released when the guard is dropped"]
pub struct Attaching {
    _lock: Option<std::fs::File>,
}

/// Takes the shared lifetime lock; see [`Attaching`].
pub fn attaching(cfg: &NetConfig) -> Attaching {
    Attaching {
        _lock: lock_file_as(&lifetime_lock_path(cfg), libc::LOCK_SH),
    }
}

/// Held shared by a monitor for as long as it lingers before removing `net`'s
/// idle bridge (see [`lingering`]); its own file per network, by id (a name can
/// be reused).
fn linger_lock_path(cfg: &NetConfig, net: &Network) -> PathBuf {
    cfg.runroot.join(format!("net-linger-{}.lock", net.id))
}

/// A monitor lingering before it removes the bridge of a network it left idle:
/// [`reclaim_abandoned`] leaves that network to it while it lives, and takes
/// over if it is killed meanwhile (the lock goes with the process).
#[must_use = "the lock is released when the guard is dropped"]
pub struct Lingering {
    _lock: Option<std::fs::File>,
}

/// Takes `network`'s linger lock (shared: several monitors may linger at once).
pub fn lingering(conn: &Connection, cfg: &NetConfig, network: &str) -> Lingering {
    let net = store::get(conn, network).ok().flatten();
    Lingering {
        _lock: net.and_then(|n| lock_file_as(&linger_lock_path(cfg, &n), libc::LOCK_SH)),
    }
}

/// Removes the bridges of idle networks nobody lingers on (and berth's table once
/// nothing is left, see `remove_if_idle`): what a monitor killed while it
/// lingered owed, its container maybe removed already so that no cleanup of the
/// container can find it. Cheap when there is none: a query and a stat per
/// network.
pub fn reclaim_abandoned(conn: &Connection, cfg: &NetConfig) {
    for n in store::list(conn).unwrap_or_default() {
        let abandoned = Path::new("/sys/class/net").join(&n.bridge).exists()
            && is_idle(conn, &n.name)
            && nobody_holds(&linger_lock_path(cfg, &n));
        if abandoned {
            remove_if_idle(conn, cfg, &n.name);
        }
    }
}

/// Whether no process holds a flock on `path` (a missing file: nobody ever did).
fn nobody_holds(path: &Path) -> bool {
    let Ok(f) = std::fs::File::open(path) else {
        return true;
    };
    // SAFETY: flock on a file we own; released when it is dropped below.
    unsafe {
        libc::flock(
            std::os::fd::AsRawFd::as_raw_fd(&f),
            libc::LOCK_EX | libc::LOCK_NB,
        ) == 0
    }
}

/// The exclusive lifetime lock, for removing a bridge or berth's table.
pub(crate) fn tearing_down(cfg: &NetConfig) -> Option<std::fs::File> {
    lock_file_as(&lifetime_lock_path(cfg), libc::LOCK_EX)
}

/// An exclusive flock on `path`, released when the file is dropped.
pub(crate) fn lock_file(path: &Path) -> Option<std::fs::File> {
    lock_file_as(path, libc::LOCK_EX)
}

/// A flock of `kind` (`LOCK_SH` or `LOCK_EX`) on `path`, released when the file
/// is dropped.
fn lock_file_as(path: &Path, kind: libc::c_int) -> Option<std::fs::File> {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let f = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .ok()?;
    // SAFETY: flock on a file we own; released when the file is dropped.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&f), kind) };
    Some(f)
}

fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    secs.to_string()
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn taken_subnets(conn: &Connection) -> Result<Vec<Subnet>, NetError> {
    let routes =
        crate::cmd::run("ip", &["-4", "route", "show", "table", "all"], "").unwrap_or_default();
    let mut taken = host_subnets(&routes);
    taken.extend(store::list(conn)?.into_iter().map(|n| n.subnet));
    Ok(taken)
}

/// The default network's record, made on first use.
pub fn ensure_default(conn: &Connection, cfg: &NetConfig) -> Result<Network, NetError> {
    if let Some(n) = store::get(conn, DEFAULT_NETWORK)? {
        return Ok(n);
    }
    let subnet = match &cfg.subnet {
        Some(s) => Subnet::parse(s)?,
        None => {
            let candidates = (88..=120).map(|b| Subnet {
                network: Ipv4Addr::new(10, b, 0, 0),
                prefix: 16,
            });
            pick_subnet(candidates, &taken_subnets(conn)?).ok_or(NetError::NoSubnet)?
        }
    };
    let n = Network {
        name: DEFAULT_NETWORK.into(),
        id: random_hex(32),
        bridge: cfg.bridge.clone(),
        subnet,
        gateway: subnet.gateway(),
        created: now(),
    };
    match store::insert(conn, &n) {
        Ok(()) => Ok(n),
        // Another berth created it at the same moment.
        Err(_) => store::get(conn, DEFAULT_NETWORK)?
            .ok_or_else(|| NetError::NotFound(DEFAULT_NETWORK.into())),
    }
}

/// `network create`: a user network with its own bridge and subnet.
pub fn create(
    conn: &Connection,
    name: &str,
    subnet: Option<&str>,
    gateway: Option<&str>,
) -> Result<Network, NetError> {
    if !name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        return Err(NetError::Invalid(format!(
            "invalid network name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    if ["none", "host"].contains(&name) || store::get(conn, name)?.is_some() {
        return Err(NetError::Exists(name.into()));
    }
    let taken = taken_subnets(conn)?;
    let subnet = match subnet {
        Some(s) => {
            let s = Subnet::parse(s)?;
            if taken.iter().any(|t| t.overlaps(&s)) {
                return Err(NetError::Invalid(format!(
                    "subnet {s} overlaps a host route or another network; choose another"
                )));
            }
            s
        }
        None => {
            let candidates = (0..=255).map(|c| Subnet {
                network: Ipv4Addr::new(10, 121, c, 0),
                prefix: 24,
            });
            pick_subnet(candidates, &taken).ok_or(NetError::NoSubnet)?
        }
    };
    let gateway = match gateway {
        Some(g) => {
            let g: Ipv4Addr = g
                .parse()
                .map_err(|_| NetError::Invalid(format!("invalid gateway {g:?}")))?;
            if !subnet.contains(g) {
                return Err(IpamError::Outside {
                    ip: g.to_string(),
                    subnet: subnet.to_string(),
                }
                .into());
            }
            g
        }
        None => subnet.gateway(),
    };
    let id = random_hex(32);
    let n = Network {
        name: name.into(),
        bridge: format!("br-{}", &id[..12]),
        id,
        subnet,
        gateway,
        created: now(),
    };
    store::insert(conn, &n)?;
    Ok(n)
}

/// `network rm`: a network no container is on, with its bridge (which may still be
/// lingering after its last container).
pub fn remove(conn: &Connection, cfg: &NetConfig, name: &str) -> Result<(), NetError> {
    if [DEFAULT_NETWORK, "host", "none"].contains(&name) {
        return Err(NetError::Invalid(format!(
            "{name} is a pre-defined network and cannot be removed"
        )));
    }
    let _lifetime = tearing_down(cfg);
    let _guard = lock(cfg);
    let n = store::get(conn, name)?.ok_or_else(|| NetError::NotFound(name.into()))?;
    let members = store::members(conn, &n.name)?;
    if !members.is_empty() {
        return Err(NetError::InUse {
            name: n.name,
            count: members.len(),
        });
    }
    crate::plumbing::remove_plumbing_of(conn, cfg, &n.name);
    store::delete(conn, &n.name)?;
    Ok(())
}

pub fn get(conn: &Connection, name: &str) -> Result<Network, NetError> {
    store::get(conn, name)?.ok_or_else(|| NetError::NotFound(name.into()))
}

/// Reserves an address and the host ports for a container (no host changes yet).
pub fn allocate(
    conn: &Connection,
    net: &Network,
    container: &str,
    requested: Option<Ipv4Addr>,
    ports: &[PortMapping],
) -> Result<Attachment, NetError> {
    let ip = loop {
        let candidate = match requested {
            Some(ip) if !net.subnet.contains(ip) => {
                return Err(IpamError::Outside {
                    ip: ip.to_string(),
                    subnet: net.subnet.to_string(),
                }
                .into())
            }
            Some(ip)
                if ip == net.gateway || ip == net.subnet.network || ip == net.subnet.broadcast() =>
            {
                return Err(NetError::Invalid(format!(
                    "address {ip} is reserved on network {} (its network, gateway or broadcast address); choose another --ip in {}",
                    net.name, net.subnet
                )))
            }
            Some(ip) => ip,
            None => net
                .subnet
                .first_free(net.gateway, &store::used_ips(conn, &net.name)?)?,
        };
        if store::claim_ip(conn, &net.name, candidate, container)? {
            break candidate;
        }
        if requested.is_some() {
            return Err(NetError::AddressInUse(candidate, net.name.clone()));
        }
    };
    let mut published = Vec::new();
    for p in ports {
        let mut p = *p;
        if p.host_port == 0 {
            p.host_port = free_port(p.host_ip, p.proto).unwrap_or(0);
        }
        let taken = p.host_port == 0
            || !host_port_free(p.host_ip, p.host_port, p.proto)
            || !store::claim_port(conn, &p, container)?;
        if taken {
            store::release(conn, container)?;
            let ip = p
                .host_ip
                .map(|i| i.to_string())
                .unwrap_or_else(|| "0.0.0.0".into());
            return Err(NetError::PortInUse(
                format!("{ip}:{}", p.host_port),
                p.container_port,
            ));
        }
        published.push(p);
    }
    Ok(Attachment {
        network: net.name.clone(),
        bridge: net.bridge.clone(),
        ip,
        prefix: net.subnet.prefix,
        gateway: net.gateway,
        mac: None,
        ports: published,
        interface: primary_interface(),
    })
}

fn bind_addr(ip: Option<Ipv4Addr>, port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::from((ip.unwrap_or(Ipv4Addr::UNSPECIFIED), port))
}

/// Whether a host process (sshd, another engine) already listens there.
fn host_port_free(ip: Option<Ipv4Addr>, port: u16, proto: Proto) -> bool {
    match proto {
        Proto::Tcp => std::net::TcpListener::bind(bind_addr(ip, port)).is_ok(),
        Proto::Udp => std::net::UdpSocket::bind(bind_addr(ip, port)).is_ok(),
    }
}

/// A port the kernel considers free right now.
fn free_port(ip: Option<Ipv4Addr>, proto: Proto) -> Option<u16> {
    match proto {
        Proto::Tcp => std::net::TcpListener::bind(bind_addr(ip, 0))
            .ok()?
            .local_addr()
            .ok()
            .map(|a| a.port()),
        Proto::Udp => std::net::UdpSocket::bind(bind_addr(ip, 0))
            .ok()?
            .local_addr()
            .ok()
            .map(|a| a.port()),
    }
}

/// Undoes `allocate` and `connect` (safe to repeat): [`release`], then
/// [`remove_plumbing`].
pub fn disconnect(conn: &Connection, cfg: &NetConfig, container: &str) {
    let networks = release(conn, cfg, container);
    remove_plumbing(conn, cfg, container, &networks);
}

/// Frees what the next container may want at once: the published ports (nft map
/// elements and records) and the addresses. Quick. Returns the networks it was on.
pub fn release(conn: &Connection, cfg: &NetConfig, container: &str) -> Vec<String> {
    let _guard = lock(cfg);
    let networks = store::networks_of(conn, container).unwrap_or_default();
    let ports = store::ports_of(conn, container).unwrap_or_default();
    if !ports.is_empty() {
        // Deleting an element needs its key only; the address is not part of it.
        nat::unplug(&cfg.table, &ports, Ipv4Addr::UNSPECIFIED, None, false);
    }
    // Under the lock, before the addresses are free: a container that gets one
    // next sets its own entry after this one is gone.
    forget_neighbours_locked(conn, container);
    let _ = store::release(conn, container);
    networks
}

/// Deletes the host's neighbour entries for the container's addresses (made by
/// `connect`), which still hold them; [`release`] does it too. Quick, for a
/// monitor to call as soon as the container has exited, so that they are gone
/// by the time `stop` returns.
pub fn forget_neighbours(conn: &Connection, cfg: &NetConfig, container: &str) {
    let _guard = lock(cfg);
    forget_neighbours_locked(conn, container);
}

fn forget_neighbours_locked(conn: &Connection, container: &str) {
    let addresses = store::bridged_addresses_of(conn, container).unwrap_or_default();
    if addresses.is_empty() {
        return;
    }
    if let Ok(mut rtnl) = crate::rtnl::Rtnl::open() {
        for (bridge, ip) in &addresses {
            crate::plumbing::forget_neighbour(&mut rtnl, bridge, *ip);
        }
    }
}

/// Whether any container holds an address on `network`.
pub fn is_idle(conn: &Connection, network: &str) -> bool {
    store::members(conn, network)
        .map(|m| m.is_empty())
        .unwrap_or(true)
}

/// Peers on a network, for /etc/hosts.
pub fn members(conn: &Connection, network: &str) -> Result<Vec<(String, Ipv4Addr)>, NetError> {
    Ok(store::members(conn, network)?)
}
