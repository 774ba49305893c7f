//! Bridge networking against the real kernel: published TCP and UDP ports from the
//! host's loopback and from another host, NAT out, user networks with names, none
//! and host modes, port clashes, and many containers at once. "Other hosts" are
//! network namespaces made by the test; no traffic leaves this machine.

use berth_testkit::{host_links, stderr, wait_http, Berth, TestHost};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar", "ip", "nft", "nsenter", "cc"])
}

/// A host port unlikely to clash with other tests running at the same time.
fn port(k: u16) -> u16 {
    20000 + (std::process::id() % 2000) as u16 * 10 + k
}

const HTTPD: &str =
    "mkdir -p /www && echo hello-from-berth > /www/index.html && exec httpd -f -p 80 -h /www";

#[test]
fn published_ports_reach_from_loopback_other_hosts_and_udp() {
    let Some(b) = env() else { return };
    let (tcp, udp) = (port(1), port(2));
    let tcp_map = format!("{tcp}:80");
    let udp_map = format!("{udp}:5353/udp");
    b.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &tcp_map,
        "-p",
        &udp_map,
        "busybox",
        "sh",
        "-c",
        &format!("udp-echo 5353 & {HTTPD}"),
    ]);
    assert!(wait_http(&format!("127.0.0.1:{tcp}")).contains("hello-from-berth"));
    assert_eq!(b.ok(&["port", "web", "80"]), format!("0.0.0.0:{tcp}"));
    assert!(b
        .ok(&["ps", "--format", "{{.Ports}}"])
        .contains(&format!("0.0.0.0:{tcp}->80/tcp")));
    // From another host, to this host's address on the link between them.
    let other = TestHost::new();
    let out = other.run(&[
        "busybox",
        "timeout",
        "5",
        "busybox",
        "wget",
        "-q",
        "-O",
        "-",
        &format!("http://{}:{tcp}/index.html", other.host_ip),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "hello-from-berth",
        "{}",
        stderr(&out)
    );
    // UDP.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut reply = String::new();
    for _ in 0..20 {
        sock.send_to(b"ping", format!("127.0.0.1:{udp}")).unwrap();
        let mut buf = [0u8; 64];
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            reply = String::from_utf8_lossy(&buf[..n]).into_owned();
            break;
        }
    }
    assert_eq!(reply, "ping-echo");
}

#[test]
fn container_reaches_another_host_through_nat() {
    let Some(b) = env() else { return };
    let other = TestHost::new();
    let _server = other.serve("outside-server\n", 8000);
    std::thread::sleep(Duration::from_millis(200));
    let url = format!("http://{}:8000/index.html", other.ip);
    let got = b.sh(&[], &format!("for i in 1 2 3 4 5; do timeout 3 wget -q -O - {url} && exit 0; sleep 0.2; done; exit 1"));
    assert_eq!(got, "outside-server");
}

#[test]
fn user_network_names_none_and_host() {
    let Some(b) = env() else { return };
    let net = format!("tnet{}", std::process::id());
    b.ok(&["network", "create", &net]);
    b.ok(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        &net,
        "busybox",
        "sh",
        "-c",
        HTTPD,
    ]);
    b.ok(&[
        "run",
        "-d",
        "--name",
        "app",
        "--network",
        &net,
        "busybox",
        "sleep",
        "300",
    ]);
    let got = b.ok(&["exec", "app", "sh", "-c", "for i in 1 2 3 4 5; do timeout 3 wget -q -O - http://db/index.html && exit 0; sleep 0.2; done; exit 1"]);
    assert_eq!(got, "hello-from-berth");
    let hosts = b.ok(&["exec", "db", "cat", "/etc/hosts"]);
    assert!(
        hosts.lines().any(|l| l.ends_with("\tapp")),
        "db learns about app too: {hosts}"
    );
    assert!(b.ok(&["network", "ls", "-q"]).contains(&net));
    assert!(
        b.run(&["network", "rm", &net]).status.code() == Some(1),
        "a network in use is not removed"
    );
    let links = b.sh(&["--network", "none"], "ls /sys/class/net");
    assert_eq!(links, "lo");
    // IFF_UP | IFF_LOOPBACK: berth brings loopback up, as docker does.
    let flags = b.sh(&["--network", "none"], "cat /sys/class/net/lo/flags");
    assert_eq!(flags, "0x9", "lo is up in a --network none container");
    let host_links = b.sh(&["--network", "host"], "ls /sys/class/net");
    let mine: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        mine.iter()
            .any(|l| host_links.lines().any(|x| x == l) && l != "lo"),
        "host mode sees the host's interfaces: {host_links}"
    );
    b.ok(&["rm", "-f", "db", "app"]);
    b.ok(&["network", "rm", &net]);
}

