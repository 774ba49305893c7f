//! berth-net: bridge networks for containers — IPAM, veth pairs, NAT and published
//! ports in berth's own nftables table, /etc/hosts and /etc/resolv.conf.

pub mod cmd;
pub mod files;
pub mod ipam;
pub mod nat;
pub mod network;
pub mod nfnl;
pub mod ports;
pub mod rtnl;
pub mod store;

pub use network::{Attachment, NetConfig, NetError, DEFAULT_NETWORK};
pub use ports::{parse_publish, PortMapping, Proto};
