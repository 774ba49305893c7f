//! The host side of networks: bridges, veth pairs, addresses and routes inside
//! containers, berth's nft table and ip_forward — made when a container starts and
//! removed when the last one has gone.

use crate::nat;
use crate::network::{
    is_idle, lock, tearing_down, Attachment, NetConfig, NetError, PRIMARY_INTERFACE,
};
use crate::nfnl::Nfnl;
use crate::ports::PortMapping;
use crate::rtnl::{self, Rtnl};
use crate::store::{self, Network};
use crate::sysctl::{self, NetnsSysctls};
use rusqlite::Connection;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The host end of a container's veth pair for `interface`: `vb` and 11 id
/// characters for eth0, `vb` and 10 and `-N` for ethN (15 characters at most).
fn host_end(container: &str, interface: &str) -> String {
    let id = |n: usize| &container[..n.min(container.len())];
    match interface.strip_prefix("eth") {
        Some(n) if interface != PRIMARY_INTERFACE => format!("vb{}-{n}", id(10)),
        _ => format!("vb{}", id(11)),
    }
}

fn is_host_end_of(link: &str, container: &str) -> bool {
    link == host_end(container, PRIMARY_INTERFACE)
        || link.starts_with(&format!("{}-", &host_end(container, "eth1")[..12]))
}

/// Ignores IPv6 router advertisements on `link` (in the caller's network
/// namespace). berth's networks are IPv4 only, yet the kernel gives every link
/// an IPv6 link-local address and, by default, configures itself from any RA it
/// hears: a container with CAP_NET_RAW could send rogue RAs and become the IPv6
/// router of the host or of its neighbours on the bridge (CVE-2020-13401; docker
/// turns accept_ra off on its bridges). A host without IPv6 has no such file.
fn ignore_router_advertisements(write: impl Fn(&str, &str), link: &str) {
    write(&format!("net/ipv6/conf/{link}/accept_ra"), "0");
}

/// Turns IPv6 off on `link` (in the caller's network namespace). berth's networks
/// are IPv4 only, yet each veth end came up with a link-local address and
/// announced itself (duplicate address detection, MLD reports, router
/// solicitations), and the bridge floods such multicast to every port: with
/// 1,000 containers on a bridge that was a sixth of the host's CPU during a
/// `run -d` (`perf`: `mld_ifc_work`, `br_flood`, `ip6_rcv_core` in every
/// neighbour), issue 11. A link without IPv6 drops every IPv6 packet, router
/// advertisements included. Done before the link carries anything; `lo` keeps
/// `::1`.
fn disable_ipv6(write: impl Fn(&str, &str), link: &str) {
    write(&format!("net/ipv6/conf/{link}/disable_ipv6"), "1");
}

/// Host-wide (not per state root: several berths may run): the forwarding value
/// from before the first berth table appeared.
const FORWARD_SAVED: &str = "/run/berth-ip_forward.before";

fn table_marker(cfg: &NetConfig) -> PathBuf {
    cfg.runroot.join(format!("nft-{}", cfg.table))
}

/// IP forwarding is on while any berth nft table exists; the value from before is
/// put back when the last one goes.
fn enable_forwarding() {
    let saved = Path::new(FORWARD_SAVED);
    let current = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
    if !saved.exists() && current.trim() != "1" {
        let _ = std::fs::write(saved, current.trim());
    }
    sysctl::write_host("net/ipv4/ip_forward", "1");
}

fn restore_forwarding() {
    let tables = Nfnl::open()
        .and_then(|mut n| n.ip_tables())
        .unwrap_or_default();
    if tables.iter().any(|t| t.starts_with("berth")) {
        return; // another berth still routes
    }
    let saved = Path::new(FORWARD_SAVED);
    if let Ok(v) = std::fs::read_to_string(saved) {
        sysctl::write_host("net/ipv4/ip_forward", v.trim());
        let _ = std::fs::remove_file(saved);
    }
}

