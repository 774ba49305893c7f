//! berth's own nftables table. Published ports are elements of DNAT maps and
//! networks are elements of sets, so plugging a container in or out is one
//! netlink transaction that adds or deletes elements — no rules, no handles:
//!
//! * prerouting (traffic from other hosts) and output (the host's own connections,
//!   127.0.0.1 included) DNAT through `ports` (any local address) and `ports_ip`
//!   (one host address);
//! * postrouting masquerades a network's subnet leaving by another interface, and
//!   host-loopback sources entering a berth bridge;
//! * the filter chains of `filter`: only published ports reach containers from
//!   outside, networks are isolated from each other, and 127.0.0.0/8 stays local.
//!
//! Nothing outside this table is touched.

use crate::cmd::{nft, CmdError};
use crate::filter;
use crate::nfnl::{self, Nfnl, NfnlError};
use crate::ports::PortMapping;
use crate::store::Network;
use std::net::Ipv4Addr;

#[derive(Debug, thiserror::Error)]
pub enum NatError {
    #[error(transparent)]
    Cmd(#[from] CmdError),
    #[error(transparent)]
    Nfnl(#[from] NfnlError),
}

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
{}",
        filter::chains(table)
    )
}

/// The rules, added once when the table is new (they only consult the sets and maps).
fn rules(table: &str) -> String {
    // Packets for 127.0.0.0/8 that arrive from outside are martians: DNAT'ing
    // them would put a port published on 127.0.0.1 on every interface. The host's
    // own connections to 127.0.0.1 are DNAT'ed in output.
    let mut s = format!("add rule ip {table} prerouting ip daddr 127.0.0.0/8 return\n");
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
    s.push_str(&filter::rules(table));
    s
}

/// nft's spelling of the port elements, for the script that builds a new table.
fn port_elements_text(ip: Ipv4Addr, ports: &[PortMapping]) -> (Vec<String>, Vec<String>) {
    let (mut any, mut one) = (Vec::new(), Vec::new());
    for p in ports {
        let value = format!(" : {ip} . {}", p.container_port);
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

/// The script that makes sure the table exists (with its rules when `with_rules`)
/// and holds `networks`. Every statement is an `add`, so running it over what
/// exists changes nothing, except that rules would be added twice.
pub fn table_script(table: &str, with_rules: bool, networks: &[&Network]) -> String {
    let mut script = base(table);
    if with_rules {
        script.push_str(&rules(table));
    }
    for n in networks {
        for element in network_elements(n) {
            script.push_str(&format!("add element ip {table} {element}\n"));
        }
    }
    script
}

/// Publishes a container's ports: elements of the port maps, over netlink.
pub fn add_ports(table: &str, ip: Ipv4Addr, ports: &[PortMapping]) -> Result<(), NatError> {
    let elements = nfnl::port_elements(ip, ports);
    if elements.is_empty() {
        return Ok(());
    }
    Ok(Nfnl::open()?.add_elements(table, &elements)?)
}

/// Builds the whole table, networks and ports in one `nft` run: the way back
/// when the table berth thought it had is gone or incomplete.
pub fn rebuild(
    table: &str,
    networks: &[&Network],
    ip: Ipv4Addr,
    ports: &[PortMapping],
) -> Result<(), NatError> {
    let exists = Nfnl::open()?.ip_tables()?.iter().any(|t| t == table);
    let mut script = table_script(table, !exists, networks);
    let (any, one) = port_elements_text(ip, ports);
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
    Ok(nft(&script).map(|_| ())?)
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
    let Ok(mut nfnl) = Nfnl::open() else { return };
    if drop_table {
        let _ = nfnl.delete_table(table);
        return;
    }
    let elements = nfnl::port_elements(ip, ports);
    if nfnl.delete_elements(table, &elements).is_err() {
        // Something was already gone (a crash half-way), which refuses the whole
        // transaction; delete each on its own.
        for e in &elements {
            let _ = nfnl.delete_elements(table, std::slice::from_ref(e));
        }
    }
    if let Some(n) = gone_network {
        let elements = network_elements(n);
        let all: String = elements
            .iter()
            .map(|e| format!("delete element ip {table} {e}\n"))
            .collect();
        if nft(&all).is_err() {
            // One was missing, which refuses the whole script.
            for e in &elements {
                let _ = nft(&format!("delete element ip {table} {e}\n"));
            }
        }
    }
}

/// A network's elements: its subnet (masqueraded), its bridge (filtered) and
/// the pair that lets its traffic stay on the bridge.
fn network_elements(n: &Network) -> [String; 3] {
    [
        format!("nets {{ {} }}", n.subnet),
        format!("bridges {{ \"{}\" }}", n.bridge),
        filter::pair_element(&n.bridge),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_from_outside_for_loopback_are_not_dnated() {
        let rules = rules("t");
        let skip = rules
            .find("prerouting ip daddr 127.0.0.0/8 return")
            .expect("the loopback return");
        let first_dnat = rules.find("prerouting dnat").expect("a DNAT rule");
        assert!(skip < first_dnat, "{rules}");
        assert!(
            !rules.contains("output ip daddr 127.0.0.0/8 return"),
            "the host's own connections to 127.0.0.1 are published"
        );
    }

    #[test]
    fn a_network_brings_its_subnet_bridge_and_pair() {
        let subnet = crate::ipam::Subnet::parse("10.88.0.0/16").unwrap();
        let n = Network {
            name: "bridge".into(),
            id: "0".repeat(64),
            bridge: "berth0".into(),
            subnet,
            gateway: subnet.gateway(),
            created: "0".into(),
        };
        let script = table_script("t", false, &[&n]);
        for element in [
            "add element ip t nets { 10.88.0.0/16 }",
            "add element ip t bridges { \"berth0\" }",
            "add element ip t bridge_pairs { \"berth0\" . \"berth0\" }",
        ] {
            assert!(script.lines().any(|l| l == element), "{script}");
        }
        assert!(!script.contains("add rule"), "rules only for a new table");
    }

    #[test]
    fn elements_for_any_and_one_address() {
        let ports = crate::ports::sample_ports();
        let (any, one) = port_elements_text(Ipv4Addr::new(10, 88, 0, 2), &ports);
        assert_eq!(any, vec!["tcp . 8080 : 10.88.0.2 . 80"]);
        assert_eq!(one, vec!["127.0.0.1 . udp . 5353 : 10.88.0.2 . 53"]);
    }
}
