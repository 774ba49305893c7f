//! docker's `run`/`create` flags, each checked by its effect inside the container
//! or on the host: devices, sysctls, cgroup limits, /dev/shm, groups, shared
//! namespaces, OOM score, cidfile, label files, exposed ports, domain name, `-a`.
//! And the attacks: sysctls that are not namespaced, cgroup parents out of
//! berth's, a device path that is a link to a file, a cidfile through a link.

use berth_testkit::{stderr, stdout, Berth};
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar"])
}

/// Runs berth with `args`, which must fail as an engine error (125) whose message
/// says `says`; returns that message.
fn refused(b: &Berth, args: &[&str], says: &str) -> String {
    let out = b.run(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(125), "{args:?}: {err}");
    assert!(err.contains(says), "{args:?}: {err}");
    err
}

/// The cgroup v1 devices controller enforces device rules (cgroup v2 would need
/// libcontainer's eBPF filter, which berth does not build).
fn device_cgroup_v1() -> bool {
    Path::new("/sys/fs/cgroup/devices/devices.allow").exists()
}

#[test]
fn device_node_is_made_and_its_permissions_are_enforced() {
    let Some(b) = env() else { return };
    let out = b.sh(
        &["--device", "/dev/null:/dev/mynull"],
        "ls -l /dev/mynull; echo x > /dev/mynull && echo wrote",
    );
    assert!(out.starts_with('c'), "a character device: {out}");
    assert!(
        out.contains("1,   3") || out.contains("1, 3"),
        "null's numbers: {out}"
    );
    assert!(out.contains("wrote"), "{out}");
    if device_cgroup_v1() {
        // Read-only (a loop device: docker's default rules allow none): the node
        // is there and opens for reading, the cgroup refuses opening it to write.
        let loop_dev = (0..8)
            .map(|n| format!("/dev/loop{n}"))
            .find(|p| Path::new(p).exists());
        if !berth_testkit::require("a /dev/loopN block device", loop_dev.is_some()) {
            return;
        }
        let spec = format!("{}:/dev/xloop:r", loop_dev.unwrap());
        let out = b.sh_output(
            &["--device", &spec],
            "ls -l /dev/xloop; dd if=/dev/xloop of=/dev/null count=1 2>/dev/null && echo read-ok; echo x 2>&1 > /dev/xloop || echo write-refused",
        );
        let text = stdout(&out) + &stderr(&out);
        assert!(text.starts_with('b'), "a block device: {text}");
        assert!(text.contains("read-ok"), "{text}");
        assert!(
            text.contains("Operation not permitted") && text.contains("write-refused"),
            "{text}"
        );
    } else {
        // No device cgroup to hold it to `r` (cgroup v2, built-in runtime): refused,
        // never a node the container could write.
        let args = [
            "run",
            "--rm",
            "--device",
            "/dev/null:/dev/ro:r",
            "busybox",
            "true",
        ];
        refused(&b, &args, "--runtime runc");
    }
}

#[test]
fn device_that_is_a_link_to_a_file_is_refused() {
    let Some(b) = env() else { return };
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("disk");
    std::os::unix::fs::symlink("/etc/shadow", &link).unwrap();
    let spec = format!("{}:/dev/xvda", link.display());
    refused(
        &b,
        &["run", "--rm", "--device", &spec, "busybox", "true"],
        "it is a regular file (it leads to /etc/shadow), not a device",
    );
    // A link to a real device node is followed, as docker follows /dev/disk/by-id.
    let to_null = dir.path().join("null");
    std::os::unix::fs::symlink("/dev/null", &to_null).unwrap();
    let spec = format!("{}:/dev/n", to_null.display());
    assert!(b.sh(&["--device", &spec], "ls -l /dev/n").starts_with('c'));
}

