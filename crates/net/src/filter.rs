//! The filter half of berth's table: which traffic may reach a container and
//! what a container may send to the host. Text for `nft -f`, made once with the
//! table; networks join through set elements (`bridges`, `bridge_pairs`), so no
//! rule changes per container or per network.
//!
//! berth enables `ip_forward` and `route_localnet` on its bridges, which would
//! otherwise let anything through:
//!
//! * **Inbound** (`forward`, toward a berth bridge): replies to the containers'
//!   own connections, DNAT'ed flows (published ports) and traffic that stays on
//!   one bridge (seen here because `br_netfilter` hands bridged frames to the ip
//!   hooks) pass; anything else is dropped: a neighbour routing to the bridge
//!   subnet, and a container of another network — each network, the default
//!   bridge included, is isolated from the others, as docker's are.
//! * **Loopback stays loopback**: the nat table's prerouting leaves packets for
//!   127.0.0.0/8 alone (see `nat`), so a `-p 127.0.0.1:…` port is DNAT'ed only for
//!   the host's own connections (the output hook); a packet addressed to
//!   127.0.0.1 arriving on another interface stays a martian the kernel drops.
//! * **Martians from containers** (`martians`, at raw priority: before
//!   conntrack and NAT, so a legitimate reply to the host's 127.0.0.1 connection
//!   still carries the gateway address here): `route_localnet` is on for the
//!   bridges, so a container could otherwise address the host's 127.0.0.1
//!   services or spoof a 127.0.0.0/8 source.
//!
//! Every chain matches only berth's bridges and accepts everything else: the host
//! may have other tables (docker's, firewalld's) whose bridges must not suffer, and
//! an accept here decides nothing for them. Docker does the equivalent in
//! `DOCKER-ISOLATION-STAGE-1/2` and its `raw PREROUTING` drops for direct access.

/// Chains and sets, as `add` statements (harmless over an existing table).
pub fn chains(table: &str) -> String {
    format!(
        "add set ip {table} bridge_pairs {{ type ifname . ifname; }}
add chain ip {table} martians {{ type filter hook prerouting priority -300; policy accept; }}
add chain ip {table} forward {{ type filter hook forward priority 0; policy accept; }}
"
    )
}

/// The rules, added once when the table is new.
pub fn rules(table: &str) -> String {
    let martians = |m: &str| format!("add rule ip {table} martians iifname @bridges {m} drop\n");
    let forward = |r: &str| format!("add rule ip {table} forward {r}\n");
    [
        martians("ip saddr 127.0.0.0/8"),
        martians("ip daddr 127.0.0.0/8"),
        forward("oifname != @bridges accept"),
        forward("ct state established,related accept"),
        forward("ct status dnat accept"),
        forward("iifname . oifname @bridge_pairs accept"),
        forward("drop"),
    ]
    .concat()
}

/// The element that lets traffic stay on `bridge` (one network).
pub fn pair_element(bridge: &str) -> String {
    format!("bridge_pairs {{ \"{bridge}\" . \"{bridge}\" }}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_drop_is_limited_to_berths_bridges() {
        let rules = rules("berth");
        for rule in rules.lines().filter(|r| r.ends_with(" drop")) {
            let bounded = rule.contains("iifname @bridges")
                || rules
                    .lines()
                    .take_while(|r| *r != rule)
                    .any(|r| r.contains("forward oifname != @bridges accept"));
            assert!(bounded, "{rule} could drop the host's own traffic");
        }
    }

    #[test]
    fn inbound_passes_replies_published_ports_and_one_network_then_drops() {
        let rules = rules("t");
        let forward: Vec<&str> = rules
            .lines()
            .filter_map(|l| l.strip_prefix("add rule ip t forward "))
            .collect();
        assert_eq!(
            forward,
            [
                "oifname != @bridges accept",
                "ct state established,related accept",
                "ct status dnat accept",
                "iifname . oifname @bridge_pairs accept",
                "drop",
            ]
        );
        assert_eq!(pair_element("br0"), "bridge_pairs { \"br0\" . \"br0\" }");
    }
}
