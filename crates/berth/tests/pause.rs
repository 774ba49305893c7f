//! `pause`/`unpause` (also as `container pause|unpause`): the container's
//! processes frozen in the kernel (cgroup v1 freezer.state, v2 cgroup.freeze),
//! shown as paused by `ps` and `inspect`, `exec` refused while paused, and
//! `stop`/`kill`/`rm -f` of a paused container working as docker's; a paused
//! container whose monitor dies is still cleaned up.

use berth_testkit::{busybox_berth, stderr, wait_for, Berth};
use std::path::PathBuf;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_berth");

/// A counter the container bumps every 20 ms, read from the host through its init.
const COUNTER: &str = "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.02; done";

fn counter(b: &Berth, name: &str) -> u64 {
    let pid = b.ok(&["inspect", "-f", "{{.State.Pid}}", name]);
    let text = std::fs::read_to_string(format!("/proc/{pid}/root/tmp/n")).unwrap_or_default();
    text.trim().parse().unwrap_or(0)
}

fn id(b: &Berth, name: &str) -> String {
    b.ok(&["inspect", "-f", "{{.Id}}", name])
}

/// The freezer file of the container's cgroup and the value meaning frozen.
fn freezer(id: &str) -> (PathBuf, &'static str) {
    let v1 = PathBuf::from(format!("/sys/fs/cgroup/freezer/berth/{id}/freezer.state"));
    match v1.exists() {
        true => (v1, "FROZEN"),
        false => (
            PathBuf::from(format!("/sys/fs/cgroup/berth/{id}/cgroup.freeze")),
            "1",
        ),
    }
}

#[test]
fn a_paused_container_is_frozen_in_the_kernel_and_shown_paused() {
    let Some(b) = busybox_berth(BIN, &[]) else {
        return;
    };
    b.ok(&["run", "-d", "--name", "p", "busybox", "sh", "-c", COUNTER]);
    wait_for("the counter to run", || {
        (counter(&b, "p") > 0).then_some(())
    });
    let id = id(&b, "p");

    assert_eq!(b.ok(&["pause", "p"]), "p");
    let (file, frozen) = freezer(&id);
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), frozen);
    let pid = b.ok(&["inspect", "-f", "{{.State.Pid}}", "p"]);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let state = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    assert_eq!(state, "D", "a frozen task sleeps uninterruptibly: {stat}");
    let before = counter(&b, "p");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        counter(&b, "p"),
        before,
        "the counter must not advance while paused"
    );

    assert_eq!(
        b.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.Paused}} {{.State.Running}}",
            "p"
        ]),
        "paused true true"
    );
    let ps = b.ok(&["ps", "--format", "{{.Status}}|{{.State}}"]);
    assert!(ps.contains("(Paused)|paused"), "{ps}");
    assert_eq!(b.ok(&["ps", "-q", "--filter", "status=paused"]).len(), 12);

    let exec = b.run(&["exec", "p", "true"]);
    assert_eq!(
        exec.status.code(),
        Some(125),
        "exec into a paused container"
    );
    assert!(stderr(&exec).contains("is paused"), "{}", stderr(&exec));
    let start = b.run(&["start", "p"]);
    assert!(
        stderr(&start).contains("cannot start a paused container"),
        "{}",
        stderr(&start)
    );
    let again = b.run(&["pause", "p"]);
    assert!(
        !again.status.success() && stderr(&again).contains("already paused"),
        "{}",
        stderr(&again)
    );

    assert_eq!(b.ok(&["container", "unpause", "p"]), "p");
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "p"]),
        "running false"
    );
    wait_for("the counter to run again", || {
        (counter(&b, "p") > before).then_some(())
    });
    b.ok(&["exec", "p", "true"]);
    let not_paused = b.run(&["unpause", "p"]);
    assert!(
        stderr(&not_paused).contains("not paused"),
        "{}",
        stderr(&not_paused)
    );

    b.ok(&["container", "pause", "p"]);
    std::thread::sleep(Duration::from_millis(500));
    let ps = b.ok(&["ps", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(
        ps, "p paused",
        "neither the monitor nor ps takes it for dead"
    );
    b.ok(&["unpause", "p"]);

    b.ok(&["stop", "-t", "1", "p"]);
    let stopped = b.run(&["pause", "p"]);
    assert!(
        !stopped.status.success() && stderr(&stopped).contains("not running"),
        "{}",
        stderr(&stopped)
    );
}

#[test]
fn stop_kill_and_rm_force_end_a_paused_container() {
    let Some(b) = busybox_berth(BIN, &[]) else {
        return;
    };
    for n in ["s", "k", "r"] {
        b.ok(&["run", "-d", "--name", n, "busybox", "sleep", "1000"]);
        b.ok(&["pause", n]);
    }
    // sleep as PID 1 ignores TERM: stop ends it with KILL after the timeout.
    b.ok(&["stop", "-t", "1", "s"]);
    assert_eq!(
        b.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "s"
        ]),
        "exited 137"
    );
    b.ok(&["kill", "k"]);
    b.ok(&["wait", "k"]);
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "k"]),
        "exited false"
    );
    b.ok(&["rm", "-f", "r"]);
    assert!(!b.run(&["inspect", "r"]).status.success());
    // A container started again after a stop while paused is not paused.
    b.ok(&["start", "s"]);
    b.ok(&["exec", "s", "true"]);
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.State.Status}}", "s"]),
        "running"
    );
}

/// A paused container whose monitor is killed: berth must thaw it to kill it,
/// or its frozen processes and cgroups stay behind (SIGKILL waits for a thaw on
/// cgroup v1). The Berth's drop checks that nothing is left.
#[test]
fn a_paused_container_whose_monitor_died_is_still_cleaned_up() {
    let Some(b) = busybox_berth(BIN, &[]) else {
        return;
    };
    b.ok(&["run", "-d", "--name", "m", "busybox", "sleep", "1000"]);
    b.ok(&["pause", "m"]);
    let pid: i32 = b
        .ok(&["inspect", "-f", "{{.State.Pid}}", "m"])
        .parse()
        .unwrap();
    b.kill_monitors();
    assert_eq!(b.ok(&["inspect", "-f", "{{.State.Status}}", "m"]), "exited");
    let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.rsplit(')').next().unwrap().trim_start().starts_with('Z'));
    assert!(!alive, "the container's process must be gone");
}

/// `commit` pauses the container while it archives it (`--pause`, the default)
/// and thaws it after: a container the user paused stays paused.
#[test]
fn commit_leaves_a_users_pause_in_place() {
    let Some(b) = busybox_berth(BIN, &[]) else {
        return;
    };
    b.ok(&["run", "-d", "--name", "cp", "busybox", "sleep", "1000"]);
    b.ok(&["pause", "cp"]);
    b.ok(&["commit", "cp", "snap:paused"]);
    assert_eq!(b.ok(&["inspect", "-f", "{{.State.Paused}}", "cp"]), "true");
    let (file, frozen) = freezer(&id(&b, "cp"));
    assert_eq!(std::fs::read_to_string(file).unwrap().trim(), frozen);
    b.ok(&["unpause", "cp"]);
    b.ok(&["commit", "cp", "snap:running"]);
    assert_eq!(b.ok(&["inspect", "-f", "{{.State.Paused}}", "cp"]), "false");
}
