//! berth-net: bridge networks for containers — IPAM, veth pairs, NAT, published
//! ports and filtering in berth's own nftables table, /etc/hosts and /etc/resolv.conf.
//!
//! One departure from DESIGN.md's "everything berth creates is removed when the
//! container goes": a network's bridge (and, with the last network, berth's nft
//! table and the ip_forward setting) outlives its last container by
//! `NetConfig::linger` (2 s, `BERTH_NET_LINGER_MS`) and is then removed by that
//! container's monitor. Making and deleting a bridge per `run --rm` cost tens of
//! milliseconds and held the kernel's rtnl lock while the next container started.
//! A monitor killed while it lingers leaves the bridge until the next container on
//! that network exits or `berth system prune`.

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

pub use network::{Attachment, NetConfig, NetError, DEFAULT_NETWORK};
pub use ports::{parse_publish, PortMapping, Proto};
