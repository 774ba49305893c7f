use super::*;
use crate::args::{Cli, Command};
use berth_engine::create::ContainerConfig;
use berth_engine::logs::LogDriver;
use berth_engine::oci::namespaces::{CgroupnsMode, NamespaceMode};
use clap::Parser;

fn config(argv: &[&str]) -> Result<ContainerConfig> {
    let mut full = vec!["berth", "create"];
    full.extend_from_slice(argv);
    let Command::Create(a) = Cli::try_parse_from(full)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .command
    else {
        panic!("not a create");
    };
    let (image, command) = a.image_and_command.split_first().unwrap();
    crate::specgen::container_config(&a, image, command)
}

fn err(argv: &[&str]) -> String {
    format!("{:#}", config(argv).unwrap_err())
}

#[test]
fn flags_become_typed_settings() {
    let c = config(&[
        "--device",
        "/dev/null:/dev/n2:rw",
        "--device-cgroup-rule",
        "c 10:* rwm",
        "--group-add",
        "audio",
        "--group-add",
        "27",
        "--shm-size",
        "128m",
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "--pid",
        "container:db",
        "--ipc",
        "host",
        "--uts",
        "host",
        "--cgroupns",
        "private",
        "-m",
        "256m",
        "--memory-swap",
        "-1",
        "--memory-reservation",
        "128m",
        "--cpu-shares",
        "512",
        "--cpuset-cpus",
        "0",
        "--cpuset-mems",
        "0",
        "--oom-score-adj",
        "-500",
        "--oom-kill-disable",
        "--expose",
        "80",
        "--expose",
        "53/udp",
        "--expose",
        "8000-8001",
        "--domainname",
        "example.com",
        "--annotation",
        "org.x=1",
        "--log-driver",
        "json-file",
        "--log-opt",
        "max-size=1m",
        "--log-opt",
        "max-file=2",
        "--platform",
        "linux",
        "--cgroup-parent",
        "/berth",
        "img",
    ])
    .unwrap();
    let h = &c.host_config;
    assert_eq!(h.devices[0].container, "/dev/n2");
    assert_eq!(h.device_cgroup_rules[0].minor, None);
    assert_eq!(h.group_add, vec!["audio", "27"]);
    assert_eq!(h.shm_size, Some(128 << 20));
    assert_eq!(h.sysctls["net.ipv4.ip_forward"], "1");
    assert_eq!(h.pid, NamespaceMode::Container("db".into()));
    assert_eq!(
        (h.ipc.clone(), h.uts.clone()),
        (NamespaceMode::Host, NamespaceMode::Host)
    );
    assert_eq!(h.cgroupns, Some(CgroupnsMode::Private));
    let res = &c.resources;
    assert_eq!(
        (res.memory_swap, res.memory_reservation),
        (Some(-1), Some(128 << 20))
    );
    assert_eq!(
        (res.cpu_shares, res.cpuset_cpus.as_deref()),
        (Some(512), Some("0"))
    );
    assert_eq!((h.oom_score_adj, h.oom_kill_disable), (Some(-500), true));
    assert_eq!(h.expose, vec!["80/tcp", "53/udp", "8000/tcp", "8001/tcp"]);
    assert_eq!(h.domainname.as_deref(), Some("example.com"));
    assert_eq!(h.annotations["org.x"], "1");
    assert_eq!(
        (h.log.driver, h.log.max_size, h.log.max_file),
        (LogDriver::JsonFile, Some(1 << 20), 2)
    );
}

