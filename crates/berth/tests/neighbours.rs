//! Permanent neighbour (ARP) entries on bridge networks: the host's entry for each
//! container and each container's for its gateway are NUD_PERMANENT, which the
//! kernel does not count against its gc thresholds (gc_thresh3 is shared by all
//! namespaces: with ~1000 containers dynamic entries overflowed and pings went
//! unanswered). They follow the container's MAC across restarts and are gone
//! from the host once the container has left the network.

use berth_testkit::Berth;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar", "ip"])
}

/// The host's permanent neighbour entry for `ip`, as "DEV MAC".
fn host_entry(ip: &str) -> Option<String> {
    let out = Command::new("ip")
        .args(["-4", "neigh", "show", ip, "nud", "permanent"])
        .output()
        .expect("ip neigh");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with(&format!("{ip} ")))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |key: &str| {
        let i = words.iter().position(|w| *w == key)?;
        words.get(i + 1).map(|s| s.to_string())
    };
    Some(format!("{} {}", after("dev")?, after("lladdr")?))
}

/// The container's permanent ARP entry for `ip` ("MAC DEV"): /proc/net/arp
/// marks one with flags 0x6 (ATF_COM | ATF_PERM).
fn container_entry(b: &Berth, c: &str, ip: &str) -> Option<String> {
    let arp = b.ok(&["exec", c, "cat", "/proc/net/arp"]);
    arp.lines().find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        (w.len() >= 6 && w[0] == ip && w[2] == "0x6").then(|| format!("{} {}", w[3], w[5]))
    })
}

fn mac_in(b: &Berth, c: &str, interface: &str) -> String {
    b.ok(&[
        "exec",
        c,
        "cat",
        &format!("/sys/class/net/{interface}/address"),
    ])
}

/// The container's address on each network, by network name.
fn addresses(b: &Berth, c: &str) -> Vec<(String, String)> {
    let out = b.ok(&[
        "inspect",
        "-f",
        "{{range $name, $n := .NetworkSettings.Networks}}{{$name}}={{$n.IPAddress}} {{end}}",
        c,
    ]);
    out.split_whitespace()
        .filter_map(|p| p.split_once('='))
        .map(|(n, ip)| (n.to_string(), ip.to_string()))
        .collect()
}

fn ip_on(b: &Berth, c: &str, network: &str) -> String {
    addresses(b, c)
        .into_iter()
        .find(|(n, _)| n == network)
        .unwrap_or_else(|| panic!("{c} has no address on {network}"))
        .1
}

fn gateway_of(subnet: &str) -> String {
    let base = subnet.split('/').next().unwrap();
    let (head, _) = base.rsplit_once('.').unwrap();
    format!("{head}.1")
}

