//! `--init`: a static init from the host (tini-static or catatonit) as PID 1, which
//! forwards the stop signal to the command and reaps orphaned zombies.

use berth_testkit::Berth;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    let init = ["/usr/bin/tini-static", "/usr/bin/catatonit"]
        .iter()
        .any(|p| std::path::Path::new(p).exists());
    if !berth_testkit::require("a static init (apt-get install tini)", init) {
        return None;
    }
    berth_testkit::busybox_berth(BIN, &["tar"])
}

/// Zombies in the container once an orphan (an exec'd shell's child, `usleep`)
/// has exited: its parent is the container's PID 1 by then, which must reap it.
fn zombies_after_an_orphan_exits(b: &Berth, name: &str) -> usize {
    b.ok(&["exec", name, "sh", "-c", "(usleep 200000 &) ; true"]);
    let ps = || b.ok(&["exec", name, "ps", "-o", "stat,comm"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while ps()
        .lines()
        .any(|l| l.ends_with("usleep") && !l.starts_with('Z'))
    {
        assert!(Instant::now() < deadline, "the orphan never exited");
        std::thread::sleep(Duration::from_millis(100));
    }
    // An init reaps at once; a second is plenty for it, and a zombie nobody
    // reaps stays whatever the wait.
    std::thread::sleep(Duration::from_secs(1));
    ps().lines()
        .filter(|l| l.starts_with('Z') && l.ends_with("usleep"))
        .count()
}

#[test]
fn init_is_pid_1_and_reaps_orphans() {
    let Some(b) = env() else { return };
    b.ok(&[
        "run", "-d", "--name", "with", "--init", "busybox", "sleep", "1000",
    ]);
    let pid1 = b.ok(&["exec", "with", "cat", "/proc/1/cmdline"]);
    assert!(pid1.starts_with("/sbin/docker-init\0--\0sleep"), "{pid1:?}");
    assert_eq!(zombies_after_an_orphan_exits(&b, "with"), 0);
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.HostConfig.Init}}", "with"]),
        "true"
    );

    // Without it, `sleep` as PID 1 never reaps: the zombie stays.
    b.ok(&["run", "-d", "--name", "without", "busybox", "sleep", "1000"]);
    assert_eq!(zombies_after_an_orphan_exits(&b, "without"), 1);
}

#[test]
fn stop_reaches_the_command_through_the_init() {
    let Some(b) = env() else { return };
    // `sleep` as PID 1 ignores SIGTERM (the kernel drops signals a PID 1 has no
    // handler for), so a stop ends in SIGKILL (137); under the init it gets the
    // forwarded SIGTERM and dies of it (143).
    b.ok(&[
        "run",
        "-d",
        "--name",
        "stoppable",
        "--init",
        "busybox",
        "sleep",
        "1000",
    ]);
    b.ok(&["stop", "stoppable"]);
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.State.ExitCode}}", "stoppable"]),
        "143"
    );
}

#[test]
fn missing_init_and_systemd_mode_are_refused() {
    let Some(b) = env() else { return };
    let out = b.run(&[
        "run",
        "--rm",
        "--init",
        "--init-path",
        "/nonexistent/tini",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--init-path /nonexistent/tini: no such file"),
        "{err}"
    );
    let out = b.run(&["create", "--init", "--systemd=always", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("systemd must be the container's PID 1"),
        "{err}"
    );
    assert!(b.all_ids().is_empty());
}
