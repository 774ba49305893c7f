//! Glue between containers and berth-net: reserving an address at start, plugging
//! the container in once its namespaces exist, /etc/hosts and /etc/resolv.conf, and
//! unplugging on exit.

use crate::model::{ConnectedNetwork, Container, NetworkMode, ProcessId};
use crate::{Engine, EngineError};
use berth_net::network::{self, Attachment, NatSetup};
use berth_net::store::Network;
use berth_net::{files, NetConfig, DEFAULT_NETWORK};
use std::net::Ipv4Addr;
use std::path::PathBuf;

impl Engine {
    pub fn net_config(&self) -> NetConfig {
        NetConfig::from_env(&self.paths.runroot)
    }
}

fn network_named(engine: &Engine, name: &str) -> Result<Network, EngineError> {
    let conn = engine.conn();
    Ok(if name == DEFAULT_NETWORK {
        network::ensure_default(conn, &engine.net_config())?
    } else {
        network::get(conn, name)?
    })
}

/// Reserves the container's addresses and ports (recorded in its state): on its
/// bridge network (returned first, as `eth0`) and on those joined with
/// `network connect` (`eth1`…).
pub fn reserve(engine: &Engine, c: &Container) -> Result<Vec<Attachment>, EngineError> {
    let NetworkMode::Network(name) = &c.spec.network else {
        return Ok(vec![]);
    };
    let conn = engine.conn();
    let net = network_named(engine, name)?;
    // A leftover reservation (crashed monitor) must not block the restart.
    // Through `network::release`, so its host neighbour entries go too.
    network::release(conn, &engine.net_config(), &c.id);
    let mut att = network::allocate(conn, &net, &c.id, c.spec.net.ip, &c.spec.net.publish)?;
    att.mac = c.spec.net.mac.clone();
    let mut all = vec![att];
    for (n, joined) in c.spec.connected.iter().enumerate() {
        let net = network_named(engine, &joined.name);
        let att = net.and_then(|net| Ok(network::allocate(conn, &net, &c.id, joined.ip, &[])?));
        match att {
            Ok(mut att) => {
                att.interface = format!("eth{}", n + 1);
                all.push(att);
            }
            Err(e) => {
                let _ = berth_net::store::release(conn, &c.id);
                return Err(e);
            }
        }
    }
    engine.update_state(&c.id, |state| {
        state.network = all.first().cloned();
        state.connected = all[1..].to_vec();
    })?;
    Ok(all)
}

/// What plugging a created container in needs, looked up before it is created:
/// its attachments' networks and, on a first start, the nft table being built
/// meanwhile (see `network::start_nat_setup`).
///
/// It holds the networks' lifetime lock (shared) until `connect` has consumed it,
/// so a lingering teardown cannot remove the bridge or the table in between.
pub struct Plugging {
    nets: Vec<Network>,
    nat: Option<NatSetup>,
    _attaching: Option<network::Attaching>,
}

pub fn prepare_plugging(
    engine: &Engine,
    attachments: &[Attachment],
) -> Result<Plugging, EngineError> {
    let cfg = engine.net_config();
    let attaching = (!attachments.is_empty()).then(|| network::attaching(&cfg));
    let nets = attachments
        .iter()
        .map(|a| Ok(network::get(engine.conn(), &a.network)?))
        .collect::<Result<Vec<_>, EngineError>>()?;
    let nat = network::start_nat_setup(&cfg, &nets.iter().collect::<Vec<_>>());
    Ok(Plugging {
        nets,
        nat,
        _attaching: attaching,
    })
}

/// Plugs the created container (init `pid`) into its networks and publishes its
/// ports.
pub fn connect(
    engine: &Engine,
    c: &Container,
    attachments: &[Attachment],
    pid: i32,
    plugging: Plugging,
) -> Result<(), EngineError> {
    match &c.spec.network {
        NetworkMode::Network(_) => {
            let cfg = engine.net_config();
            // The monitor's own child, not yet reaped: its pid cannot be reused.
            let netns = std::fs::File::open(format!("/proc/{pid}/ns/net")).map_err(|e| {
                EngineError::Invalid(format!("the container's network namespace: {e}"))
            })?;
            for (net, att) in plugging.nets.iter().zip(attachments) {
                network::connect(&cfg, net, att, &c.id, &netns)?;
                crate::events::network(engine, &net.name, "connect", &c.id);
            }
            if let Some(primary) = attachments.first() {
                let nets: Vec<&Network> = plugging.nets.iter().collect();
                network::publish(&cfg, plugging.nat, &nets, primary.ip, &primary.ports)?;
            }
            for att in attachments.iter().filter(|a| a.network != DEFAULT_NETWORK) {
                refresh_peer_hosts(engine, &att.network);
            }
            Ok(())
        }
        NetworkMode::None => Ok(network::loopback_up(pid)?),
        _ => Ok(()),
    }
}

