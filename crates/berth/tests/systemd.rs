//! System containers: a Debian bookworm image whose PID 1 is systemd boots with no
//! flags, runs services, reports readiness, stops cleanly, and explains failures.

use berth_testkit::{require_root_and, stderr, stdout, Berth, SshKey};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    if !require_root_and(&["tar", "debootstrap"]) {
        return None;
    }
    let b = Berth::new(BIN);
    b.import_systemd("debian-systemd");
    Some(b)
}

#[test]
fn boots_runs_services_and_stops_cleanly() {
    let Some(b) = env() else { return };
    b.ok(&["run", "-d", "--name", "s", "debian-systemd"]);
    // Right after run -d: exec waits for the boot instead of racing it.
    let state = b.run(&["exec", "s", "systemctl", "is-system-running", "--wait"]);
    assert!(
        !stderr(&state).contains("Failed to connect to bus"),
        "{}",
        stderr(&state)
    );
    assert_eq!(stdout(&state).trim(), "running", "{}", stderr(&state));
    assert_eq!(
        b.ok(&[
            "exec",
            "s",
            "systemctl",
            "--failed",
            "--plain",
            "--no-legend"
        ]),
        ""
    );
    b.ok(&["exec", "s", "systemctl", "restart", "ssh"]);
    assert_eq!(
        b.ok(&["exec", "s", "systemctl", "is-active", "ssh"]),
        "active"
    );
    // The container's own cgroup subtree, writable, seen as the root.
    assert_eq!(
        b.ok(&["exec", "s", "sh", "-c", "grep name=systemd /proc/1/cgroup"]),
        "9:name=systemd:/init.scope".replace(
            "9:",
            &format!(
                "{}:",
                b.ok(&[
                    "exec",
                    "s",
                    "sh",
                    "-c",
                    "grep name=systemd /proc/1/cgroup | cut -d: -f1"
                ])
            )
        )
    );
    assert_eq!(
        b.ok(&[
            "exec",
            "s",
            "sh",
            "-c",
            "echo $container; cat /run/host/container-manager"
        ]),
        "berth\nberth"
    );
    assert_eq!(
        b.ok(&["ps", "--format", "{{.Status}}"]).rsplit(' ').next(),
        Some("(ready)")
    );
    b.ok(&["stop", "s"]);
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.State.ExitCode}}", "s"]),
        "0",
        "a clean halt, no SIGKILL"
    );
    let logs = b.ok(&["logs", "s"]);
    assert!(
        logs.contains("Welcome to Debian"),
        "boot messages reach the logs"
    );
    assert!(
        logs.contains("Started ssh.service"),
        "the journal reaches the logs"
    );
    assert!(
        logs.contains("Halting system") || logs.contains("Exiting container"),
        "the halt shows in the logs"
    );
}

#[test]
fn wait_ready_returns_after_ready_and_ps_shows_boot_state() {
    let Some(b) = env() else { return };
    b.ok(&["run", "-d", "--wait=ready", "--name", "r", "debian-systemd"]);
    assert_eq!(b.ok(&["inspect", "-f", "{{.State.Boot}}", "r"]), "ready");
    assert!(b.ok(&["ps"]).contains("(ready)"));
    let plain = b.run(&["run", "-d", "--wait=ready", "debian-systemd", "sleep", "1"]);
    assert_eq!(
        plain.status.code(),
        Some(125),
        "--wait=ready refuses a non-systemd command"
    );
    // Two containers from one image get different machine ids.
    b.ok(&[
        "run",
        "-d",
        "--wait=ready",
        "--name",
        "r2",
        "debian-systemd",
    ]);
    let a = b.ok(&["exec", "r", "cat", "/etc/machine-id"]);
    let c = b.ok(&["exec", "r2", "cat", "/etc/machine-id"]);
    assert_eq!(a.len(), 32);
    assert_ne!(a, c);
}