#[test]
fn port_in_use_fails_cleanly() {
    let Some(b) = env() else { return };
    let p = port(3);
    let holder = std::net::TcpListener::bind(("0.0.0.0", p)).unwrap();
    let map = format!("{p}:80");
    let out = b.run(&[
        "run", "-d", "--name", "clash", "-p", &map, "busybox", "sleep", "300",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("already allocated"),
        "{}",
        stderr(&out)
    );
    assert!(b.ok(&["ps", "-q"]).is_empty(), "no container left running");
    drop(holder);
    // And a port berth itself published is refused to the next container.
    b.ok(&[
        "run", "-d", "--name", "first", "-p", &map, "busybox", "sleep", "300",
    ]);
    let second = b.run(&[
        "run", "-d", "--name", "second", "-p", &map, "busybox", "sleep", "300",
    ]);
    assert_eq!(second.status.code(), Some(125));
    b.ok(&["rm", "-f", "first", "second"]);
    b.wait_monitors_gone();
    let rules = std::process::Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&rules.stdout).contains(&b.nft_table),
        "no rule left"
    );
}

#[test]
fn twenty_containers_get_distinct_addresses_and_give_them_back() {
    let Some(b) = env() else { return };
    let mut kids = Vec::new();
    for i in 0..20 {
        let name = format!("n{i}");
        let out = b
            .command(&["run", "-d", "--name", &name, "busybox", "sleep", "300"])
            .output();
        kids.push(std::thread::spawn(move || out));
    }
    for k in kids {
        let out = k.join().unwrap().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut ips: Vec<String> = (0..20)
        .map(|i| {
            b.ok(&[
                "inspect",
                "-f",
                "{{.NetworkSettings.IPAddress}}",
                &format!("n{i}"),
            ])
        })
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 20, "{ips:?}");
    let names: Vec<String> = (0..20).map(|i| format!("n{i}")).collect();
    let ids: Vec<String> = names
        .iter()
        .map(|n| b.ok(&["inspect", "-f", "{{.Id}}", n]))
        .collect();
    let mut args = vec!["rm", "-f"];
    args.extend(names.iter().map(|s| s.as_str()));
    b.ok(&args);
    // `rm` returns once each monitor has deleted its veth.
    let now = host_links();
    for id in &ids {
        assert!(
            !now.contains(&format!("vb{}", &id[..11])),
            "veth of {id} left"
        );
    }
    b.wait_monitors_gone();
    let links = host_links();
    assert!(
        !links.contains(&b.bridge),
        "bridge removed with the last container"
    );
    // The addresses are free again: the next container gets the first one.
    let first = b.sh(&[], "ip -4 -o addr show eth0 | awk '{print $4}'");
    assert_eq!(
        first.rsplit('.').next().unwrap().split('/').next(),
        Some("2"),
        "{first}"
    );
}

#[test]
fn network_connect_and_disconnect() {
    let Some(b) = env() else { return };
    b.ok(&["network", "create", "front"]);
    b.ok(&["network", "create", "back"]);
    b.ok(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "back",
        "busybox",
        "sleep",
        "300",
    ]);
    b.ok(&[
        "run",
        "-d",
        "--name",
        "app",
        "--network",
        "front",
        "busybox",
        "sleep",
        "300",
    ]);
    let ping = |from: &str, to: &str| {
        b.run(&["exec", from, "ping", "-c1", "-W2", to])
            .status
            .success()
    };
    assert!(!ping("app", "db"), "no shared network yet");

    b.ok(&["network", "connect", "back", "app"]);
    let eth1 = b.ok(&["exec", "app", "ip", "-o", "-4", "addr", "show", "eth1"]);
    let inspected = b.ok(&["network", "inspect", "back"]);
    let ip = eth1
        .split_whitespace()
        .nth(3)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    assert!(inspected.contains(ip), "{ip} not in {inspected}");
    assert!(ping("app", "db") && ping("db", "app"), "by name, both ways");
    for refused in [
        vec!["network", "connect", "back", "app"],
        vec!["network", "disconnect", "front", "app"],
        vec!["network", "disconnect", "bridge", "app"],
    ] {
        let out = b.run(&refused);
        assert_eq!(out.status.code(), Some(125), "{refused:?}");
        assert!(!stderr(&out).is_empty());
    }
    b.ok(&[
        "run",
        "-d",
        "--name",
        "alone",
        "--network",
        "none",
        "busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(
        b.run(&["network", "connect", "back", "alone"])
            .status
            .code(),
        Some(125)
    );

    // The connection is part of the container: a restart joins again.
    b.ok(&["restart", "-t", "0", "app"]);
    assert!(ping("app", "db"), "still connected after a restart");

    b.ok(&["network", "disconnect", "back", "app"]);
    assert!(!b
        .run(&["exec", "app", "ip", "link", "show", "eth1"])
        .status
        .success());
    assert!(!ping("app", "db"), "db's name is gone with the network");
    assert!(!b.ok(&["network", "inspect", "back"]).contains(ip));
    // Stopped, it still shows the networks it will join.
    b.ok(&["stop", "-t", "0", "app"]);
    let networks = b.ok(&["inspect", "-f", "{{json .NetworkSettings.Networks}}", "app"]);
    assert!(
        networks.contains("\"front\"") && !networks.contains("\"back\""),
        "{networks}"
    );
    b.ok(&["rm", "-f", "app", "db", "alone"]);
    b.wait_monitors_gone();
    b.ok(&["network", "rm", "front", "back"]);
}