/// Unplugs and frees everything the container had; safe to call more than once.
///
/// The bridges of all the networks its spec names are looked at, not only those
/// it still had addresses on: a monitor killed between freeing its addresses and
/// removing the bridges they left idle (it lingers in between, see
/// [`remove_networks_when_idle`]) still owes that removal, and this is the
/// cleanup of a dead monitor.
pub fn disconnect(engine: &Engine, c: &Container) {
    let mut networks = release(engine, c);
    if let NetworkMode::Network(primary) = &c.spec.network {
        let named = std::iter::once(primary).chain(c.spec.connected.iter().map(|j| &j.name));
        for name in named {
            if !networks.contains(name) {
                networks.push(name.clone());
            }
        }
    }
    network::remove_plumbing(engine.conn(), &engine.net_config(), &c.id, &networks);
}

/// The quick half of `disconnect`: ports and addresses are free for the next
/// container. Returns the networks the container was on.
pub fn release(engine: &Engine, c: &Container) -> Vec<String> {
    let NetworkMode::Network(_) = &c.spec.network else {
        return vec![];
    };
    let networks = network::release(engine.conn(), &engine.net_config(), &c.id);
    networks
        .iter()
        .for_each(|n| crate::events::network(engine, n, "disconnect", &c.id));
    for name in networks.iter().filter(|n| *n != DEFAULT_NETWORK) {
        refresh_peer_hosts(engine, name);
    }
    networks
}

/// The host's neighbour entries for the container, once it has exited.
pub fn forget_neighbours(engine: &Engine, c: &Container) {
    if let NetworkMode::Network(_) = &c.spec.network {
        network::forget_neighbours(engine.conn(), &engine.net_config(), &c.id);
    }
}

/// The container's veths on the `networks` it left, once it has exited.
pub fn remove_veths(engine: &Engine, c: &Container, networks: &[String]) {
    if let NetworkMode::Network(_) = &c.spec.network {
        network::remove_veths(&engine.net_config(), &c.id, networks);
    }
}

/// Removes the bridges of `networks` (and berth's nft table) if no container
/// has been on them for the linger time (`BERTH_NET_LINGER_MS`, 2 s by default).
/// Creating and deleting a bridge costs the kernel tens of milliseconds and holds
/// its network lock, which stalls the next container's start; docker keeps its
/// bridge forever, berth for a moment after the last container, so a script's
/// back-to-back runs share it and the host is still left as it was.
pub fn remove_networks_when_idle(engine: &Engine, networks: &[String]) {
    let conn = engine.conn();
    // The last container to leave a network removes it.
    let idle: Vec<&String> = networks
        .iter()
        .filter(|n| network::is_idle(conn, n))
        .collect();
    if idle.is_empty() {
        return;
    }
    let cfg = engine.net_config();
    // Should this process be killed while it sleeps, `reclaim_abandoned` does it.
    let _lingering: Vec<_> = idle
        .iter()
        .map(|n| network::lingering(conn, &cfg, n))
        .collect();
    std::thread::sleep(cfg.linger);
    for name in idle {
        network::remove_if_idle(conn, &cfg, name);
    }
}

/// Removes the bridges monitors killed while they lingered left behind (see
/// `network::reclaim_abandoned`).
pub fn reclaim_abandoned(engine: &Engine) {
    network::reclaim_abandoned(engine.conn(), &engine.net_config());
}

/// `network connect NET CTR [--ip]`: recorded in the spec, so every start joins
/// it; a running container gets its interface (`ethN`) at once.
pub fn join(
    engine: &Engine,
    c: &Container,
    name: &str,
    ip: Option<Ipv4Addr>,
) -> Result<(), EngineError> {
    let NetworkMode::Network(primary) = &c.spec.network else {
        return Err(EngineError::Invalid(format!(
            "container {} uses --network {}, which has no bridge network to add to; only containers on a bridge network can be connected to another",
            c.name,
            c.spec.network.name()
        )));
    };
    let net = network_named(engine, name)?;
    let added = crate::store::update_spec(engine.conn(), &c.id, |spec| {
        let already = *primary == net.name || spec.connected.iter().any(|j| j.name == net.name);
        if !already {
            spec.connected.push(ConnectedNetwork {
                name: net.name.clone(),
                ip,
            });
        }
        !already
    })?;
    if !added {
        return Err(EngineError::Invalid(format!(
            "container {} is already connected to network {}",
            c.name, net.name
        )));
    }
    let Some(init) = c.state.init.filter(|_| c.is_running()) else {
        return Ok(());
    };
    let plugged = plug_running(engine, c, &net, ip, init);
    if plugged.is_err() {
        crate::store::update_spec(engine.conn(), &c.id, |spec| {
            spec.connected.retain(|j| j.name != net.name)
        })?;
    }
    plugged
}