#[test]
fn bad_values_say_what_to_write() {
    assert!(err(&["--device", "dev/null", "img"]).contains("absolute path"));
    assert!(err(&["--sysctl", "kernel.modprobe=/tmp/x", "img"])
        .contains("not a namespaced kernel parameter"));
    assert!(err(&["--sysctl", "vm.swappiness=1", "img"]).contains("would change the host"));
    assert!(err(&["--pid", "sideways", "img"]).contains("private, host or container:NAME"));
    assert!(err(&["--cgroupns", "shared", "img"]).contains("host or private"));
    assert!(err(&["--shm-size", "lots", "img"]).contains("--shm-size"));
    assert!(err(&["--cpuset-cpus", "0-", "img"]).contains("ranges such as 0-2,4"));
    assert!(err(&["--cpuset-cpus", "4095", "img"]).contains("not available on this host"));
    assert!(err(&["--cpu-shares", "1", "img"]).contains("from 2 to 262144"));
    assert!(err(&["--blkio-weight", "5", "img"]).contains("from 10 to 1000"));
    assert!(err(&["--oom-score-adj", "2000", "img"]).contains("-1000 to 1000"));
    assert!(err(&["--expose", "80/icmp", "img"]).contains("PORT[-PORT]"));
    assert!(err(&["--domainname", "a b", "img"]).contains("domain name"));
    assert!(err(&["--annotation", "=x", "img"]).contains("KEY=VALUE"));
    assert!(
        err(&["--log-driver", "syslog", "img"]).contains("json-file (default), none and journald")
    );
    assert!(err(&["--log-opt", "max-size=big", "img"]).contains("max-size"));
    assert!(err(&["--network-alias", "web", "img"]).contains("only on user networks"));
    assert!(config(&["--network", "front", "--network-alias", "web", "img"]).is_ok());
    assert!(err(&["--group-add", "a b", "img"]).contains("group name"));
}

#[test]
fn platform_is_the_hosts_only() {
    let host = berth_registry::platform::Platform::host().to_string();
    assert!(config(&["--platform", &host, "img"]).is_ok());
    let other = if host.contains("amd64") {
        "linux/arm64"
    } else {
        "linux/amd64"
    };
    let e = err(&["--platform", other, "img"]);
    assert!(e.contains("does not emulate"), "{e}");
    assert!(err(&["--platform", "windows/amd64", "img"]).contains("does not emulate"));
}

#[test]
fn cgroup_parent_stays_under_berths() {
    for escape in [
        "../../..",
        "/sys/fs/cgroup/memory",
        "/system.slice",
        "berth/../..",
    ] {
        let e = err(&["--cgroup-parent", escape, "img"]);
        assert!(
            e.contains("--cgroup-parent") && e.contains("refused"),
            "{escape}: {e}"
        );
    }
    assert!(err(&["--cgroup-parent", "../../..", "img"]).contains("out of berth's cgroup parent"));
    assert!(config(&["--cgroup-parent", "berth", "img"]).is_ok());
}

#[test]
fn label_files_then_labels() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("labels");
    std::fs::write(&f, "# c\na=file\nb=2\nflag\n").unwrap();
    let c = config(&["--label-file", f.to_str().unwrap(), "-l", "a=flag", "img"]).unwrap();
    assert_eq!(
        c.labels,
        vec![
            ("a".to_string(), "file".to_string()),
            ("b".into(), "2".into()),
            ("flag".into(), "".into()),
            ("a".into(), "flag".into()),
        ]
    );
    std::fs::write(&f, "=x\n").unwrap();
    assert!(err(&["--label-file", f.to_str().unwrap(), "img"]).contains("line 1"));
}

#[test]
fn cidfile_is_new_and_never_followed() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("cid");
    let p = path.to_str().unwrap();
    CidFile::create(p).unwrap().write("abc").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "abc");
    let e = CidFile::create(p).err().unwrap().to_string();
    assert!(e.contains("container ID file found"), "{e}");
    // Through a link, even one to a file that does not exist yet.
    let target = d.path().join("target");
    let link = d.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert!(CidFile::create(link.to_str().unwrap()).is_err());
    assert!(!target.exists(), "nothing written where the link points");
    // A file whose container was never made goes again.
    let unused = d.path().join("unused");
    drop(CidFile::create(unused.to_str().unwrap()).unwrap());
    assert!(!unused.exists());
}