/// A container on two networks has two veths, eth1's named by `network connect`:
/// both go with it, though only eth0's is deleted by name. A second container in
/// its network namespace keeps the namespace (and so the veths) alive, so what
/// removes them is berth, not the kernel's teardown of the namespace.
#[test]
fn both_veths_of_a_container_on_two_networks_go_with_it() {
    let Some(b) = env() else { return };
    b.ok(&["network", "create", "two-a"]);
    b.ok(&["network", "create", "two-b"]);
    let id = b.ok(&[
        "run",
        "-d",
        "--name",
        "two",
        "--network",
        "two-a",
        "busybox",
        "sleep",
        "300",
    ]);
    b.ok(&["network", "connect", "two-b", "two"]);
    b.ok(&[
        "run",
        "-d",
        "--name",
        "guest",
        "--network",
        "container:two",
        "busybox",
        "sleep",
        "300",
    ]);
    let veths = [format!(" vb{}@", &id[..11]), format!(" vb{}-1@", &id[..10])];
    let before = host_links();
    for veth in &veths {
        assert!(before.contains(veth.as_str()), "{veth} not in {before}");
    }
    // `rm` returns once the monitor has deleted its veths.
    b.ok(&["rm", "-f", "two"]);
    let after = host_links();
    for veth in &veths {
        assert!(!after.contains(veth.as_str()), "{veth} left: {after}");
    }
    b.ok(&["rm", "-f", "guest"]);
    b.wait_monitors_gone();
    b.ok(&["network", "rm", "two-a", "two-b"]);
}

#[test]
fn ports_work_after_the_nft_table_was_removed_behind_berths_back() {
    let Some(b) = env() else { return };
    b.ok(&["run", "-d", "--name", "first", "busybox", "sleep", "300"]);
    let deleted = std::process::Command::new("nft")
        .args(["delete", "table", "ip", &b.nft_table])
        .status()
        .unwrap();
    assert!(deleted.success());
    // berth believes the table is there; publishing finds out and rebuilds it.
    let p = port(4);
    let map = format!("{p}:80");
    b.ok(&[
        "run", "-d", "--name", "web", "-p", &map, "busybox", "sh", "-c", HTTPD,
    ]);
    assert!(wait_http(&format!("127.0.0.1:{p}")).contains("hello-from-berth"));
    b.ok(&["rm", "-f", "first", "web"]);
}

#[test]
fn a_malformed_linger_setting_is_refused() {
    let Some(b) = env() else { return };
    let out = b
        .command(&["run", "--rm", "busybox", "true"])
        .env("BERTH_NET_LINGER_MS", "2s")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("BERTH_NET_LINGER_MS"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn network_none_sets_up_no_nat() {
    let Some(b) = env() else { return };
    b.ok(&["run", "--rm", "--network", "none", "busybox", "true"]);
    let tables = std::process::Command::new("nft")
        .args(["list", "tables"])
        .output()
        .unwrap();
    // An nft that cannot list would make the check below pass on nothing.
    assert!(
        tables.status.success(),
        "nft list tables: {}",
        stderr(&tables)
    );
    assert!(
        !String::from_utf8_lossy(&tables.stdout).contains(&b.nft_table),
        "a container without a network made berth's nft table"
    );
}

#[test]
fn resolver_flags_are_checked_and_written() {
    let Some(b) = env() else { return };
    let files = b.sh(
        &[
            "--dns",
            "192.0.2.53",
            "--dns-search",
            "example.com",
            "--dns-option",
            "ndots:2",
            "--add-host",
            "db=10.0.0.5",
            "--add-host",
            "gw:host-gateway",
        ],
        "cat /etc/resolv.conf /etc/hosts",
    );
    let gateway = b.subnet.replace(".0/24", ".1");
    for line in [
        "nameserver 192.0.2.53",
        "search example.com",
        "options ndots:2",
        "10.0.0.5\tdb",
        &format!("{gateway}\tgw"),
    ] {
        assert!(files.lines().any(|l| l == line), "no {line:?} in\n{files}");
    }
    for (flags, named) in [
        (vec!["--dns", "dns.example"], "dns.example"),
        (
            vec!["--add-host", "evil\n6.6.6.6 bank:10.0.0.5"],
            "evil\\n6.6.6.6 bank",
        ),
        (
            vec!["--dns-search", "a.com\nnameserver 6.6.6.6"],
            "a.com\\nnameserver",
        ),
        (vec!["--dns-option", "ndots:2 rotate"], "ndots:2 rotate"),
        (
            vec!["--network", "none", "--add-host", "gw:host-gateway"],
            "gw:host-gateway",
        ),
    ] {
        let out = b.sh_output(&flags, "true");
        assert_eq!(out.status.code(), Some(125), "{flags:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(named), "{flags:?}: {}", stderr(&out));
    }
}