#[test]
fn doctor_names_three_failure_modes() {
    let Some(b) = env() else { return };
    // 1. systemd without systemd mode.
    b.ok(&[
        "run",
        "-d",
        "--name",
        "plain",
        "--systemd=false",
        "debian-systemd",
    ]);
    let offline = b.run(&["exec", "plain", "systemctl", "is-system-running"]);
    assert_ne!(
        stdout(&offline).trim(),
        "running",
        "systemd does not come up in plain mode"
    );
    let d = b.run(&["doctor", "plain"]);
    assert_eq!(d.status.code(), Some(1));
    assert!(
        stdout(&d).contains("plain mode") && stdout(&d).contains("--systemd=always"),
        "{}",
        stdout(&d)
    );

    // 2. systemd that is not PID 1.
    b.ok(&[
        "run",
        "-d",
        "--name",
        "notpid1",
        "debian-systemd",
        "sh",
        "-c",
        "/lib/systemd/systemd; sleep 30",
    ]);
    let d = wait_for_doctor(&b, "notpid1", "not PID 1");
    assert!(d.contains("fix:"), "{d}");

    // 3. a unit that fails: the system is degraded and doctor names the unit.
    b.ok(&[
        "run",
        "-d",
        "--wait=ready",
        "--name",
        "degraded",
        "debian-systemd",
    ]);
    b.ok(&[
        "exec",
        "degraded",
        "sh",
        "-c",
        "printf '[Service]\\nExecStart=/bin/false\\n' > /etc/systemd/system/broken.service",
    ]);
    let _ = b.run(&["exec", "degraded", "systemctl", "start", "broken.service"]);
    assert_eq!(
        b.run(&["exec", "degraded", "systemctl", "is-system-running"])
            .status
            .code(),
        Some(1)
    );
    let d = wait_for_doctor(&b, "degraded", "broken.service");
    assert!(d.contains("journalctl"), "{d}");

    // 4. a unit that fails during boot: ps says the system came up degraded.
    let dir = std::env::temp_dir().join(format!("berth-dropin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("broken.conf"),
        "[Service]\nRestart=no\nExecStartPre=/bin/false\n",
    )
    .unwrap();
    let dropin = format!(
        "{}:/etc/systemd/system/ssh.service.d/broken.conf:ro",
        dir.join("broken.conf").display()
    );
    b.ok(&[
        "run",
        "-d",
        "--wait=ready",
        "--name",
        "bootfail",
        "-v",
        &dropin,
        "debian-systemd",
    ]);
    let mut status = String::new();
    for _ in 0..100 {
        status = b.ok(&["ps", "-f", "name=bootfail", "--format", "{{.Status}}"]);
        if status.ends_with("(degraded)") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(status.ends_with("(degraded)"), "{status}");
    assert!(stdout(&b.run(&["doctor", "bootfail"])).contains("ssh.service"));
    let _ = std::fs::remove_dir_all(dir);

    // A healthy one has nothing to report.
    b.ok(&[
        "run",
        "-d",
        "--wait=ready",
        "--name",
        "healthy",
        "debian-systemd",
    ]);
    let d = b.run(&["doctor", "healthy"]);
    assert_eq!(d.status.code(), Some(0), "{}", stdout(&d));
}

fn wait_for_doctor(b: &Berth, name: &str, needle: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let out = stdout(&b.run(&["doctor", name]));
        if out.contains(needle) {
            return out;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "doctor never named {needle:?}; last said:\n{out}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn privileged_system_container_boots_without_host_ttys() {
    let Some(b) = env() else { return };
    b.ok(&[
        "run",
        "-d",
        "--privileged",
        "--wait=ready",
        "--name",
        "p",
        "debian-systemd",
    ]);
    assert_eq!(
        b.ok(&["exec", "p", "systemctl", "is-system-running", "--wait"]),
        "running"
    );
    assert_eq!(
        b.ok(&[
            "exec",
            "p",
            "sh",
            "-c",
            "ls /dev | grep -c '^tty[0-9]' || true"
        ]),
        "0"
    );
    b.ok(&["stop", "p"]);
    assert_eq!(b.ok(&["inspect", "-f", "{{.State.ExitCode}}", "p"]), "0");
}

/// The seed's story: a Debian systemd + sshd container published on a host port,
/// logged into with a generated key.
#[test]
fn ssh_into_system_container_over_published_port() {
    if !require_root_and(&["ssh", "ssh-keygen"]) {
        return;
    }
    let Some(b) = env() else { return };
    let key = SshKey::new("ssh");
    let authorized = key.dir().join("authorized_keys");
    std::fs::copy(key.public(), &authorized).unwrap();
    let port = 21000 + (std::process::id() % 2000) as u16 * 3;
    let publish = format!("{port}:22");
    let keys = format!("{}:/root/.ssh/authorized_keys:ro", authorized.display());
    b.ok(&[
        "run",
        "-d",
        "-p",
        &publish,
        "--hostname",
        "h",
        "--name",
        "n",
        "-v",
        &keys,
        "--wait=ready",
        "debian-systemd",
    ]);
    let last = key.login(port, "hostname; systemctl is-system-running --wait");
    assert_eq!(last.trim(), "h\nrunning");
    b.ok(&["stop", "n"]);
    assert_eq!(b.ok(&["inspect", "-f", "{{.State.ExitCode}}", "n"]), "0");
}
