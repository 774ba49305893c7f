//! berth's own nftables table: masquerade for each network's subnet, and DNAT for
//! published ports in prerouting (traffic from other hosts) and output (the host's
//! own connections, 127.0.0.1 included). Nothing outside this table is touched.

use crate::cmd::{nft, nft_list, CmdError};
use crate::ports::PortMapping;
use crate::store::Network;
use std::net::Ipv4Addr;

pub fn ensure_table(table: &str) -> Result<(), CmdError> {
    nft(&format!(
        "add table ip {table}
add chain ip {table} prerouting {{ type nat hook prerouting priority -100; policy accept; }}
add chain ip {table} output {{ type nat hook output priority -100; policy accept; }}
add chain ip {table} postrouting {{ type nat hook postrouting priority 100; policy accept; }}
"
    ))
    .map(|_| ())
}

pub fn delete_table(table: &str) {
    let _ = nft(&format!("delete table ip {table}\n"));
}

/// Outgoing NAT for a network, and for host-loopback connections DNAT'ed into it.
pub fn add_network_rules(table: &str, n: &Network) -> Result<(), CmdError> {
    remove_rules(table, &format!("net:{}", n.name));
    nft(&format!(
        "add rule ip {table} postrouting ip saddr {subnet} oifname != \"{br}\" masquerade comment \"net:{name}\"
add rule ip {table} postrouting oifname \"{br}\" ip saddr 127.0.0.0/8 masquerade comment \"net:{name}\"
",
        subnet = n.subnet,
        br = n.bridge,
        name = n.name
    ))
    .map(|_| ())
}

pub fn add_port_rules(
    table: &str,
    container: &str,
    ip: Ipv4Addr,
    ports: &[PortMapping],
) -> Result<(), CmdError> {
    if ports.is_empty() {
        return Ok(());
    }
    let mut script = String::new();
    for p in ports {
        let dst = match p.host_ip {
            Some(h) => format!("ip daddr {h}"),
            None => "fib daddr type local".to_string(),
        };
        for chain in ["prerouting", "output"] {
            script.push_str(&format!(
                "add rule ip {table} {chain} {dst} {proto} dport {hp} dnat to {ip}:{cp} comment \"ctr:{container}\"\n",
                proto = p.proto.as_str(),
                hp = p.host_port,
                cp = p.container_port
            ));
        }
    }
    nft(&script).map(|_| ())
}

/// Deletes every rule carrying `comment` (by handle).
pub fn remove_rules(table: &str, comment: &str) {
    let Ok(listing) = nft_list(&["-a", "list", "table", "ip", table]) else {
        return;
    };
    let mut chain = String::new();
    let mut script = String::new();
    let needle = format!("comment \"{comment}\"");
    for line in listing.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("chain ") {
            chain = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        } else if t.contains(&needle) {
            if let Some(handle) = t
                .rsplit("# handle ")
                .next()
                .filter(|_| t.contains("# handle "))
            {
                script.push_str(&format!(
                    "delete rule ip {table} {chain} handle {}\n",
                    handle.trim()
                ));
            }
        }
    }
    if !script.is_empty() {
        let _ = nft(&script);
    }
}

/// True when the table has no rules left for any container or network.
pub fn table_is_empty(table: &str) -> bool {
    nft_list(&["list", "table", "ip", table])
        .map(|l| !l.contains("comment \""))
        .unwrap_or(true)
}
