//! What a container leaves within reach of others: a host user (not root) reads
//! nothing of a container's environment, logs or files and runs nothing it made,
//! and a container cannot raise the limits berth set on it.

use berth_testkit::{busybox_berth, require_root_and, stderr, stdout, Berth};
use std::path::{Path, PathBuf};
use std::process::Output;

const BIN: &str = env!("CARGO_BIN_EXE_berth");
const NOBODY: &str = "65534";

/// Runs `args` as the unprivileged host user nobody, no supplementary groups.
fn as_nobody(args: &[&str]) -> Output {
    std::process::Command::new("setpriv")
        .args(["--reuid", NOBODY, "--regid", NOBODY, "--clear-groups", "--"])
        .args(args)
        .output()
        .expect("run setpriv")
}

/// Runs `f` on a thread of its own whose credentials alone are nobody's: the raw
/// set*id system calls change only the calling thread (glibc's wrappers would change
/// every thread of the test process). For what setpriv cannot show: a socket connect.
fn on_nobody_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        // SAFETY: plain system calls on this thread's own credentials.
        unsafe {
            assert_eq!(
                libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<u32>()),
                0
            );
            assert_eq!(libc::syscall(libc::SYS_setresgid, 65534, 65534, 65534), 0);
            assert_eq!(libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534), 0);
        }
        f()
    })
    .join()
    .expect("nobody thread")
}

