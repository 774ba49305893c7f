//! Links, addresses and routes over rtnetlink, in-process. Messages come from
//! `netlink-packet-route` and go over a blocking `netlink-sys` socket: no async
//! runtime (the monitor is single-threaded and has none) and no `ip` process on the
//! start path, where each launch cost several milliseconds.

use netlink_packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, RawFd};

#[derive(Debug, thiserror::Error)]
pub enum RtnlError {
    #[error("netlink socket: {0}")]
    Socket(std::io::Error),
    #[error("entering the container's network namespace: {0}")]
    Netns(std::io::Error),
    #[error("{what}: {source}")]
    Refused {
        what: String,
        source: std::io::Error,
    },
    #[error("{what}: unexpected netlink reply")]
    Garbled { what: String },
}

impl RtnlError {
    /// The kernel's errno, when it refused a request.
    pub fn errno(&self) -> Option<i32> {
        match self {
            RtnlError::Refused { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// One rtnetlink socket, bound to the network namespace it was opened in.
pub struct Rtnl {
    socket: Socket,
    seq: u32,
}

impl Rtnl {
    /// A socket in the caller's network namespace.
    pub fn open() -> Result<Self, RtnlError> {
        let socket = netlink_socket(NETLINK_ROUTE).map_err(RtnlError::Socket)?;
        Ok(Rtnl { socket, seq: 0 })
    }

    /// Sends one message and returns the kernel's reply to it.
    fn exchange(
        &mut self,
        what: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<NetlinkPayload<RouteNetlinkMessage>, RtnlError> {
        self.seq += 1;
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = NLM_F_REQUEST | flags;
        req.header.sequence_number = self.seq;
        req.finalize();
        let mut buf = vec![0; req.header.length as usize];
        req.serialize(&mut buf);
        self.socket.send(&buf, 0).map_err(RtnlError::Socket)?;
        loop {
            let (reply, _) = self.socket.recv_from_full().map_err(RtnlError::Socket)?;
            let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&reply)
                .map_err(|_| RtnlError::Garbled { what: what.into() })?;
            if msg.header.sequence_number != self.seq {
                continue; // a late reply to an earlier request
            }
            if let NetlinkPayload::Error(e) = &msg.payload {
                if let Some(code) = e.code {
                    return Err(RtnlError::Refused {
                        what: what.into(),
                        source: std::io::Error::from_raw_os_error(-code.get()),
                    });
                }
            }
            return Ok(msg.payload);
        }
    }

    /// Sends one request and waits for its acknowledgement.
    fn request(
        &mut self,
        what: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<(), RtnlError> {
        match self.exchange(what, msg, NLM_F_ACK | flags)? {
            NetlinkPayload::Error(_) => Ok(()),
            _ => Err(RtnlError::Garbled { what: what.into() }),
        }
    }

    /// A new bridge with `gateway/prefix` on it, up, with the MAC address `mac`.
    /// A bridge given none takes its lowest port's, so it would change as
    /// containers come and go and their permanent entries for the gateway would
    /// point at a MAC the bridge no longer has; one set at creation stays.
    pub fn add_bridge(
        &mut self,
        name: &str,
        gateway: Ipv4Addr,
        prefix: u8,
        mac: [u8; 6],
    ) -> Result<(), RtnlError> {
        let mut link = LinkMessage::default();
        link.header.flags = LinkFlags::Up;
        link.header.change_mask = LinkFlags::Up;
        link.attributes = vec![
            LinkAttribute::IfName(name.into()),
            LinkAttribute::Address(mac.to_vec()),
            LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]),
        ];
        let what = format!("creating bridge {name}");
        self.request(
            &what,
            RouteNetlinkMessage::NewLink(link),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
        let index = self.index_of(name)?;
        self.add_address(index, gateway, prefix)
    }

    /// A veth pair: `host` enslaved to the bridge `master` and up, its peer made
    /// straight inside the namespace `peer_netns` as `peer` (with `mac` when given).
    pub fn add_veth(
        &mut self,
        host: &str,
        master: u32,
        peer: &str,
        peer_netns: RawFd,
        mac: Option<[u8; 6]>,
    ) -> Result<(), RtnlError> {
        let mut inner = LinkMessage::default();
        inner.attributes = vec![
            LinkAttribute::IfName(peer.into()),
            LinkAttribute::NetNsFd(peer_netns),
        ];
        if let Some(mac) = mac {
            inner.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        let mut link = LinkMessage::default();
        link.header.flags = LinkFlags::Up;
        link.header.change_mask = LinkFlags::Up;
        link.attributes = vec![
            LinkAttribute::IfName(host.into()),
            LinkAttribute::Controller(master),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(inner))),
            ]),
        ];
        let what = format!("creating veth pair {host}/{peer}");
        self.request(
            &what,
            RouteNetlinkMessage::NewLink(link),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// The interface index of `name` in this socket's namespace (which need not
    /// be the caller's, so if_nametoindex would not do).
    pub fn index_of(&mut self, name: &str) -> Result<u32, RtnlError> {
        let mut link = LinkMessage::default();
        link.attributes = vec![LinkAttribute::IfName(name.into())];
        let what = format!("looking up interface {name}");
        match self.exchange(&what, RouteNetlinkMessage::GetLink(link), 0)? {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => Ok(l.header.index),
            _ => Err(RtnlError::Garbled { what }),
        }
    }

    /// The index and MAC address of interface `name` in this socket's namespace.
    pub fn link_of(&mut self, name: &str) -> Result<(u32, [u8; 6]), RtnlError> {
        let mut link = LinkMessage::default();
        link.attributes = vec![LinkAttribute::IfName(name.into())];
        let what = format!("looking up interface {name}");
        let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) =
            self.exchange(&what, RouteNetlinkMessage::GetLink(link), 0)?
        else {
            return Err(RtnlError::Garbled { what });
        };
        let mac = l.attributes.iter().find_map(|a| match a {
            LinkAttribute::Address(m) => <[u8; 6]>::try_from(m.as_slice()).ok(),
            _ => None,
        });
        match mac {
            Some(mac) => Ok((l.header.index, mac)),
            None => Err(RtnlError::Garbled { what }),
        }
    }

    /// Sets the MAC address of interface `index`. Setting it, even to the one it
    /// has, also marks it as set by hand: a bridge then keeps it.
    pub fn set_mac(&mut self, index: u32, mac: [u8; 6]) -> Result<(), RtnlError> {
        let mut link = LinkMessage::default();
        link.header.index = index;
        link.attributes = vec![LinkAttribute::Address(mac.to_vec())];
        let what = format!("setting the MAC address of interface {index}");
        self.request(&what, RouteNetlinkMessage::SetLink(link), 0)
    }

    /// A permanent neighbour entry on interface `index`: `ip` is at `mac`.
    /// Permanent entries are not counted against the neighbour table's gc
    /// thresholds (Linux 5.0 on), which all namespaces share: with dynamic ones a
    /// thousand containers overflowed it. An entry already there for `ip` (a
    /// reused address) is replaced.
    pub fn set_neighbour(
        &mut self,
        index: u32,
        ip: Ipv4Addr,
        mac: [u8; 6],
    ) -> Result<(), RtnlError> {
        let mut neigh = neighbour(index, ip);
        neigh.header.state = NeighbourState::Permanent;
        neigh
            .attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        let what = format!("adding the neighbour entry {ip} on interface {index}");
        self.request(
            &what,
            RouteNetlinkMessage::NewNeighbour(neigh),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    /// Deletes the neighbour entry for `ip` on interface `index`; none is fine.
    pub fn delete_neighbour(&mut self, index: u32, ip: Ipv4Addr) -> Result<(), RtnlError> {
        let what = format!("deleting the neighbour entry {ip} on interface {index}");
        let msg = RouteNetlinkMessage::DelNeighbour(neighbour(index, ip));
        match self.request(&what, msg, 0) {
            Err(e) if e.errno() == Some(libc::ENOENT) => Ok(()),
            other => other,
        }
    }

    /// Sets IFF_UP on interface `index`.
    pub fn set_up(&mut self, index: u32) -> Result<(), RtnlError> {
        let mut link = LinkMessage::default();
        link.header.index = index;
        link.header.flags = LinkFlags::Up;
        link.header.change_mask = LinkFlags::Up;
        let what = format!("bringing up interface {index}");
        self.request(&what, RouteNetlinkMessage::SetLink(link), 0)
    }

    pub fn add_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> Result<(), RtnlError> {
        let mut addr = AddressMessage::default();
        addr.header.family = AddressFamily::Inet;
        addr.header.prefix_len = prefix;
        addr.header.index = index;
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        let broadcast = Ipv4Addr::from(u32::from(ip) | !mask);
        addr.attributes = vec![
            AddressAttribute::Local(IpAddr::V4(ip)),
            AddressAttribute::Address(IpAddr::V4(ip)),
            AddressAttribute::Broadcast(broadcast),
        ];
        let what = format!("adding address {ip}/{prefix}");
        self.request(
            &what,
            RouteNetlinkMessage::NewAddress(addr),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<(), RtnlError> {
        let mut route = RouteMessage::default();
        route.header.address_family = AddressFamily::Inet;
        route.header.table = RouteHeader::RT_TABLE_MAIN;
        route.header.protocol = RouteProtocol::Boot;
        route.header.scope = RouteScope::Universe;
        route.header.kind = RouteType::Unicast;
        route.attributes = vec![RouteAttribute::Gateway(RouteAddress::Inet(gateway))];
        let what = format!("adding the default route via {gateway}");
        self.request(
            &what,
            RouteNetlinkMessage::NewRoute(route),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Deletes interface `name`; one that is already gone is not an error.
    pub fn delete_link(&mut self, name: &str) -> Result<(), RtnlError> {
        self.delete_link_if_present(name).map(|_| ())
    }

    /// Deletes the interface `name`; false when there was none.
    pub fn delete_link_if_present(&mut self, name: &str) -> Result<bool, RtnlError> {
        let mut link = LinkMessage::default();
        link.attributes = vec![LinkAttribute::IfName(name.into())];
        let what = format!("deleting interface {name}");
        match self.request(&what, RouteNetlinkMessage::DelLink(link), 0) {
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(false),
            other => other.map(|()| true),
        }
    }
}

fn neighbour(index: u32, ip: Ipv4Addr) -> NeighbourMessage {
    let mut neigh = NeighbourMessage::default();
    neigh.header.family = AddressFamily::Inet;
    neigh.header.ifindex = index;
    neigh.attributes = vec![NeighbourAttribute::Destination(NeighbourAddress::Inet(ip))];
    neigh
}

/// A random locally administered unicast MAC address.
pub fn random_mac() -> [u8; 6] {
    let mut mac = [0u8; 6];
    getrandom::getrandom(&mut mac).expect("the kernel's random source is available");
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}

/// A bound netlink socket for `protocol`. Replies come at once; one that never
/// does (a kernel without the subsystem) must not hang a monitor, so reads give
/// up after 2 s.
pub(crate) fn netlink_socket(protocol: isize) -> std::io::Result<Socket> {
    let mut socket = Socket::new(protocol)?;
    socket.bind_auto()?;
    let timeout = libc::timeval {
        tv_sec: 2,
        tv_usec: 0,
    };
    // SAFETY: setsockopt with a correctly sized timeval on our own socket.
    let set = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        )
    };
    if set != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(socket)
}

/// Runs `f` in the network namespace `netns` (an open /proc/PID/ns/net) and
/// steps back: a socket stays in the namespace it was made in, and /proc/sys/net
/// files opened meanwhile are that namespace's (`Rtnl::open` inside gives a socket
/// for the container's links). Only this thread moves, so `f` must not hand work
/// to others.
pub fn in_netns<T>(netns: RawFd, f: impl FnOnce() -> T) -> Result<T, RtnlError> {
    let own = std::fs::File::open("/proc/self/ns/net").map_err(RtnlError::Netns)?;
    setns(netns)?;
    let out = f();
    setns(own.as_raw_fd()).expect("returning to this thread's own network namespace cannot fail");
    Ok(out)
}

fn setns(fd: RawFd) -> Result<(), RtnlError> {
    // SAFETY: setns on a namespace fd the caller keeps open.
    if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
        return Err(RtnlError::Netns(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// "02:42:ac:11:00:02" as bytes.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in out.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        assert_eq!(
            parse_mac("02:42:ac:11:00:0a"),
            Some([2, 0x42, 0xac, 0x11, 0, 0x0a])
        );
        assert_eq!(parse_mac("02:42:ac:11:00"), None);
        assert_eq!(parse_mac("02:42:ac:11:00:0a:0b"), None);
        assert_eq!(parse_mac("zz:42:ac:11:00:0a"), None);
    }

    #[test]
    fn random_macs_are_locally_administered_unicast_and_differ() {
        let (a, b) = (random_mac(), random_mac());
        assert_eq!(a[0] & 0x03, 0x02, "{a:02x?}");
        assert_eq!(b[0] & 0x03, 0x02, "{b:02x?}");
        assert_ne!(a, b);
    }

    #[test]
    fn neighbour_requests_name_an_ipv4_destination_on_the_interface() {
        let n = neighbour(7, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(n.header.family, AddressFamily::Inet);
        assert_eq!(n.header.ifindex, 7);
        assert_eq!(
            n.attributes,
            vec![NeighbourAttribute::Destination(NeighbourAddress::Inet(
                Ipv4Addr::new(10, 0, 0, 2)
            ))]
        );
    }
}
