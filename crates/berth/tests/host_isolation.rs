//! What a container leaves within reach of others: a host user (not root) reads
//! nothing of a container's environment, logs or files and runs nothing it made.

use berth_testkit::{busybox_berth, require_root_and, stdout, Berth};
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
    let db: Vec<PathBuf> = ["berth.db", "berth.db-wal", "berth.db-shm"]
        .iter()
        .map(|f| b.root.join(f))
        .filter(|p| p.exists())
        .collect();
    // Root sees the secret where nobody must not.
    let secret_holders: Vec<PathBuf> = [
        dir.join("config.json"),
        dir.join("container.log"),
        dir.join("rootfs/secret.txt"),
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
    for p in [
        dir.join("rootfs/suid-busybox"),
        dir.join("upper/suid-busybox"),
    ] {
        let out = as_nobody(&[&path_str(&p), "id", "-u"]);
        assert!(
            !out.status.success(),
            "nobody ran {} and got uid {}",
            p.display(),
            stdout(&out).trim()
        );
    }
    // A world-writable device node made inside the container.
    let node = path_str(&dir.join("rootfs/nullnode"));
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