fn plug_running(
    engine: &Engine,
    c: &Container,
    net: &Network,
    ip: Option<Ipv4Addr>,
    init: ProcessId,
) -> Result<(), EngineError> {
    let netns = netns_of(init, &c.name)?;
    let conn = engine.conn();
    let mut att = network::allocate(conn, net, &c.id, ip, &[])?;
    let state = engine.container(&c.id)?.state;
    att.interface = (1..)
        .map(|n| format!("eth{n}"))
        .find(|i| !state.attachments().any(|a| a.interface == *i))
        .unwrap_or_default();
    let cfg = engine.net_config();
    let plugged = {
        // Released before `leave`, which may tear the network down.
        let _attaching = network::attaching(&cfg);
        network::connect(&cfg, net, &att, &c.id, &netns).and_then(|()| {
            let nat = network::start_nat_setup(&cfg, &[net]);
            network::publish(&cfg, nat, &[net], att.ip, &[])
        })
    };
    if let Err(e) = plugged {
        network::leave(conn, &cfg, &c.id, &att);
        return Err(e.into());
    }
    // Recorded only while the container still runs: a container that exited
    // meanwhile has had its addresses freed by its monitor, which read the state
    // before this one; the new one is freed here instead of leaking. (It stays in
    // the spec: the next start joins it.)
    let recorded = engine.update_state(&c.id, |state| {
        let running = state.status == crate::model::Status::Running && state.init == Some(init);
        if running {
            state.connected.push(att.clone());
        }
        running
    })?;
    if !recorded {
        network::leave(conn, &cfg, &c.id, &att);
        return Ok(());
    }
    refresh_peer_hosts(engine, &net.name);
    Ok(())
}

/// The network namespace of a running container's init, opened by its pid and
/// then checked to be that process still: one that exited in between, its pid
/// taken by another process (a host one, say), is refused, never entered.
fn netns_of(init: ProcessId, name: &str) -> Result<std::fs::File, EngineError> {
    match std::fs::File::open(format!("/proc/{}/ns/net", init.pid)) {
        Ok(netns) if init.is_alive() => Ok(netns),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(EngineError::Invalid(format!(
            "the network namespace of container {name}: {e}; is berth running as root?"
        ))),
        _ => Err(EngineError::NotRunning(name.to_string())),
    }
}

/// `network disconnect NET CTR`: forgets the network and, in a running container,
/// removes its interface and frees its address.
pub fn leave(engine: &Engine, c: &Container, name: &str) -> Result<(), EngineError> {
    let net = network_named(engine, name)?;
    if c.spec.network == NetworkMode::Network(net.name.clone()) {
        return Err(EngineError::Invalid(format!(
            "container {} was created on network {} (its --network), which berth cannot take away from it; create a new container with another --network",
            c.name, net.name
        )));
    }
    let removed = crate::store::update_spec(engine.conn(), &c.id, |spec| {
        let before = spec.connected.len();
        spec.connected.retain(|j| j.name != net.name);
        spec.connected.len() != before
    })?;
    if !removed {
        return Err(EngineError::Invalid(format!(
            "container {} is not connected to network {}; `berth inspect -f '{{{{json .NetworkSettings.Networks}}}}' {}` lists its networks",
            c.name, net.name, c.name
        )));
    }
    let state = engine.container(&c.id)?.state;
    let Some(att) = state
        .connected
        .iter()
        .find(|a| a.network == net.name)
        .cloned()
    else {
        return Ok(()); // not running
    };
    network::leave(engine.conn(), &engine.net_config(), &c.id, &att);
    engine.update_state(&c.id, |state| {
        state.connected.retain(|a| a.network != net.name)
    })?;
    refresh_peer_hosts(engine, &net.name);
    refresh_hosts(engine, &c.id);
    Ok(())
}