#[test]
fn namespaced_sysctls_are_set_inside_only() {
    let Some(b) = env() else { return };
    let host_shmmax = std::fs::read_to_string("/proc/sys/kernel/shmmax").unwrap();
    let out = b.sh(
        &[
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "--sysctl",
            "kernel.shmmax=1048576",
        ],
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax",
    );
    assert_eq!(out, "1\n1048576");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/shmmax").unwrap(),
        host_shmmax
    );
}

#[test]
fn sysctls_that_would_change_the_host_are_refused() {
    let Some(b) = env() else { return };
    let core_pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    for (flags, want) in [
        (
            vec!["--sysctl", "kernel.modprobe=/tmp/pwn"],
            "not a namespaced kernel parameter",
        ),
        (
            vec!["--sysctl", "kernel.core_pattern=|/tmp/pwn"],
            "not a namespaced kernel parameter",
        ),
        (
            vec!["--sysctl", "vm.overcommit_memory=1"],
            "not a namespaced kernel parameter",
        ),
        (
            vec!["--sysctl", "net.ipv4/../../kernel/core_pattern=|/tmp/pwn"],
            "invalid --sysctl",
        ),
        (
            vec!["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"],
            "shares the network namespace (--network host)",
        ),
        (
            vec!["--ipc", "host", "--sysctl", "kernel.shmmax=1"],
            "shares the IPC namespace (--ipc host)",
        ),
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend(&flags);
        args.extend(["busybox", "true"]);
        refused(&b, &args, want);
    }
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        core_pattern
    );
    assert!(
        b.all_ids().is_empty(),
        "nothing created for a refused sysctl"
    );
}

#[test]
fn cpuset_shm_groups_and_oom_score() {
    let Some(b) = env() else { return };
    b.ok(&[
        "run",
        "-d",
        "--name",
        "lim",
        "--cpuset-cpus",
        "0",
        "--cpu-shares",
        "512",
        "--shm-size",
        "128m",
        "--group-add",
        "nogroup",
        "--group-add",
        "1234",
        "--oom-score-adj",
        "500",
        "-m",
        "64m",
        "--memory-reservation",
        "32m",
        "busybox",
        "sleep",
        "300",
    ]);
    let exec = |cmd: &str| b.ok(&["exec", "lim", "sh", "-c", cmd]);
    assert_eq!(
        exec("grep Cpus_allowed_list /proc/self/status"),
        "Cpus_allowed_list:\t0"
    );
    assert!(exec("grep ' /dev/shm ' /proc/mounts").contains("size=131072k"));
    let id = exec("id");
    assert!(id.contains("65534(nogroup)") && id.contains("1234"), "{id}");
    let init_groups = exec("grep Groups /proc/1/status");
    assert!(
        init_groups.contains("1234") && init_groups.contains("65534"),
        "{init_groups}"
    );
    assert_eq!(exec("cat /proc/1/oom_score_adj"), "500");
    let cid = b.ok(&["inspect", "-f", "{{.Id}}", "lim"]);
    for (file, want) in [
        (
            format!("/sys/fs/cgroup/cpuset/berth/{cid}/cpuset.cpus"),
            "0",
        ),
        (format!("/sys/fs/cgroup/cpu/berth/{cid}/cpu.shares"), "512"),
        (
            format!("/sys/fs/cgroup/memory/berth/{cid}/memory.soft_limit_in_bytes"),
            "33554432",
        ),
    ] {
        if let Ok(text) = std::fs::read_to_string(&file) {
            assert_eq!(text.trim(), want, "{file}");
        }
    }
    let hc = b.ok(&[
        "inspect", "-f",
        "{{.HostConfig.CpusetCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.ShmSize}} {{.HostConfig.OomScoreAdj}} {{.HostConfig.MemoryReservation}}",
        "lim",
    ]);
    assert_eq!(hc, "0 512 134217728 500 33554432");
}

