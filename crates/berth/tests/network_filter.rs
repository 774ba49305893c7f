//! berth's table filters, tried as an attacker would: a neighbour that routes to
//! the bridge subnet through this host, containers on other networks, a neighbour
//! that sends to 127.0.0.1 through this host, and a container that routes
//! 127.0.0.1 through its gateway to reach the host's loopback-only services.
//! "Neighbours" are the testkit's `TestHost` namespaces; nothing leaves the machine.

use berth_testkit::{stderr, stdout, wait_http, Berth, TestHost};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar", "ip", "nft", "nsenter", "cc"])
}

/// A host port unlikely to clash with other tests running at the same time.
fn port(k: u16) -> u16 {
    41000 + (std::process::id() % 1500) as u16 * 10 + k
}

const PAGE: &str = "mkdir -p /www && echo hello-from-berth > /www/index.html";

/// Serves the page on port 80 (and on `extra` too, when given).
fn httpd(extra: Option<u16>) -> String {
    match extra {
        Some(p) => format!("{PAGE} && httpd -p {p} -h /www && exec httpd -f -p 80 -h /www"),
        None => format!("{PAGE} && exec httpd -f -p 80 -h /www"),
    }
}

/// `wget URL` from the neighbour: the page, or "" when it cannot be fetched.
fn fetch_from(host: &TestHost, url: &str) -> String {
    let out = host.run(&[
        "busybox", "timeout", "3", "busybox", "wget", "-q", "-O", "-", url,
    ]);
    stdout(&out).trim().to_string()
}

/// `wget URL` in a running container, `tries` times at most: the page or "".
fn fetch_in(b: &Berth, container: &str, url: &str, tries: u32) -> String {
    let script = format!(
        "for i in $(seq {tries}); do timeout 3 wget -q -O - {url} && exit 0; sleep 0.2; done; exit 1"
    );
    stdout(&b.run(&["exec", container, "sh", "-c", &script]))
        .trim()
        .to_string()
}

fn ip_of(b: &Berth, container: &str) -> String {
    b.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", container])
}

fn sh_in(host: &TestHost, script: &str) {
    let out = host.run(&["sh", "-c", script]);
    assert!(out.status.success(), "{script}: {}", stderr(&out));
}

#[test]
fn a_neighbour_reaches_published_ports_only() {
    let Some(b) = env() else { return };
    let published = port(1);
    let map = format!("{published}:80");
    b.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &map,
        "busybox",
        "sh",
        "-c",
        &httpd(Some(8081)),
    ]);
    assert!(wait_http(&format!("127.0.0.1:{published}")).contains("hello-from-berth"));
    let ip = ip_of(&b, "web");
    // The neighbour routes the container subnet through this host, as a machine
    // on the same LAN can.
    let other = TestHost::new();
    sh_in(
        &other,
        &format!("ip route add {} via {}", b.subnet, other.host_ip),
    );
    let through_port = format!("http://{}:{published}/index.html", other.host_ip);
    assert_eq!(fetch_from(&other, &through_port), "hello-from-berth");
    for unpublished in [
        format!("http://{ip}:8081/index.html"),
        format!("http://{ip}:80/index.html"),
    ] {
        assert_eq!(
            fetch_from(&other, &unpublished),
            "",
            "the neighbour reached {unpublished}, which is not published"
        );
    }
    // Published still works after the refusals.
    assert_eq!(fetch_from(&other, &through_port), "hello-from-berth");
    b.ok(&["rm", "-f", "web"]);
}