/// Plugs a container (its network namespace is `netns`, which the caller opened
/// and made sure is the container's) into a network: the bridge when it is
/// the network's first container, a veth pair whose inner end is made straight
/// inside the container as `att.interface`, its address, and for the primary
/// interface loopback and the default route. All over netlink from this process;
/// NAT and ports are [`publish`]'s.
pub fn connect(
    cfg: &NetConfig,
    net: &Network,
    att: &Attachment,
    container: &str,
    netns: &std::fs::File,
) -> Result<(), NetError> {
    let _guard = lock(cfg);
    let mut host = Rtnl::open()?;
    let bridge_is_new = !Path::new("/sys/class/net").join(&net.bridge).exists();
    if bridge_is_new {
        host.add_bridge(
            &net.bridge,
            net.gateway,
            net.subnet.prefix,
            rtnl::random_mac(),
        )?;
        // Host connections to 127.0.0.1:PORT are DNAT'ed onto this bridge (the
        // table's `martians` chain keeps containers from using it the other way).
        sysctl::write_host(&format!("net/ipv4/conf/{}/route_localnet", net.bridge), "1");
        ignore_router_advertisements(sysctl::write_host, &net.bridge);
        enable_forwarding();
    }
    let (master, bridge_mac) = host.link_of(&net.bridge)?;
    keep_bridge_mac(&mut host, &net.bridge, master, bridge_mac)?;
    let mac = match &att.mac {
        Some(m) => Some(
            rtnl::parse_mac(m)
                .ok_or_else(|| NetError::Invalid(format!("invalid MAC address {m:?}")))?,
        ),
        None => None,
    };
    let outer = host_end(container, &att.interface);
    let inner = att.interface.as_str();
    let fd = netns.as_raw_fd();
    if let Err(e) = host.add_veth(&outer, master, inner, fd, mac) {
        if e.errno() != Some(libc::EEXIST) {
            return Err(e.into());
        }
        // Left by this container's previous run, whose namespace is still dying.
        host.delete_link(&outer)?;
        host.add_veth(&outer, master, inner, fd, mac)?;
    }
    // No IPv6 on either end (the host end has no carrier until the inside one is
    // up), and no router advertisements should that write fail; `default`
    // inside ignores them for any link the container makes later, which keeps
    // IPv6, as docker's do.
    disable_ipv6(sysctl::write_host, &outer);
    ignore_router_advertisements(sysctl::write_host, &outer);
    let mut inside = rtnl::in_netns(fd, || {
        let sysctls = NetnsSysctls::open();
        let write = |path: &str, value: &str| sysctls.write(path, value);
        disable_ipv6(write, inner);
        ignore_router_advertisements(write, inner);
        ignore_router_advertisements(write, "default");
        Rtnl::open()
    })??;
    if att.is_primary() {
        let lo = inside.index_of("lo")?;
        inside.set_up(lo)?;
    }
    let (index, mac) = inside.link_of(inner)?;
    inside.add_address(index, att.ip, att.prefix)?;
    inside.set_up(index)?;
    if att.is_primary() {
        inside.add_default_route(att.gateway)?;
    }
    // Permanent neighbour entries both ways (see `Rtnl::set_neighbour`): no
    // dynamic ones that a thousand containers would overflow the kernel's
    // shared table with, and no ARP exchange before the first packet.
    inside.set_neighbour(index, att.gateway, bridge_mac)?;
    host.set_neighbour(master, att.ip, mac)?;
    Ok(())
}

/// Pins the MAC address of a bridge made without one (by a berth from before
/// bridges got theirs at creation): the containers' entries for their gateway
/// hold it, and an unpinned bridge takes its lowest port's as ports come and go.
fn keep_bridge_mac(
    host: &mut Rtnl,
    bridge: &str,
    index: u32,
    mac: [u8; 6],
) -> Result<(), NetError> {
    // NET_ADDR_SET: set at creation or by hand.
    const SET: &str = "3";
    let path = format!("/sys/class/net/{bridge}/addr_assign_type");
    let kind = std::fs::read_to_string(path).unwrap_or_default();
    if kind.trim() != SET {
        host.set_mac(index, mac)?;
    }
    Ok(())
}

