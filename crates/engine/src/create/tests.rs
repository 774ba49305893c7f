//! Unit tests of `create`: specs from flags and image configs.

use super::*;

const ID: &str = "0123456789abcdef";

fn image(entry: Option<Vec<&str>>, cmd: Option<Vec<&str>>) -> ImageConfig {
    let mut c = ImageConfig::default();
    c.set_entrypoint(entry.map(|v| v.into_iter().map(String::from).collect()));
    c.set_cmd(cmd.map(|v| v.into_iter().map(String::from).collect()));
    c.set_env(Some(vec!["PATH=/bin".into(), "A=1".into()]));
    c
}

fn req(cmd: &[&str]) -> ContainerConfig {
    ContainerConfig {
        image: "img".into(),
        command: cmd.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

#[test]
fn command_merging_follows_docker() {
    let img = image(Some(vec!["/e"]), Some(vec!["c"]));
    let s = spec_from_config(&req(&[]), &img, ID).unwrap();
    assert_eq!(s.args, vec!["/e", "c"]);
    let s = spec_from_config(&req(&["x"]), &img, ID).unwrap();
    assert_eq!(s.args, vec!["/e", "x"]);
    let mut r = req(&[]);
    r.entrypoint = Some(vec!["/other".into()]);
    let s = spec_from_config(&r, &img, ID).unwrap();
    assert_eq!(s.args, vec!["/other"]);
    assert_eq!(s.hostname, "0123456789ab");
    r.entrypoint = Some(vec![]);
    r.command = vec!["sh".into()];
    let s = spec_from_config(&r, &img, ID).unwrap();
    assert_eq!(s.args, vec!["sh"], "an empty entrypoint clears the image's");
    assert!(matches!(
        spec_from_config(&req(&[]), &image(None, None), ID),
        Err(EngineError::Create(CreateError::NoCommand))
    ));
}

#[test]
fn env_and_labels_override_image() {
    let mut r = req(&["sh"]);
    r.env = vec!["A=2".into(), "B=3".into()];
    r.labels = vec![("k".into(), "mine".into())];
    let mut img = image(None, None);
    img.set_labels(Some(
        [
            ("k".to_string(), "img".to_string()),
            ("j".into(), "1".into()),
        ]
        .into(),
    ));
    let s = spec_from_config(&r, &img, ID).unwrap();
    assert_eq!(s.env, vec!["PATH=/bin", "A=2", "B=3"]);
    assert_eq!(s.labels["k"], "mine");
    assert_eq!(s.labels["j"], "1");
}

#[test]
fn image_volumes_become_anonymous_volumes() {
    let mut img = image(None, None);
    img.set_volumes(Some(vec!["/data".into(), "/logs".into()]));
    let mut r = req(&["sh"]);
    r.binds = vec![BindMount {
        source: "/host".into(),
        destination: "/data".into(),
        read_only: true,
        volume: false,
        anonymous: false,
        ..Default::default()
    }];
    let s = spec_from_config(&r, &img, ID).unwrap();
    assert_eq!(s.binds.len(), 2);
    assert_eq!(
        s.binds[0].source, "/host",
        "the caller's bind wins at /data"
    );
    assert!(s.binds[1].anonymous && s.binds[1].destination == "/logs");
    assert_eq!(s.binds[1].source.len(), 64, "named at create");
}

#[test]
fn systemd_mode_provides_its_own_cgroup_run_and_tmp() {
    let mut img = image(None, None);
    let vols = ["/sys/fs/cgroup", "/run", "/tmp/", "/data"];
    img.set_volumes(Some(vols.iter().map(|v| v.to_string()).collect()));
    let s = spec_from_config(&req(&["/sbin/init"]), &img, ID).unwrap();
    assert_eq!(s.systemd_volumes, vec!["/sys/fs/cgroup", "/run", "/tmp/"]);
    let dests: Vec<&str> = s.binds.iter().map(|b| b.destination.as_str()).collect();
    assert_eq!(dests, vec!["/data"]);
    // Outside systemd mode every VOLUME is a volume, as in docker.
    let s = spec_from_config(&req(&["sh"]), &img, ID).unwrap();
    assert_eq!(s.binds.len(), 4);
    assert!(s.systemd_volumes.is_empty());
    // A volume the caller asks for there still wins.
    let mut r = req(&["/sbin/init"]);
    r.binds = vec![BindMount {
        source: "/host/run".into(),
        destination: "/run".into(),
        read_only: false,
        volume: false,
        anonymous: false,
        ..Default::default()
    }];
    let s = spec_from_config(&r, &img, ID).unwrap();
    assert_eq!(s.systemd_volumes, vec!["/sys/fs/cgroup", "/tmp/"]);
    assert!(provided_by_systemd("/sys/fs/cgroup/systemd") && !provided_by_systemd("/sys"));
}

#[test]
fn systemd_mode_refuses_mounts_over_its_cgroup_tree() {
    let bind = |src: &str, dst: &str, ro: bool, anon: bool| BindMount {
        source: src.into(),
        destination: dst.into(),
        read_only: ro,
        volume: anon,
        anonymous: anon,
        ..Default::default()
    };
    let img = image(None, None);
    let cases = [
        (
            bind("/sys/fs/cgroup", "/sys/fs/cgroup", true, false),
            "-v /sys/fs/cgroup:/sys/fs/cgroup:ro",
        ),
        (
            bind(
                "/sys/fs/cgroup/systemd",
                "/sys/fs/cgroup/systemd/",
                false,
                false,
            ),
            "-v /sys/fs/cgroup/systemd:/sys/fs/cgroup/systemd/",
        ),
        (bind("", "/sys/fs/cgroup", false, true), "-v /sys/fs/cgroup"),
    ];
    for (b, flag) in cases {
        let mut r = req(&["/sbin/init"]);
        r.binds = vec![b];
        let e = spec_from_config(&r, &img, ID).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{flag}: in systemd mode")), "{e}");
        assert!(
            e.contains(&format!("Drop {flag}")) && e.contains("--systemd=false"),
            "{e}"
        );
        // Plain mode mounts what it is asked to.
        r.systemd = SystemdMode::Never;
        assert!(spec_from_config(&r, &img, ID).is_ok());
    }
    let mut r = req(&["/sbin/init"]);
    r.tmpfs = vec![TmpfsMount {
        destination: "/sys/fs/cgroup".into(),
        options: vec![],
    }];
    let e = spec_from_config(&r, &img, ID).unwrap_err().to_string();
    assert!(e.starts_with("--tmpfs /sys/fs/cgroup: "), "{e}");
    // /sys/fs/cgroupfoo is not under it.
    r.tmpfs[0].destination = "/sys/fs/cgroupfoo".into();
    assert!(spec_from_config(&r, &img, ID).is_ok());
}

#[test]
fn systemd_mode_resolution() {
    let mut r = req(&["/sbin/init"]);
    let s = spec_from_config(&r, &image(None, None), ID).unwrap();
    assert!(s.systemd && s.stop_signal == "SIGRTMIN+3");
    r.systemd = SystemdMode::Never;
    let s = spec_from_config(&r, &image(None, None), ID).unwrap();
    assert!(!s.systemd && s.stop_signal == "SIGTERM");
    let mut r = req(&["/bin/sh"]);
    r.systemd = SystemdMode::Always;
    r.stop_signal = Some("SIGTERM".into());
    let s = spec_from_config(&r, &image(None, None), ID).unwrap();
    assert!(s.systemd && s.stop_signal == "SIGTERM");
}

#[test]
fn ports_need_a_bridge_and_bad_signals_are_refused() {
    let mut r = req(&["sh"]);
    r.network = Some(NetworkMode::None);
    r.publish = berth_net::parse_publish("80").unwrap();
    let err = spec_from_config(&r, &image(None, None), ID).unwrap_err();
    assert_eq!(
        err.to_string(),
        "-p/-P, --ip and --mac-address need a bridge network, not --network none"
    );
    r.network = None;
    let s = spec_from_config(&r, &image(None, None), ID).unwrap();
    assert_eq!(s.network, NetworkMode::Network("bridge".into()));
    assert_eq!(s.net.publish.len(), 1);
    let mut r = req(&["sh"]);
    r.stop_signal = Some("SIGNOPE".into());
    assert!(spec_from_config(&r, &image(None, None), ID).is_err());
}

/// A library caller (not the CLI's specgen) is held to the same MAC check.
#[test]
fn a_bad_mac_is_refused_whoever_calls() {
    let mut r = req(&["sh"]);
    r.mac = Some("02:42:zz:11:00:02".into());
    let err = spec_from_config(&r, &image(None, None), ID).unwrap_err();
    assert!(err.to_string().contains("six hex pairs"), "{err}");
    assert!(check_network_values(&r).is_err());
}

#[test]
fn publish_all_takes_the_image_ports() {
    let mut img = image(None, None);
    img.set_exposed_ports(Some(vec![
        "80/tcp".into(),
        "53/udp".into(),
        "9/sctp".into(),
    ]));
    let mut r = req(&["sh"]);
    r.publish_all = true;
    r.publish = berth_net::parse_publish("8080:80").unwrap();
    let s = spec_from_config(&r, &img, ID).unwrap();
    let ports: Vec<String> = s.net.publish.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        ports.len(),
        2,
        "{ports:?}: 80 once (the caller's), 53/udp, no sctp"
    );
}

#[test]
fn names_are_checked() {
    assert_eq!(validate_name("/web-1").unwrap(), "web-1");
    assert!(validate_name("-x").is_err());
    assert!(validate_name("a b").is_err());
}

#[test]
fn resolver_values_are_checked_and_host_gateway_needs_a_bridge() {
    let id = "0123456789abcdef";
    let mut r = req(&["sh"]);
    r.add_hosts = vec!["gw:host-gateway".into(), "db=10.0.0.5".into()];
    r.dns = vec![" 192.0.2.53".into()];
    r.dns_options = vec!["ndots:2".into()];
    let s = spec_from_config(&r, &image(None, None), id).unwrap();
    assert_eq!(
        s.net.add_hosts,
        [
            ("gw".into(), "host-gateway".into()),
            ("db".into(), "10.0.0.5".into())
        ]
    );
    assert_eq!(
        (s.net.dns, s.net.dns_options),
        (vec!["192.0.2.53".into()], vec!["ndots:2".into()])
    );
    r.network = Some(NetworkMode::Host);
    let err = spec_from_config(&r, &image(None, None), id).unwrap_err();
    assert!(err.to_string().contains("\"gw:host-gateway\""), "{err}");
    for (field, bad) in [
        ("dns", "dns.example"),
        ("dns-search", "a b"),
        ("dns-option", "x y"),
    ] {
        let mut r = req(&["sh"]);
        match field {
            "dns" => r.dns = vec![bad.into()],
            "dns-search" => r.dns_search = vec![bad.into()],
            _ => r.dns_options = vec![bad.into()],
        }
        let err = spec_from_config(&r, &image(None, None), id).unwrap_err();
        assert!(
            err.to_string().contains(&format!("--{field} {bad:?}")),
            "{err}"
        );
        assert_eq!(err.exit_code(), 125);
    }
}