#[test]
fn user_networks_are_isolated_from_each_other() {
    let Some(b) = env() else { return };
    let tag = std::process::id();
    let (net_a, net_b) = (format!("fa{tag}"), format!("fb{tag}"));
    b.ok(&["network", "create", &net_a]);
    b.ok(&["network", "create", &net_b]);
    for (name, net) in [
        ("a1", net_a.as_str()),
        ("a2", net_a.as_str()),
        ("b1", net_b.as_str()),
        ("d1", "bridge"),
    ] {
        b.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            net,
            "busybox",
            "sh",
            "-c",
            &httpd(None),
        ]);
    }
    let ip = |c: &str| ip_of(&b, c);
    let url = |c: &str| format!("http://{}/index.html", ip(c));
    for server in ["a1", "b1", "d1"] {
        // Up (the host reaches every network), so a refusal below is the filter's.
        assert!(wait_http(&format!("{}:80", ip(server))).contains("hello-from-berth"));
    }
    assert_eq!(
        fetch_in(&b, "a2", &url("a1"), 3),
        "hello-from-berth",
        "same network"
    );
    for (from, to) in [("a2", "b1"), ("b1", "a1"), ("a1", "d1"), ("d1", "b1")] {
        assert_eq!(
            fetch_in(&b, from, &url(to), 1),
            "",
            "{from} reached {to} on another network"
        );
    }
    // Everyone still goes out.
    let other = TestHost::new();
    let server = other.serve("outside-server\n", 8000);
    let outside = format!("http://{}:8000/index.html", other.ip);
    for c in ["a1", "b1", "d1"] {
        assert_eq!(
            fetch_in(&b, c, &outside, 3),
            "outside-server",
            "{c} going out"
        );
    }
    drop(server);
    b.ok(&["rm", "-f", "a1", "a2", "b1", "d1"]);
    b.wait_monitors_gone();
    b.ok(&["network", "rm", &net_a, &net_b]);
}

#[test]
fn a_port_published_on_loopback_stays_loopback() {
    let Some(b) = env() else { return };
    let (local, any) = (port(2), port(3));
    let local_map = format!("127.0.0.1:{local}:80");
    let any_map = format!("{any}:80");
    b.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &local_map,
        "-p",
        &any_map,
        "busybox",
        "sh",
        "-c",
        &httpd(None),
    ]);
    assert!(wait_http(&format!("127.0.0.1:{local}")).contains("hello-from-berth"));
    // The neighbour sends to 127.0.0.1 through this host: its own loopback
    // routes go, and it accepts the replies coming from 127.0.0.1 on its link.
    let other = TestHost::new();
    sh_in(
        &other,
        &format!(
            "ip route del local 127.0.0.0/8 dev lo table local && \
             ip route del local 127.0.0.1 dev lo table local && \
             ip route add 127.0.0.1/32 via {} && \
             echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet && \
             echo 1 > /proc/sys/net/ipv4/conf/all/accept_local",
            other.host_ip
        ),
    );
    let public = format!("http://{}:{any}/index.html", other.host_ip);
    assert_eq!(fetch_from(&other, &public), "hello-from-berth");
    for port in [local, any] {
        let url = format!("http://127.0.0.1:{port}/index.html");
        assert_eq!(
            fetch_from(&other, &url),
            "",
            "the neighbour reached the container through 127.0.0.1:{port}"
        );
    }
    assert!(wait_http(&format!("127.0.0.1:{local}")).contains("hello-from-berth"));
    b.ok(&["rm", "-f", "web"]);
}

#[test]
fn a_container_cannot_reach_the_hosts_loopback_services() {
    let Some(b) = env() else { return };
    // Host services: one on loopback only, one on every address (which
    // containers may reach through their gateway, as with docker).
    let loopback_only = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let everywhere = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    let lo_port = loopback_only.local_addr().unwrap().port();
    let any_port = everywhere.local_addr().unwrap().port();
    // tftp sends one UDP datagram holding the file name, and retries; a route of
    // its own sends 127.0.0.1 through the gateway instead of lo.
    let script = format!(
        "gw=$(ip route | awk '/^default/ {{print $3}}') && \
         ip route del local 127.0.0.0/8 dev lo table local && \
         ip route del local 127.0.0.1 dev lo table local && \
         ip route add 127.0.0.1/32 via $gw && \
         (timeout 2 tftp -g -r to-gateway $gw {any_port}; \
          timeout 2 tftp -g -r to-loopback 127.0.0.1 {lo_port}; true)"
    );
    b.sh(&["--cap-add", "NET_ADMIN"], &script);
    let received = |s: &std::net::UdpSocket| {
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut buf = [0u8; 512];
        s.recv_from(&mut buf)
            .map(|(n, _)| String::from_utf8_lossy(&buf[..n]).into_owned())
            .unwrap_or_default()
    };
    assert!(
        received(&everywhere).contains("to-gateway"),
        "the probe did not reach the host through the gateway at all"
    );
    let leaked = received(&loopback_only);
    assert!(
        leaked.is_empty(),
        "a container reached a service bound to the host's 127.0.0.1: {leaked:?}"
    );
}

