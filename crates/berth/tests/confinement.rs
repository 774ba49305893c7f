//! Mounts and security defaults: read-only binds, tmpfs, read-only rootfs,
//! capabilities, seccomp, masked paths, ulimits, resources.

use berth_testkit::{stderr, Berth, Scratch};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar"])
}

#[test]
fn binds_tmpfs_and_read_only_root() {
    let Some(b) = env() else { return };
    let scratch = Scratch::new("bind");
    let host = scratch.path();
    std::fs::write(host.join("f"), "from-host\n").unwrap();
    let v = format!("{}:/data:ro", host.display());
    let out = b.sh(
        &["-v", &v],
        "cat /data/f; touch /data/x 2>/dev/null && echo writable || echo read-only",
    );
    assert_eq!(out, "from-host\nread-only");
    let rw = format!("{}:/data", host.display());
    b.ok(&[
        "run",
        "--rm",
        "-v",
        &rw,
        "busybox",
        "touch",
        "/data/written",
    ]);
    assert!(host.join("written").exists());
    let tmpfs = b.sh(
        &["--tmpfs", "/scratch:size=1m"],
        "grep ' /scratch ' /proc/mounts",
    );
    assert!(
        tmpfs.starts_with("tmpfs /scratch tmpfs") && tmpfs.contains("size=1024k"),
        "{tmpfs}"
    );
    let ro = b.sh(
        &["--read-only"],
        "touch /x 2>/dev/null && echo writable || echo read-only",
    );
    assert_eq!(ro, "read-only");
    let named = b.sh(&["-v", "vol1:/v"], "echo kept > /v/k");
    assert!(named.is_empty());
    assert_eq!(
        b.ok(&["run", "--rm", "-v", "vol1:/v", "busybox", "cat", "/v/k"]),
        "kept"
    );
    let bad = b.run(&[
        "run",
        "--rm",
        "-v",
        "/definitely/missing:/x",
        "busybox",
        "true",
    ]);
    assert_eq!(bad.status.code(), Some(125));
    assert!(stderr(&bad).contains("does not exist"), "{}", stderr(&bad));
}

#[test]
fn default_capabilities_and_confinement_match_docker() {
    let Some(b) = env() else { return };
    let caps = b.ok(&[
        "run",
        "--rm",
        "busybox",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert_eq!(caps, "CapEff:\t00000000a80425fb");
    let dropped = b.ok(&[
        "run",
        "--rm",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "NET_ADMIN",
        "busybox",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert_eq!(dropped, "CapEff:\t0000000000001000");
    // seccomp refuses mount even to root, and /proc/kcore is masked.
    let mount = b.sh_output(&[], "mkdir -p /mnt && mount -t tmpfs tmpfs /mnt");
    assert!(!mount.status.success());
    let masked = [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("the host has at least one of the masked /proc files");
    assert_eq!(b.sh(&[], &format!("wc -c < {masked}")), "0");
    let sys_ro = b.sh(
        &[],
        "echo 1 > /proc/sys/kernel/panic 2>/dev/null && echo writable || echo read-only",
    );
    assert_eq!(sys_ro, "read-only");
    let nnp = b.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "grep",
        "NoNewPrivs",
        "/proc/self/status",
    ]);
    assert_eq!(nnp, "NoNewPrivs:\t1");
    let privileged = b.sh(
        &["--privileged"],
        "mkdir -p /mnt && mount -t tmpfs tmpfs /mnt && echo mounted",
    );
    assert_eq!(privileged, "mounted");
}

#[test]
fn ulimits_and_resources() {
    let Some(b) = env() else { return };
    assert_eq!(b.sh(&["--ulimit", "nofile=512:1024"], "ulimit -n"), "512");
    let above = b.run(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=1048576:99999999",
        "busybox",
        "true",
    ]);
    assert_eq!(above.status.code(), Some(125));
    assert!(stderr(&above).contains("hard limit"), "{}", stderr(&above));
    let id = b.ok(&[
        "run",
        "-d",
        "--memory",
        "64m",
        "--pids-limit",
        "30",
        "--cpus",
        "0.5",
        "busybox",
        "sleep",
        "60",
    ]);
    let cg = |ctl: &str, file: &str| {
        std::fs::read_to_string(format!("/sys/fs/cgroup/{ctl}/berth/{id}/{file}"))
            .map(|s| s.trim().to_string())
    };
    if std::path::Path::new("/sys/fs/cgroup/memory").is_dir() {
        assert_eq!(
            cg("memory", "memory.limit_in_bytes").unwrap(),
            (64u64 << 20).to_string()
        );
        assert_eq!(cg("pids", "pids.max").unwrap(), "30");
        assert_eq!(cg("cpu", "cpu.cfs_quota_us").unwrap(), "50000");
    } else {
        assert_eq!(cg("", "memory.max").unwrap(), (64u64 << 20).to_string());
        assert_eq!(cg("", "pids.max").unwrap(), "30");
    }
    b.ok(&["rm", "-f", &id]);
}
