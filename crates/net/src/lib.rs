//! berth-net: bridge networks for containers — IPAM, veth pairs, NAT, published
//! ports and filtering in berth's own nftables table, /etc/hosts and /etc/resolv.conf.
//!
//! One departure from DESIGN.md's "everything berth creates is removed when the
//! container goes": a network's bridge (and, with the last network, berth's nft
//! table and the ip_forward setting) outlives its last container by
//! `NetConfig::linger` (2 s, `BERTH_NET_LINGER_MS`) and is then removed by that
//! container's monitor. Making and deleting a bridge per `run --rm` cost tens of
//! milliseconds and held the kernel's rtnl lock while the next container started.
//! A monitor killed while it lingers leaves the bridge until the next command that
//! lists all containers (`ps`, `system prune`): it holds a per-network linger lock
//! while it sleeps, and `network::reclaim_abandoned` removes the idle bridges
//! nobody holds it for.
//!
//! A network's lifetime is serialized by one flock (`net-lifetime.lock` under the
//! run root): a container being plugged in holds it shared (`network::attaching`),
//! from before it probes for its bridge and berth's table until its ports are
//! published; a teardown holds it exclusively and re-checks "still idle?" under
//! it. So a lingering teardown and a new container never interleave, however the
//! timing falls: the container either finds the network removed and makes it
//! again, or the teardown finds it in use and leaves it.

pub mod cmd;
pub mod dns;
pub mod files;
pub mod filter;
pub mod ipam;
pub mod nat;
pub mod network;
pub mod nfnl;
pub mod plumbing;
pub mod ports;
pub mod rtnl;
pub mod store;
pub mod sysctl;

pub use network::{Attachment, NetConfig, NetError, DEFAULT_NETWORK};
pub use ports::{parse_publish, PortMapping, Proto};