/// Deletes the host's neighbour entry for a container's address `ip` on
/// `bridge`, before the address is freed for another container. A bridge that
/// is gone took its entries with it.
pub(crate) fn forget_neighbour(rtnl: &mut Rtnl, bridge: &str, ip: Ipv4Addr) {
    if let Ok(index) = rtnl.index_of(bridge) {
        let _ = rtnl.delete_neighbour(index, ip);
    }
}

fn nat_lock(cfg: &NetConfig) -> Option<std::fs::File> {
    crate::network::lock_file(&cfg.runroot.join("nat.lock"))
}

/// `nft` building berth's table, or adding networks to it, while the container is
/// being created: the one slow step of a container that starts when no berth
/// container runs (each `nft` launch costs 10-25 ms here). Holds the NAT lock, so
/// two first starts do not both add the rules.
pub struct NatSetup {
    nft: crate::cmd::Running,
    _lock: Option<std::fs::File>,
}

/// Starts [`NatSetup`] when the table is missing (its marker file is absent, so
/// no `nft list` is needed) or a network's bridge is, i.e. is new; `None` when
/// all is in place, or when there is no network to set up at all.
pub fn start_nat_setup(cfg: &NetConfig, networks: &[&Network]) -> Option<NatSetup> {
    if networks.is_empty() {
        return None;
    }
    let marker = table_marker(cfg);
    let bridge_missing = || {
        networks
            .iter()
            .any(|n| !Path::new("/sys/class/net").join(&n.bridge).exists())
    };
    if marker.exists() && !bridge_missing() {
        return None;
    }
    let lock = nat_lock(cfg);
    // Another first start may have done it while this one waited for the lock.
    let table_is_new = !marker.exists();
    if !table_is_new && !bridge_missing() {
        return None;
    }
    let script = nat::table_script(&cfg.table, table_is_new, networks);
    let nft = crate::cmd::nft_start(&script).ok()?;
    Some(NatSetup { nft, _lock: lock })
}

/// Finishes what [`start_nat_setup`] began, then publishes `ports` of the
/// container at `ip`. When the table turns out to be missing or incomplete (a
/// stale marker, an nft failure), builds it all again in one `nft` run.
pub fn publish(
    cfg: &NetConfig,
    setup: Option<NatSetup>,
    networks: &[&Network],
    ip: Ipv4Addr,
    ports: &[PortMapping],
) -> Result<(), NetError> {
    let marker = table_marker(cfg);
    let set_up = match setup {
        Some(s) => {
            let done = s.nft.finish().is_ok();
            if done {
                let _ = std::fs::write(&marker, "");
            }
            done
        }
        None => marker.exists(),
    };
    if set_up && nat::add_ports(&cfg.table, ip, ports).is_ok() {
        return Ok(());
    }
    let _lock = nat_lock(cfg);
    nat::rebuild(&cfg.table, networks, ip, ports)?;
    let _ = std::fs::write(marker, "");
    Ok(())
}