/// The network namespace to join for `--network container:ID`.
pub fn shared_netns(engine: &Engine, c: &Container) -> Result<Option<PathBuf>, EngineError> {
    let NetworkMode::Container(other) = &c.spec.network else {
        return Ok(None);
    };
    let target = engine.find(other)?;
    match target.state.init.filter(|_| target.is_running()) {
        Some(init) => Ok(Some(PathBuf::from(format!("/proc/{}/ns/net", init.pid)))),
        None => Err(EngineError::Invalid(format!(
            "cannot join the network of container {}: it is not running",
            target.name
        ))),
    }
}

/// /etc/hosts for a container: its own address and names, peers on its user
/// networks, and `--add-host` entries. `attachments` puts its primary first.
pub fn hosts_text(engine: &Engine, c: &Container, attachments: &[Attachment]) -> String {
    let mut names = vec![c.spec.hostname.clone(), c.name.clone()];
    names.extend(c.spec.host_config.network_aliases.iter().cloned());
    let own = attachments.first().map(|a| (a.ip, names.as_slice()));
    let peers: Vec<(Ipv4Addr, String)> = attachments
        .iter()
        .filter(|a| a.network != DEFAULT_NETWORK)
        .flat_map(|a| {
            let members = network::members(engine.conn(), &a.network).unwrap_or_default();
            members
                .into_iter()
                .map(|(id, ip)| (a.network.as_str(), id, ip))
        })
        .filter(|(_, id, _)| *id != c.id)
        .filter_map(|(net, id, ip)| {
            let p = engine.container(&id).ok()?;
            Some((ip, crate::hostresolve::names_on(&p, net)))
        })
        .collect();
    let extra = extra_hosts(&c.spec.net.add_hosts, attachments.first());
    match (&c.spec.network, own) {
        (NetworkMode::Host, _) => std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
        (_, Some(own)) => files::hosts(Some(own), &peers, &extra),
        _ => {
            let mut h = files::hosts(None, &[], &extra);
            h.push_str(&format!("127.0.1.1\t{}\n", c.spec.hostname));
            h
        }
    }
}

/// `--add-host` entries with `host-gateway` made the primary network's gateway:
/// the host, as the container reaches it. (`create` refuses host-gateway without a
/// bridge network; an entry left without a gateway is dropped, not written wrong.)
fn extra_hosts(
    add_hosts: &[(String, String)],
    primary: Option<&Attachment>,
) -> Vec<(String, String)> {
    add_hosts
        .iter()
        .filter_map(|(name, addr)| match (addr.as_str(), primary) {
            (berth_net::dns::HOST_GATEWAY, Some(a)) => Some((name.clone(), a.gateway.to_string())),
            (berth_net::dns::HOST_GATEWAY, None) => None,
            _ => Some((name.clone(), addr.clone())),
        })
        .collect()
}

pub fn resolv_text(c: &Container) -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let upstream = std::fs::read_to_string("/run/systemd/resolve/resolv.conf").ok();
    let own_netns = c.spec.network != NetworkMode::Host;
    let user = files::ResolvOptions {
        servers: &c.spec.net.dns,
        search: &c.spec.net.dns_search,
        options: &c.spec.net.dns_options,
    };
    files::resolv_conf(&host, upstream.as_deref(), user, own_netns)
}

/// Rewrites the /etc/hosts of every running container on `network`, so peers
/// find each other by name.
pub(crate) fn refresh_peer_hosts(engine: &Engine, network_name: &str) {
    let Ok(members) = network::members(engine.conn(), network_name) else {
        return;
    };
    for (id, _) in members {
        refresh_hosts(engine, &id);
    }
}

/// Rewrites one container's /etc/hosts in place (the file is bind-mounted, so
/// the inode must stay).
pub(crate) fn refresh_hosts(engine: &Engine, id: &str) {
    let Ok(c) = engine.container(id) else { return };
    let attachments: Vec<Attachment> = c.state.attachments().cloned().collect();
    let text = hosts_text(engine, &c, &attachments);
    let path = engine.paths.container_dir(id).join("hosts");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
    {
        let _ = std::io::Write::write_all(&mut f, text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_is_entered_only_while_its_process_is_the_one_recorded() {
        let me = ProcessId::of(std::process::id() as i32).unwrap();
        assert!(netns_of(me, "c").is_ok());
        // The same pid with another start time (and pidfs number): a process
        // that took the container's pid after it exited.
        let reused = ProcessId {
            start_ticks: me.start_ticks + 1,
            pidfs: me.pidfs.map(|id| crate::model::PidfsId {
                ino: id.ino + 1,
                ..id
            }),
            ..me
        };
        assert!(matches!(
            netns_of(reused, "c"),
            Err(EngineError::NotRunning(name)) if name == "c"
        ));
    }
}
