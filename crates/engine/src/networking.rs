//! Glue between containers and berth-net: reserving an address at start, plugging
//! the container in once its namespaces exist, /etc/hosts and /etc/resolv.conf, and
//! unplugging on exit.

use crate::model::{Container, NetworkMode};
use crate::{Engine, EngineError};
use berth_net::network::{self, Attachment};
use berth_net::{files, NetConfig, DEFAULT_NETWORK};
use std::path::PathBuf;

impl Engine {
    pub fn net_config(&self) -> NetConfig {
        NetConfig::from_env(&self.paths.runroot)
    }
}

/// Reserves the container's address and ports (recorded in its state).
pub fn reserve(engine: &Engine, c: &Container) -> Result<Option<Attachment>, EngineError> {
    let NetworkMode::Network(name) = &c.spec.network else {
        return Ok(None);
    };
    let conn = engine.conn();
    let net = if name == DEFAULT_NETWORK {
        network::ensure_default(conn, &engine.net_config())?
    } else {
        network::get(conn, name)?
    };
    // A leftover reservation (crashed monitor) must not block the restart.
    berth_net::store::release(conn, &c.id).map_err(berth_net::NetError::from)?;
    let mut att = network::allocate(conn, &net, &c.id, c.spec.net.ip, &c.spec.net.publish)?;
    att.mac = c.spec.net.mac.clone();
    let mut state = engine.container(&c.id)?.state;
    state.network = Some(att.clone());
    engine.save_state(&c.id, &state)?;
    Ok(Some(att))
}

/// Plugs the created container (init `pid`) into its network.
pub fn connect(
    engine: &Engine,
    c: &Container,
    att: Option<&Attachment>,
    pid: i32,
) -> Result<(), EngineError> {
    match (&c.spec.network, att) {
        (NetworkMode::Network(_), Some(att)) => {
            let cfg = engine.net_config();
            let net = network::get(engine.conn(), &att.network)?;
            network::connect(&cfg, &net, att, &c.id, pid)?;
            if att.network != DEFAULT_NETWORK {
                refresh_peer_hosts(engine, &att.network);
            }
            Ok(())
        }
        (NetworkMode::None, _) => Ok(network::loopback_up(pid)?),
        _ => Ok(()),
    }
}

/// Unplugs and frees everything the container had; safe to call more than once.
pub fn disconnect(engine: &Engine, c: &Container) {
    release(engine, c);
    remove_plumbing(engine, c);
}

/// The quick half of `disconnect`: ports and address are free for the next container.
pub fn release(engine: &Engine, c: &Container) {
    let NetworkMode::Network(name) = &c.spec.network else {
        return;
    };
    network::release(engine.conn(), &engine.net_config(), &c.id);
    if name != DEFAULT_NETWORK {
        refresh_peer_hosts(engine, name);
    }
}

/// The slow half: veth, and the bridge and table once nothing uses them.
pub fn remove_plumbing(engine: &Engine, c: &Container) {
    let NetworkMode::Network(name) = &c.spec.network else {
        return;
    };
    network::remove_plumbing(engine.conn(), &engine.net_config(), &c.id, Some(name));
}

/// The container's veth, once it has exited.
pub fn remove_veth(engine: &Engine, c: &Container) {
    if let NetworkMode::Network(_) = &c.spec.network {
        network::remove_veth(&engine.net_config(), &c.id);
    }
}

/// Removes the container's network's bridge (and berth's nft table) if no
/// container has been on it for the linger time (`BERTH_NET_LINGER_MS`, 2 s by
/// default). Creating and deleting a bridge costs the kernel tens of milliseconds
/// and holds its network lock, which stalls the next container's start; docker
/// keeps its bridge forever, berth for a moment after the last container, so a
/// script's back-to-back runs share it and the host is still left as it was.
pub fn remove_network_when_idle(engine: &Engine, c: &Container) {
    let NetworkMode::Network(name) = &c.spec.network else {
        return;
    };
    let cfg = engine.net_config();
    if !network::is_idle(engine.conn(), name) {
        return; // the last container to leave will do it
    }
    std::thread::sleep(cfg.linger);
    network::remove_if_idle(engine.conn(), &cfg, name);
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

/// /etc/hosts for a container: its own address and names, peers on a user network,
/// and `--add-host` entries.
pub fn hosts_text(engine: &Engine, c: &Container, att: Option<&Attachment>) -> String {
    let names = vec![c.spec.hostname.clone(), c.name.clone()];
    let own = att.map(|a| (a.ip, names.as_slice()));
    let peers = match att {
        Some(a) if a.network != DEFAULT_NETWORK => network::members(engine.conn(), &a.network)
            .unwrap_or_default()
            .into_iter()
            .filter(|(id, _)| *id != c.id)
            .filter_map(|(id, ip)| engine.container(&id).ok().map(|p| (ip, p.name)))
            .collect(),
        _ => vec![],
    };
    match (&c.spec.network, own) {
        (NetworkMode::Host, _) => std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
        (_, Some(own)) => files::hosts(Some(own), &peers, &c.spec.net.add_hosts),
        _ => {
            let mut h = files::hosts(None, &[], &c.spec.net.add_hosts);
            h.push_str(&format!("127.0.1.1\t{}\n", c.spec.hostname));
            h
        }
    }
}

pub fn resolv_text(c: &Container) -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let upstream = std::fs::read_to_string("/run/systemd/resolve/resolv.conf").ok();
    let own_netns = c.spec.network != NetworkMode::Host;
    files::resolv_conf(
        &host,
        upstream.as_deref(),
        &c.spec.net.dns,
        &c.spec.net.dns_search,
        own_netns,
    )
}

/// Rewrites the /etc/hosts of every running container on `network` in place (the
/// file is bind-mounted, so the inode must stay), so peers find each other by name.
fn refresh_peer_hosts(engine: &Engine, network_name: &str) {
    let Ok(members) = network::members(engine.conn(), network_name) else {
        return;
    };
    for (id, _) in members {
        let Ok(peer) = engine.container(&id) else {
            continue;
        };
        let text = hosts_text(engine, &peer, peer.state.network.as_ref());
        let path = engine.paths.container_dir(&id).join("hosts");
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
        {
            let _ = std::io::Write::write_all(&mut f, text.as_bytes());
        }
    }
}