fn wait_for_log(b: &Berth, name: &str, needle: &str) {
    for _ in 0..500 {
        if b.ok(&["logs", name]).contains(needle) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("{needle:?} never showed in the logs of {name}");
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn a_host_user_reads_nothing_of_a_container_and_runs_nothing_it_made() {
    let Some(b) = busybox_berth(BIN, &["tar", "setpriv"]) else {
        return;
    };
    let secret = format!("hunter2-{}", std::process::id());
    let id = b.ok(&[
        "run",
        "-d",
        "--name",
        "sec",
        "-e",
        &format!("SECRET={secret}"),
        "busybox",
        "sh",
        "-c",
        "echo $SECRET > /secret.txt; chmod 644 /secret.txt; \
         cp /bin/busybox /suid-busybox; chmod 4755 /suid-busybox; \
         mknod -m 666 /nullnode c 1 3; echo $SECRET; exec sleep 600",
    ]);
    wait_for_log(&b, "sec", &secret);
    let dir = b.root.join("containers").join(&id);
    // The merged rootfs is mounted in the monitor's own mount namespace only: the
    // host reaches it through the monitor's root.
    let monitors = berth_testkit::monitor_processes(&b.root);
    assert_eq!(monitors.len(), 1, "one monitor: {monitors:?}");
    let merged = PathBuf::from(format!("/proc/{}/root", monitors[0]))
        .join(dir.join("rootfs").strip_prefix("/").unwrap());
    let db: Vec<PathBuf> = ["berth.db", "berth.db-wal", "berth.db-shm"]
        .iter()
        .map(|f| b.root.join(f))
        .filter(|p| p.exists())
        .collect();
    // Root sees the secret where nobody must not.
    let secret_holders: Vec<PathBuf> = [
        dir.join("config.json"),
        dir.join("container.log"),
        merged.join("secret.txt"),
        dir.join("upper/secret.txt"),
    ]
    .into_iter()
    .collect();
    for p in &secret_holders {
        let text = String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
        assert!(text.contains(&secret), "{} holds the secret", p.display());
    }
    let in_db = db
        .iter()
        .any(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).contains(&secret));
    assert!(in_db, "the database holds the container's environment");

    for p in db.iter().chain(&secret_holders) {
        let out = as_nobody(&["cat", &path_str(p)]);
        assert!(
            !out.status.success() && !stdout(&out).contains(&secret),
            "nobody read {} ({} bytes)",
            p.display(),
            out.stdout.len()
        );
    }
    // A setuid-root binary made inside the container, run from the host.
    for p in [merged.join("suid-busybox"), dir.join("upper/suid-busybox")] {
        let out = as_nobody(&[&path_str(&p), "id", "-u"]);
        assert!(
            !out.status.success(),
            "nobody ran {} and got uid {}",
            p.display(),
            stdout(&out).trim()
        );
    }
    // A world-writable device node made inside the container.
    let node = path_str(&merged.join("nullnode"));
    let out = as_nobody(&["dd", &format!("if={node}"), "count=1"]);
    assert!(!out.status.success(), "nobody opened {node}");
    let out = as_nobody(&["ls", &path_str(&b.root)]);
    assert!(!out.status.success(), "nobody listed {}", b.root.display());

    // The monitor's sockets: attach (stdin and signals into the container) and, for
    // a system container, notify (a fake READY=1).
    let run_dir = b.runroot.join("c").join(&id[..12]);
    let attach = run_dir.join("attach.sock");
    assert!(attach.exists(), "{} exists", attach.display());
    let connected = on_nobody_thread(move || std::os::unix::net::UnixStream::connect(&attach));
    assert!(connected.is_err(), "nobody connected to the attach socket");
    b.ok(&["rm", "-f", "sec"]);

    b.ok(&[
        "run",
        "-d",
        "--name",
        "sys",
        "--systemd=always",
        "busybox",
        "sleep",
        "600",
    ]);
    let id = b.ok(&["inspect", "-f", "{{.Id}}", "sys"]);
    let notify = b.runroot.join("c").join(&id[..12]).join("notify.sock");
    assert!(notify.exists(), "{} exists", notify.display());
    let sent = on_nobody_thread(move || {
        let s = std::os::unix::net::UnixDatagram::unbound()?;
        s.send_to(b"READY=1", &notify)
    });
    assert!(sent.is_err(), "nobody sent READY=1 to the notify socket");
    b.ok(&["rm", "-f", "sys"]);
}

#[test]
fn the_state_tree_is_private_from_the_start_and_an_old_one_is_made_private() {
    if !require_root_and(&["tar"]) {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let b = Berth::new(BIN);
    // An older berth left its roots world-readable.
    for d in [&b.root, &b.runroot] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    b.import_busybox("busybox", &[r#"CMD ["/bin/sh"]"#]);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&b.root), 0o700, "{}", b.root.display());
    assert_eq!(mode(&b.runroot), 0o700, "{}", b.runroot.display());
    let id = b.ok(&[
        "run",
        "-d",
        "--name",
        "m",
        "busybox",
        "sh",
        "-c",
        "echo hi; exec sleep 600",
    ]);
    wait_for_log(&b, "m", "hi");
    let dir = b.root.join("containers").join(&id);
    for f in [
        b.root.join("berth.db"),
        dir.join("config.json"),
        dir.join("container.log"),
        dir.join("monitor.log"),
    ] {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    b.ok(&["rm", "-f", "m"]);
}

/// The container's own cgroup file for `v1` (controller, file) or `v2` file, as the
/// host sees it.
fn host_cgroup_value(id: &str, v1: (&str, &str), v2: &str) -> String {
    let p = if unified() {
        format!("/sys/fs/cgroup/berth/{id}/{v2}")
    } else {
        format!("/sys/fs/cgroup/{}/berth/{id}/{}", v1.0, v1.1)
    };
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{p}: {e}"))
        .trim()
        .to_string()
}

fn unified() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// From inside `name`, tries to lift its memory and pids limits; returns what the
/// shell printed (one `raised FILE` line per write that went through).
fn try_to_raise_limits(b: &Berth, name: &str) -> String {
    let script = "for f in /sys/fs/cgroup/memory/memory.limit_in_bytes \
                  /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes \
                  /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory.max \
                  /sys/fs/cgroup/pids.max; do \
                    [ -e $f ] || continue; \
                    v=-1; case $f in *pids.max|*memory.max) v=max;; esac; \
                    echo $v 2>/dev/null > $f && echo raised $f; \
                  done; true";
    exec_sh(b, name, script)
}

/// `exec NAME sh -c SCRIPT`, not waiting for a boot: the busybox "system"
/// containers here never report one.
fn exec_sh(b: &Berth, name: &str, script: &str) -> String {
    let out = b
        .command(&["exec", name, "sh", "-c", script])
        .env("BERTH_EXEC_READY_TIMEOUT", "0")
        .output()
        .expect("run berth exec");
    assert!(out.status.success(), "exec in {name}: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

fn assert_limits_held(b: &Berth, name: &str) {
    let id = b.ok(&["inspect", "-f", "{{.Id}}", name]);
    let raised = try_to_raise_limits(b, name);
    if !unified() {
        // cgroup v1: the controllers are read-only inside; on v2 the container's
        // namespace root is a child of the cgroup holding the limits, so a write
        // there (if the kernel lets it through) changes nothing that counts.
        assert_eq!(raised, "", "{name} raised its limits");
    }
    assert_eq!(
        host_cgroup_value(&id, ("memory", "memory.limit_in_bytes"), "memory.max"),
        (100u64 << 20).to_string(),
        "the memory limit of {name} as the host sees it; inside: {raised}"
    );
    assert_eq!(
        host_cgroup_value(&id, ("pids", "pids.max"), "pids.max"),
        "500",
        "the pids limit of {name} as the host sees it; inside: {raised}"
    );
}

#[test]
fn a_system_container_cannot_raise_its_limits() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let limits = ["--memory", "100m", "--pids-limit", "500"];
    let mut args = vec!["run", "-d", "--name", "sys", "--systemd=always"];
    args.extend(limits);
    args.extend(["busybox", "sleep", "600"]);
    b.ok(&args);
    assert_limits_held(&b, "sys");
    if !unified() {
        // What systemd must write stays writable: its own name=systemd subtree.
        let out = exec_sh(
            &b,
            "sys",
            "mkdir /sys/fs/cgroup/systemd/probe && rmdir /sys/fs/cgroup/systemd/probe && echo ok",
        );
        assert_eq!(out, "ok");
    }
    b.ok(&["rm", "-f", "sys"]);

    // A plain container has no cgroup filesystem to write, and may not mount one.
    let mut args = vec!["run", "-d", "--name", "plain"];
    args.extend(limits);
    args.extend(["busybox", "sleep", "600"]);
    b.ok(&args);
    let mounted = b.run(&[
        "exec",
        "plain",
        "sh",
        "-c",
        "mkdir -p /tmp/cg && mount -t cgroup -o memory cgroup /tmp/cg",
    ]);
    assert!(
        !mounted.status.success(),
        "a plain container mounted cgroupfs"
    );
    assert_limits_held(&b, "plain");
    b.ok(&["rm", "-f", "plain"]);
}

#[test]
fn a_booted_systemd_container_cannot_raise_its_memory_limit() {
    if !require_root_and(&["tar", "debootstrap"]) {
        return;
    }
    let b = Berth::new(BIN);
    b.import_systemd("debian-systemd");
    b.ok(&[
        "run",
        "-d",
        "--wait=ready",
        "--name",
        "s",
        "--memory",
        "100m",
        "--pids-limit",
        "500",
        "debian-systemd",
    ]);
    assert_limits_held(&b, "s");
    let state = b.run(&["exec", "s", "systemctl", "is-system-running", "--wait"]);
    assert_eq!(stdout(&state).trim(), "running", "{}", stderr(&state));
    b.ok(&["stop", "s"]);
    assert_eq!(b.ok(&["inspect", "-f", "{{.State.ExitCode}}", "s"]), "0");
    b.ok(&["rm", "s"]);
}
