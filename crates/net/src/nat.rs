//! berth's own nftables table. Published ports are elements of DNAT maps and
//! networks are elements of sets, so plugging a container in or out is one `nft`
//! call that adds or deletes elements — no rule listing, no handles:
//!
//! * prerouting (traffic from other hosts) and output (the host's own connections,
//!   127.0.0.1 included) DNAT through `ports` (any local address) and `ports_ip`
//!   (one host address);
//! * postrouting masquerades a network's subnet leaving by another interface, and
//!   host-loopback sources entering a berth bridge.
//!
//! Nothing outside this table is touched.

use crate::cmd::{nft, CmdError};
use crate::ports::PortMapping;
use crate::store::Network;
use std::net::Ipv4Addr;

fn base(table: &str) -> String {
    format!(
        "add table ip {table}
add set ip {table} nets {{ type ipv4_addr; flags interval; }}
add set ip {table} bridges {{ type ifname; }}
add map ip {table} ports {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
add map ip {table} ports_ip {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }}
add chain ip {table} prerouting {{ type nat hook prerouting priority -100; policy accept; }}
add chain ip {table} output {{ type nat hook output priority -100; policy accept; }}
add chain ip {table} postrouting {{ type nat hook postrouting priority 100; policy accept; }}
"
    )
}

/// The rules, added once when the table is new (they only consult the sets and maps).
fn rules(table: &str) -> String {
    let mut s = String::new();
    for chain in ["prerouting", "output"] {
        s.push_str(&format!("add rule ip {table} {chain} dnat ip to ip daddr . meta l4proto . th dport map @ports_ip\n"));
        s.push_str(&format!("add rule ip {table} {chain} fib daddr type local dnat ip to meta l4proto . th dport map @ports\n"));
    }
    s.push_str(&format!(
        "add rule ip {table} postrouting ip saddr @nets oifname != @bridges masquerade\n"
    ));
    s.push_str(&format!(
        "add rule ip {table} postrouting oifname @bridges ip saddr 127.0.0.0/8 masquerade\n"
    ));
    s
}

fn port_elements(
    ip: Ipv4Addr,
    ports: &[PortMapping],
    with_value: bool,
) -> (Vec<String>, Vec<String>) {
    let (mut any, mut one) = (Vec::new(), Vec::new());
    for p in ports {
        let value = if with_value {
            format!(" : {ip} . {}", p.container_port)
        } else {
            String::new()
        };
        match p.host_ip {
            Some(h) => one.push(format!(
                "{h} . {} . {}{value}",
                p.proto.as_str(),
                p.host_port
            )),
            None => any.push(format!("{} . {}{value}", p.proto.as_str(), p.host_port)),
        }
    }
    (any, one)
}

/// One script that makes sure the table exists, adds the network when its bridge
/// is new, and publishes the container's ports.
pub fn plug(
    table: &str,
    table_is_new: bool,
    new_network: Option<&Network>,
    ip: Ipv4Addr,
    ports: &[PortMapping],
) -> Result<(), CmdError> {
    let mut script = base(table);
    if table_is_new {
        script.push_str(&rules(table));
    }
    if let Some(n) = new_network {
        script.push_str(&format!("add element ip {table} nets {{ {} }}\n", n.subnet));
        script.push_str(&format!(
            "add element ip {table} bridges {{ \"{}\" }}\n",
            n.bridge
        ));
    }
    let (any, one) = port_elements(ip, ports, true);
    if !any.is_empty() {
        script.push_str(&format!(
            "add element ip {table} ports {{ {} }}\n",
            any.join(", ")
        ));
    }
    if !one.is_empty() {
        script.push_str(&format!(
            "add element ip {table} ports_ip {{ {} }}\n",
            one.join(", ")
        ));
    }
    nft(&script).map(|_| ())
}

/// Removes a container's ports, the network when its bridge goes, or the whole
/// table when nothing of berth's is left. Best effort: missing elements are fine.
pub fn unplug(
    table: &str,
    ports: &[PortMapping],
    ip: Ipv4Addr,
    gone_network: Option<&Network>,
    drop_table: bool,
) {
    if drop_table {
        let _ = nft(&format!("delete table ip {table}\n"));
        return;
    }
    let mut script = String::new();
    let (any, one) = port_elements(ip, ports, false);
    for e in any {
        script.push_str(&format!("delete element ip {table} ports {{ {e} }}\n"));
    }
    for e in one {
        script.push_str(&format!("delete element ip {table} ports_ip {{ {e} }}\n"));
    }
    if let Some(n) = gone_network {
        script.push_str(&format!(
            "delete element ip {table} nets {{ {} }}\n",
            n.subnet
        ));
        script.push_str(&format!(
            "delete element ip {table} bridges {{ \"{}\" }}\n",
            n.bridge
        ));
    }
    if script.is_empty() || nft(&script).is_ok() {
        return;
    }
    // Something was already gone (a crash half-way); do each on its own.
    for line in script.lines() {
        let _ = nft(&format!("{line}\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Proto;

    #[test]
    fn elements_for_any_and_one_address() {
        let ports = [
            PortMapping {
                host_ip: None,
                host_port: 8080,
                container_port: 80,
                proto: Proto::Tcp,
            },
            PortMapping {
                host_ip: Some(Ipv4Addr::LOCALHOST),
                host_port: 5353,
                container_port: 53,
                proto: Proto::Udp,
            },
        ];
        let (any, one) = port_elements(Ipv4Addr::new(10, 88, 0, 2), &ports, true);
        assert_eq!(any, vec!["tcp . 8080 : 10.88.0.2 . 80"]);
        assert_eq!(one, vec!["127.0.0.1 . udp . 5353 : 10.88.0.2 . 53"]);
        let (any, _) = port_elements(Ipv4Addr::new(10, 88, 0, 2), &ports, false);
        assert_eq!(any, vec!["tcp . 8080"]);
    }
}