#[test]
fn router_advertisements_are_ignored_on_berths_links() {
    let Some(b) = env() else { return };
    if !berth_testkit::require(
        "IPv6 (/proc/sys/net/ipv6)",
        std::path::Path::new("/proc/sys/net/ipv6").exists(),
    ) {
        return;
    }
    let net = format!("ra{}", std::process::id());
    let accept_ra = |link: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{link}/accept_ra"))
            .unwrap_or_else(|e| panic!("accept_ra of {link}: {e}"))
            .trim()
            .to_string()
    };
    // The container's settings are written from inside its namespace (through a
    // procfs of berth's own): the host's `default` is not theirs to change.
    let hosts_default = accept_ra("default");
    b.ok(&["network", "create", &net]);
    b.ok(&["run", "-d", "--name", "c", "busybox", "sleep", "300"]);
    b.ok(&["network", "connect", &net, "c"]);
    assert_eq!(
        accept_ra("default"),
        hosts_default,
        "the host's default changed"
    );
    let id = b.ok(&["inspect", "-f", "{{.Id}}", "c"]);
    let bridges = [b.bridge.clone(), network_bridge(&b, &net)];
    for bridge in &bridges {
        assert_eq!(accept_ra(bridge), "0", "bridge {bridge}");
    }
    let host_ends: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|l| l.starts_with(&format!("vb{}", &id[..10])))
        .collect();
    assert_eq!(host_ends.len(), 2, "{host_ends:?}");
    // berth's networks are IPv4 only: neither end of a veth speaks IPv6 (no
    // link-local address, DAD, MLD reports or router solicitations for the
    // bridge to flood to every other container), and each would ignore
    // advertisements should IPv6 come back; `default` inside ignores them on
    // links the container makes.
    let disabled = |link: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{link}/disable_ipv6"))
            .unwrap_or_else(|e| panic!("disable_ipv6 of {link}: {e}"))
            .trim()
            .to_string()
    };
    for link in &host_ends {
        assert_eq!(disabled(link), "1", "IPv6 on host end {link}");
        assert_eq!(accept_ra(link), "0", "host end {link}");
    }
    let inside = b.ok(&[
        "exec",
        "c",
        "cat",
        "/proc/sys/net/ipv6/conf/eth0/disable_ipv6",
        "/proc/sys/net/ipv6/conf/eth1/disable_ipv6",
        "/proc/sys/net/ipv6/conf/eth0/accept_ra",
        "/proc/sys/net/ipv6/conf/eth1/accept_ra",
        "/proc/sys/net/ipv6/conf/default/accept_ra",
    ]);
    assert_eq!(
        inside.split_whitespace().collect::<Vec<_>>(),
        ["1", "1", "0", "0", "0"]
    );
    let addresses = b.ok(&["exec", "c", "cat", "/proc/net/if_inet6"]);
    assert!(
        !addresses.contains("eth"),
        "IPv6 addresses inside: {addresses}"
    );
    b.ok(&["rm", "-f", "c"]);
    b.wait_monitors_gone();
    b.ok(&["network", "rm", &net]);
}

fn network_bridge(b: &Berth, net: &str) -> String {
    let json = b.ok(&["network", "inspect", net]);
    let start = json
        .find("br-")
        .expect("a br- bridge name in network inspect");
    json[start..start + 15].to_string()
}