fn bridge_mac(bridge: &str) -> String {
    std::fs::read_to_string(format!("/sys/class/net/{bridge}/address"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn default_bridge_entries_are_permanent_and_follow_the_container() {
    let Some(b) = env() else { return };
    b.ok(&["run", "-d", "--name", "n1", "busybox", "sleep", "600"]);
    let ip = ip_on(&b, "n1", "bridge");
    let mac = mac_in(&b, "n1", "eth0");
    assert_eq!(
        host_entry(&ip),
        Some(format!("{} {mac}", b.bridge)),
        "the host has a permanent entry for the container on its bridge"
    );
    let gateway = gateway_of(&b.subnet);
    assert_eq!(
        container_entry(&b, "n1", &gateway),
        Some(format!("{} eth0", bridge_mac(&b.bridge))),
        "the container has a permanent entry for its gateway"
    );
    // A second container on the bridge does not change the bridge's MAC (a
    // bridge without a set address takes its lowest port's), which the first
    // container's entry holds.
    b.ok(&["run", "-d", "--name", "n2", "busybox", "sleep", "600"]);
    assert_eq!(
        container_entry(&b, "n1", &gateway),
        Some(format!("{} eth0", bridge_mac(&b.bridge)))
    );
    b.ok(&["exec", "n1", "ping", "-c", "1", "-W", "5", &gateway]);

    b.ok(&["stop", "-t", "1", "n1"]);
    assert_eq!(host_entry(&ip), None, "stop removes the host's entry");
    // A restart gets a new MAC, and the entry follows it.
    b.ok(&["start", "n1"]);
    let ip = ip_on(&b, "n1", "bridge");
    let new_mac = mac_in(&b, "n1", "eth0");
    assert_ne!(new_mac, mac, "a new interface, a new MAC");
    assert_eq!(host_entry(&ip), Some(format!("{} {new_mac}", b.bridge)));
    b.ok(&["rm", "-f", "n1"]);
    assert_eq!(host_entry(&ip), None, "rm -f removes the host's entry");
    let ip2 = ip_on(&b, "n2", "bridge");
    b.ok(&["rm", "-f", "n2"]);
    assert_eq!(host_entry(&ip2), None);
}

#[test]
fn mac_address_flag_is_the_entrys_mac() {
    let Some(b) = env() else { return };
    let mac = "02:42:0a:01:02:03";
    b.ok(&[
        "run",
        "-d",
        "--name",
        "m",
        "--mac-address",
        mac,
        "busybox",
        "sleep",
        "600",
    ]);
    let ip = ip_on(&b, "m", "bridge");
    assert_eq!(mac_in(&b, "m", "eth0"), mac);
    assert_eq!(host_entry(&ip), Some(format!("{} {mac}", b.bridge)));
    b.ok(&["restart", "-t", "1", "m"]);
    let ip = ip_on(&b, "m", "bridge");
    assert_eq!(host_entry(&ip), Some(format!("{} {mac}", b.bridge)));
    b.ok(&["rm", "-f", "m"]);
    assert_eq!(host_entry(&ip), None);
}

#[test]
fn network_connect_adds_entries_and_disconnect_removes_them() {
    let Some(b) = env() else { return };
    let net = format!("nb{}", std::process::id() % 100000);
    let subnet = format!("10.199.{}.0/24", std::process::id() % 250);
    b.ok(&["network", "create", "--subnet", &subnet, &net]);
    b.ok(&["run", "-d", "--name", "c", "busybox", "sleep", "600"]);
    b.ok(&["network", "connect", &net, "c"]);
    let ip = ip_on(&b, "c", &net);
    let mac = mac_in(&b, "c", "eth1");
    let entry = host_entry(&ip).expect("a permanent host entry on the user network");
    let (dev, lladdr) = entry.split_once(' ').unwrap();
    assert_eq!(lladdr, mac);
    assert_ne!(dev, b.bridge, "on the user network's bridge");
    let gateway = gateway_of(&subnet);
    assert_eq!(
        container_entry(&b, "c", &gateway),
        Some(format!("{} eth1", bridge_mac(dev)))
    );
    b.ok(&["network", "disconnect", &net, "c"]);
    assert_eq!(host_entry(&ip), None, "disconnect removes the host's entry");
    b.ok(&["rm", "-f", "c"]);
    b.ok(&["network", "rm", &net]);
}

/// A monitor killed with SIGKILL cleans nothing up: the host's entry for its
/// container's address must still go when the container is removed (and its
/// overlay with the monitor's mount namespace: the testkit checks no mount is
/// left), before another container can be given that address.
#[test]
fn a_killed_monitors_entry_goes_with_its_container() {
    let Some(b) = env() else { return };
    // Keeps the bridge up: an idle bridge is removed, entries and all.
    b.ok(&["run", "-d", "--name", "keeper", "busybox", "sleep", "600"]);
    b.ok(&["run", "-d", "--name", "k", "busybox", "sleep", "600"]);
    let ip = ip_on(&b, "k", "bridge");
    assert!(host_entry(&ip).is_some(), "no host entry for {ip}");
    let id = b.ok(&["inspect", "-f", "{{.Id}}", "k"]);
    // Right after `run -d` k's init may not have executed `sleep` yet: forked
    // from the monitor, it still shows the monitor's command line.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let monitor = loop {
        let found: Vec<i32> = berth_testkit::monitor_processes(&b.root)
            .into_iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&id))
            })
            .collect();
        if found.len() == 1 || std::time::Instant::now() > deadline {
            assert_eq!(found.len(), 1, "k's monitor: {found:?}");
            break found[0];
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // SAFETY: kill(2) on the monitor of this test's own container.
    assert_eq!(unsafe { libc::kill(monitor, libc::SIGKILL) }, 0);
    b.ok(&["rm", "-f", "k"]);
    assert_eq!(host_entry(&ip), None, "rm -f left the dead monitor's entry");
    b.ok(&["rm", "-f", "keeper"]);
}