/// Brings up loopback in a container that has no other network: one ioctl on a
/// socket made inside its namespace (see [`rtnl::in_netns`]), not `ip` (two
/// process launches on the path of every `--network none` start) and not a forked
/// child that joins the namespace (a fork of the monitor costs more than the rest).
pub fn loopback_up(pid: i32) -> Result<(), NetError> {
    let failed = |why: String| NetError::Invalid(format!("bringing up lo in the container: {why}"));
    let ns =
        std::fs::File::open(format!("/proc/{pid}/ns/net")).map_err(|e| failed(e.to_string()))?;
    let sock = rtnl::in_netns(ns.as_raw_fd(), || {
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        // SAFETY: a fresh descriptor the kernel just gave us.
        (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
    })
    .map_err(|e| failed(e.to_string()))?
    .ok_or_else(|| failed(format!("socket: {}", std::io::Error::last_os_error())))?;
    set_lo_up(sock.as_raw_fd()).map_err(|e| failed(e.to_string()))
}

/// Sets IFF_UP on "lo" of the namespace `sock` was made in.
fn set_lo_up(sock: i32) -> std::io::Result<()> {
    // SAFETY: a zeroed ifreq is valid; the ioctls read and write only that struct.
    unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        req.ifr_name[0] = b'l' as libc::c_char;
        req.ifr_name[1] = b'o' as libc::c_char;
        if libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock, libc::SIOCSIFFLAGS, &req) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `network disconnect` of a running container: its interface on `network` and
/// its address there; the bridge too if that leaves the network idle.
pub fn leave(conn: &Connection, cfg: &NetConfig, container: &str, att: &Attachment) {
    {
        let _guard = lock(cfg);
        if let Ok(mut rtnl) = Rtnl::open() {
            let _ = rtnl.delete_link(&host_end(container, &att.interface));
            forget_neighbour(&mut rtnl, &att.bridge, att.ip);
        }
        let _ = store::release_on(conn, container, &att.network);
    }
    remove_if_idle(conn, cfg, &att.network);
}

/// Removes the plumbing left after [`release`]: the veths, and the bridges and
/// berth's table when nothing uses them any more.
pub fn remove_plumbing(conn: &Connection, cfg: &NetConfig, container: &str, networks: &[String]) {
    remove_veths(cfg, container, networks);
    for network in networks {
        remove_if_idle(conn, cfg, network);
    }
}

/// Deletes the host ends of a container's veth pairs (the kernel takes the inner
/// ends with them) on the `networks` it was on. Gone already is fine.
///
/// A container on one network has only eth0's, deleted by name. Otherwise the
/// host's interfaces are listed to find the others (`network connect` numbers them
/// as it goes): a listing is O(interfaces on the host) under the network lock,
/// about 2 ms with 1,000 containers (issue 11), so only when needed.
pub fn remove_veths(cfg: &NetConfig, container: &str, networks: &[String]) {
    let _guard = lock(cfg);
    let Ok(mut rtnl) = Rtnl::open() else { return };
    let primary = host_end(container, PRIMARY_INTERFACE);
    if networks.len() <= 1 && rtnl.delete_link_if_present(&primary).unwrap_or(false) {
        return;
    }
    for link in std::fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = link.file_name().to_string_lossy().into_owned();
        if is_host_end_of(&name, container) {
            let _ = rtnl.delete_link(&name);
        }
    }
}

/// Deletes `network`'s bridge when no container is on it, and berth's nft table
/// (restoring ip_forward) when no container is on any network. Slow — deleting a
/// bridge waits for the kernel — so monitors do it after their CLI has returned.
/// Waits for containers being plugged in (see `network::Attaching`) and decides
/// "idle" only then, so it never pulls the bridge or the table from under one.
pub fn remove_if_idle(conn: &Connection, cfg: &NetConfig, network: &str) {
    let _lifetime = tearing_down(cfg);
    let _guard = lock(cfg);
    remove_plumbing_of(conn, cfg, network);
}

/// [`remove_if_idle`] for a caller that holds the lifetime lock and the lock.
pub(crate) fn remove_plumbing_of(conn: &Connection, cfg: &NetConfig, network: &str) {
    let gone = store::get(conn, network)
        .ok()
        .flatten()
        .filter(|n| is_idle(conn, &n.name));
    if let Some(n) = &gone {
        if let Ok(mut rtnl) = Rtnl::open() {
            let _ = rtnl.delete_link(&n.bridge);
        }
    }
    let nothing_left = !store::any_allocation(conn).unwrap_or(true);
    nat::unplug(
        &cfg.table,
        &[],
        Ipv4Addr::UNSPECIFIED,
        gone.as_ref(),
        nothing_left,
    );
    if nothing_left {
        let _ = std::fs::remove_file(table_marker(cfg));
        restore_forwarding();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ends_fit_in_an_interface_name_and_belong_to_their_container() {
        let id = "0123456789abcdef0123";
        assert_eq!(host_end(id, "eth0"), "vb0123456789a");
        assert_eq!(host_end(id, "eth1"), "vb0123456789-1");
        assert_eq!(host_end(id, "eth12"), "vb0123456789-12");
        assert!(host_end(id, "eth12").len() <= 15);
        assert!(is_host_end_of("vb0123456789a", id));
        assert!(is_host_end_of("vb0123456789-3", id));
        // Another container whose id shares the first ten characters.
        assert!(!is_host_end_of("vb0123456789b", id));
        assert!(!is_host_end_of("berth0", id));
    }
}