#[test]
fn pid_container_sees_the_other_containers_processes() {
    let Some(b) = env() else { return };
    b.ok(&["run", "-d", "--name", "target", "busybox", "sleep", "301"]);
    let ps = b.sh(&["--pid", "container:target"], "ps");
    assert!(ps.contains("sleep 301"), "{ps}");
    let own = b.sh(&[], "ps");
    assert!(
        !own.contains("sleep 301"),
        "a private PID namespace sees none: {own}"
    );
    b.ok(&["stop", "-t", "0", "target"]);
    refused(
        &b,
        &[
            "run",
            "--rm",
            "--pid",
            "container:target",
            "busybox",
            "true",
        ],
        "it is not running",
    );
}

#[test]
fn cidfile_holds_the_id_and_is_never_overwritten_nor_followed() {
    let Some(b) = env() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cid = dir.path().join("cid");
    let cid_s = cid.to_str().unwrap();
    let id = b.ok(&[
        "create",
        "--cidfile",
        cid_s,
        "--name",
        "c1",
        "busybox",
        "true",
    ]);
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id);
    refused(
        &b,
        &["run", "--cidfile", cid_s, "busybox", "true"],
        "container ID file found",
    );
    assert_eq!(
        b.all_ids().len(),
        1,
        "no second container for a taken cidfile"
    );
    // Through a link to a file that does not exist yet: refused, nothing written there.
    let target = dir.path().join("victim");
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = b.run(&[
        "run",
        "--rm",
        "--cidfile",
        link.to_str().unwrap(),
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(!target.exists());
    // run -d writes the id too.
    let cid2 = dir.path().join("cid2");
    let id = b.ok(&[
        "run",
        "-d",
        "--cidfile",
        cid2.to_str().unwrap(),
        "busybox",
        "true",
    ]);
    assert_eq!(std::fs::read_to_string(&cid2).unwrap(), id);
}

#[test]
fn labels_from_files_expose_domainname_and_annotations_in_inspect() {
    let Some(b) = env() else { return };
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("labels");
    std::fs::write(&labels, "# team\ntier=web\nowner=ops\n").unwrap();
    let out = b.sh(
        &[
            "--label-file",
            labels.to_str().unwrap(),
            "-l",
            "owner=dev",
            "--expose",
            "8080",
            "--expose",
            "53/udp",
            "--domainname",
            "example.test",
            "--annotation",
            "org.example/x=1",
        ],
        "cat /proc/sys/kernel/domainname",
    );
    assert_eq!(out, "example.test");
    b.ok(&[
        "create",
        "--name",
        "meta",
        "--label-file",
        labels.to_str().unwrap(),
        "-l",
        "owner=dev",
        "--expose",
        "8080",
        "--expose",
        "53/udp",
        "--domainname",
        "example.test",
        "busybox",
        "true",
    ]);
    let got = b.ok(&[
        "inspect", "-f",
        "{{.Config.Labels.tier}} {{.Config.Labels.owner}} {{.Config.Domainname}} {{json .Config.ExposedPorts}}",
        "meta",
    ]);
    assert_eq!(got, r#"web dev example.test {"53/udp":{},"8080/tcp":{}}"#);
}

#[test]
fn attach_stdout_only_drops_stderr() {
    let Some(b) = env() else { return };
    let out = b.run(&[
        "run",
        "--rm",
        "-a",
        "stdout",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stdout(&out), "out\n");
    assert!(!stderr(&out).contains("err"), "{}", stderr(&out));
    refused(
        &b,
        &["run", "-d", "-a", "stdout", "busybox", "true"],
        "-a and -d",
    );
    // -a stdin: the container's stdin is open and fed, as with -i.
    let out = berth_testkit::output_with_input(
        b.command(&[
            "run", "--rm", "-a", "stdin", "-a", "stdout", "busybox", "tr", "a-z", "A-Z",
        ]),
        "piped\n",
    );
    assert_eq!(stdout(&out), "PIPED\n", "{}", stderr(&out));
}

#[test]
fn cgroup_parents_out_of_berths_are_refused() {
    let Some(b) = env() else { return };
    for parent in [
        "../../..",
        "/sys/fs/cgroup/memory",
        "/system.slice",
        "berth/../../x",
    ] {
        let args = ["run", "--rm", "--cgroup-parent", parent, "busybox", "true"];
        let err = refused(&b, &args, "refused");
        assert!(err.contains("--cgroup-parent"), "{parent}: {err}");
    }
    assert!(b.all_ids().is_empty());
}

#[test]
fn platform_other_than_the_hosts_is_refused() {
    let Some(b) = env() else { return };
    let other = if cfg!(target_arch = "x86_64") {
        "linux/arm64"
    } else {
        "linux/amd64"
    };
    refused(
        &b,
        &["run", "--rm", "--platform", other, "busybox", "true"],
        "does not emulate",
    );
    let host = if cfg!(target_arch = "x86_64") {
        "linux/amd64"
    } else {
        "linux/arm64"
    };
    assert_eq!(b.sh(&["--platform", host], "echo ok"), "ok");
}

#[test]
fn network_alias_resolves_on_the_user_network() {
    let Some(b) = env() else { return };
    let net = format!("rfnet{}", std::process::id());
    b.ok(&["network", "create", &net]);
    b.ok(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        &net,
        "--network-alias",
        "database",
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
        &net,
        "busybox",
        "sleep",
        "300",
    ]);
    let ip = b.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "db"]);
    let hosts = b.ok(&["exec", "app", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{ip}\tdb database")), "{hosts}");
    let ping = b.ok(&[
        "exec",
        "app",
        "sh",
        "-c",
        "ping -c 1 -W 2 database | head -1",
    ]);
    assert!(
        ping.contains(&format!("({ip})")),
        "the alias names db's address: {ping}"
    );
    let own = b.ok(&["exec", "db", "grep", "database", "/etc/hosts"]);
    assert!(own.starts_with(&ip), "{own}");
    let aliases = b.ok(&[
        "inspect",
        "-f",
        &format!("{{{{json .NetworkSettings.Networks.{net}.Aliases}}}}"),
        "db",
    ]);
    assert_eq!(aliases, r#"["database"]"#);
    for c in ["db", "app"] {
        b.ok(&["rm", "-f", c]);
    }
    b.ok(&["network", "rm", &net]);
}

#[test]
fn shared_and_host_namespaces() {
    let Some(b) = env() else { return };
    b.ok(&["run", "-d", "--name", "ipcowner", "busybox", "sleep", "300"]);
    let owner_ipc = b.ok(&["exec", "ipcowner", "readlink", "/proc/self/ns/ipc"]);
    let joined = b.sh(
        &["--ipc", "container:ipcowner"],
        "readlink /proc/self/ns/ipc",
    );
    assert_eq!(joined, owner_ipc);
    assert_ne!(b.sh(&[], "readlink /proc/self/ns/ipc"), owner_ipc);
    // --ipc host comes with the host's /dev/shm, as docker's does.
    let note = format!("/dev/shm/berth-runflags-{}", std::process::id());
    std::fs::write(&note, "from-host").unwrap();
    let seen = b.sh_output(&["--ipc", "host"], &format!("cat {note}"));
    let private = b.sh_output(&[], &format!("cat {note}"));
    std::fs::remove_file(&note).unwrap();
    assert_eq!(stdout(&seen), "from-host", "{}", stderr(&seen));
    assert_ne!(
        private.status.code(),
        Some(0),
        "a private /dev/shm is the container's own"
    );
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(b.sh(&["--uts", "host"], "hostname"), host_name.trim());
    let host_uts = std::fs::read_link("/proc/self/ns/uts").unwrap();
    assert_eq!(
        b.sh(&["--uts", "host"], "readlink /proc/self/ns/uts"),
        host_uts.to_string_lossy()
    );
    // A private cgroup namespace shows the container's cgroup as its root.
    let own = b.sh(
        &["--cgroupns", "private"],
        "grep -c ':/$' /proc/self/cgroup; wc -l < /proc/self/cgroup",
    );
    let counts: Vec<&str> = own.lines().collect();
    assert_eq!(counts[0], counts[1], "every hierarchy at its root: {own}");
}

#[test]
fn memory_swap_reaches_the_cgroup_and_oom_kill_disable_says_where_it_works() {
    let Some(b) = env() else { return };
    let memsw = Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");
    if !memsw.exists() {
        return; // cgroup v2 or no swap accounting: the limit has no file to show
    }
    b.ok(&[
        "run",
        "-d",
        "--name",
        "sw",
        "-m",
        "64m",
        "--memory-swap",
        "128m",
        "busybox",
        "sleep",
        "300",
    ]);
    let id = b.ok(&["inspect", "-f", "{{.Id}}", "sw"]);
    let dir = Path::new("/sys/fs/cgroup/memory/berth").join(&id);
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    assert_eq!(read("memory.memsw.limit_in_bytes").trim(), "134217728");
    // libcontainer never writes memory.oom_control: refused rather than ignored.
    let args = [
        "run",
        "--rm",
        "-m",
        "64m",
        "--oom-kill-disable",
        "busybox",
        "true",
    ];
    refused(&b, &args, "--runtime runc");
    if berth_testkit::require_root_and(&["runc"]) {
        b.ok(&[
            "run",
            "-d",
            "--name",
            "nokill",
            "--runtime",
            "runc",
            "-m",
            "64m",
            "--oom-kill-disable",
            "busybox",
            "sleep",
            "300",
        ]);
        let id = b.ok(&["inspect", "-f", "{{.Id}}", "nokill"]);
        let control = Path::new("/sys/fs/cgroup/memory/berth")
            .join(&id)
            .join("memory.oom_control");
        let control = std::fs::read_to_string(control).unwrap();
        assert!(control.contains("oom_kill_disable 1"), "{control}");
    }
    let args = [
        "run",
        "--rm",
        "--memory-swap",
        "32m",
        "-m",
        "64m",
        "busybox",
        "true",
    ];
    refused(&b, &args, "is below --memory");
}

#[test]
fn without_sig_proxy_a_signal_stops_the_client_not_the_container() {
    let Some(b) = env() else { return };
    let mut client = b
        .command(&[
            "run",
            "--name",
            "np",
            "--sig-proxy=false",
            "busybox",
            "sleep",
            "300",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while b.run(&["inspect", "-f", "{{.State.Running}}", "np"]).stdout != b"true\n" {
        assert!(std::time::Instant::now() < deadline, "np never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // SAFETY: kill(2) on the berth client this test started and has not reaped.
    unsafe { libc::kill(client.id() as i32, libc::SIGTERM) };
    let status = client.wait().unwrap();
    assert!(!status.success());
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.State.Running}}", "np"]),
        "true",
        "not proxied"
    );
}

#[test]
fn systemd_mode_keeps_its_own_pid_and_cgroup_namespaces() {
    let Some(b) = env() else { return };
    for flags in [["--pid", "host"], ["--cgroupns", "host"]] {
        let mut args = vec!["create", "--systemd", "always"];
        args.extend(flags);
        args.extend(["busybox", "sh"]);
        refused(&b, &args, "cannot be used in systemd mode");
    }
    assert!(b.all_ids().is_empty());
}

/// `--uts host` shares the host's names: a `-h` or `--domainname` given with it
/// could not be set without renaming the host, so it is refused (docker: "conflicting
/// options: hostname and the UTS mode"), never silently dropped.
#[test]
fn uts_host_refuses_a_hostname_or_domainname_of_its_own() {
    let Some(b) = env() else { return };
    for flags in [["-h", "other"], ["--domainname", "example.com"]] {
        let args = [
            &["run", "--rm", "--uts", "host"],
            &flags[..],
            &["busybox", "hostname"],
        ]
        .concat();
        let err = refused(&b, &args, "--uts host");
        assert!(err.contains(flags[0]), "{flags:?}: {err}");
    }
    assert!(b.all_ids().is_empty(), "nothing was created");
}

/// The node of `--device HOST:CONTAINER` is made at CONTAINER inside the rootfs:
/// an image whose path to it is a link out of the rootfs (`/escape -> /tmp/…` on
/// the host) must not get berth or its runtime to make a device node on the host.
#[test]
fn device_node_is_never_made_through_a_link_out_of_the_rootfs() {
    use berth_testkit::fixtures::{busybox_variant, Extra};
    let Some(b) = env() else { return };
    let host_dir = tempfile::tempdir().unwrap();
    let target = host_dir.path().to_str().unwrap().to_string();
    let tar = host_dir.path().join("evil.tar");
    busybox_variant(&tar, &[], &[Extra::Symlink("escape", &target)]);
    b.ok(&["import", tar.to_str().unwrap(), "evil-dev"]);
    std::fs::remove_file(&tar).unwrap();
    let out = b.run(&[
        "run",
        "--rm",
        "--device",
        "/dev/null:/escape/pwn",
        "evil-dev",
        "true",
    ]);
    let made = std::fs::read_dir(host_dir.path()).unwrap().count();
    assert_eq!(made, 0, "a node was made on the host: {}", stderr(&out));
    // libcontainer refuses to prepare such a rootfs; the run fails, and leaves
    // nothing behind.
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    b.assert_no_leftovers();
}

/// Two `create --cidfile F` at once: the file is taken before either container is
/// made, so one gets it and its container, the other makes nothing and says why.
#[test]
fn racing_creates_with_one_cidfile_make_one_container() {
    let Some(b) = env() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cid = dir.path().join("cid");
    let args = [
        "create",
        "--cidfile",
        cid.to_str().unwrap(),
        "busybox",
        "true",
    ];
    let racers: Vec<_> = (0..2)
        .map(|_| {
            let mut c = b.command(&args);
            c.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    let outs: Vec<_> = racers
        .into_iter()
        .map(|r| r.wait_with_output().unwrap())
        .collect();
    let won: Vec<_> = outs.iter().filter(|o| o.status.success()).collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        outs.iter().map(stderr).collect::<Vec<_>>()
    );
    let lost = outs.iter().find(|o| !o.status.success()).unwrap();
    assert_eq!(lost.status.code(), Some(125));
    assert!(
        stderr(lost).contains("container ID file found"),
        "{}",
        stderr(lost)
    );
    let id = stdout(won[0]).trim().to_string();
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id);
    assert_eq!(b.all_ids(), vec![id.clone()]);
    b.ok(&["rm", &id]);
}

/// A cidfile that exists stops `run` and `create` before anything else happens:
/// no pull of an image that is not here (docker makes the file first too).
#[test]
fn an_existing_cidfile_refuses_before_any_pull() {
    let Some(b) = env() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cid = dir.path().join("cid");
    std::fs::write(&cid, "taken").unwrap();
    let cid_s = cid.to_str().unwrap();
    // Port 1 on this host: a pull could only fail, and would say so.
    for cmd in ["run", "create"] {
        let args = [cmd, "--cidfile", cid_s, "127.0.0.1:1/nothing/here", "true"];
        refused(&b, &args, "container ID file found");
    }
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), "taken");
}

/// `--ipc host` brings the host's /dev/shm, whose size is the host's: a
/// `--shm-size` with it could not be honoured and is refused.
#[test]
fn shm_size_with_the_hosts_ipc_is_refused() {
    let Some(b) = env() else { return };
    let args = [
        "run",
        "--rm",
        "--ipc",
        "host",
        "--shm-size",
        "1m",
        "busybox",
        "df",
        "/dev/shm",
    ];
    let err = refused(&b, &args, "--shm-size");
    assert!(err.contains("--ipc host"), "{err}");
}
