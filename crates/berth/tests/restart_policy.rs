//! `--restart` honoured by the container's monitor, without a daemon, and
//! `system boot` bringing containers back after a (simulated) reboot. Timings are
//! never asserted: every wait polls with a generous deadline.

use berth_testkit::Berth;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar"])
}

fn inspect(b: &Berth, name: &str, format: &str) -> String {
    b.ok(&["inspect", "-f", format, name])
}

const STATE: &str = "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}";

#[test]
fn on_failure_3_restarts_exactly_three_times_and_keeps_the_exit_code() {
    let Some(b) = env() else { return };
    b.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart=on-failure:3",
        "busybox",
        "sh",
        "-c",
        "echo attempt; exit 3",
    ]);
    b.wait_inspect("flaky", STATE, "3 exited 3");
    // Once its monitor is gone nothing can start it again.
    b.wait_monitors_gone();
    assert_eq!(inspect(&b, "flaky", STATE), "3 exited 3");
    assert_eq!(
        inspect(
            &b,
            "flaky",
            "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.State.Restarting}}"
        ),
        "on-failure 3 false"
    );
    let logs = b.ok(&["logs", "flaky"]);
    assert_eq!(
        logs.matches("attempt").count(),
        4,
        "the first run and three restarts: {logs}"
    );
}

#[test]
fn on_failure_leaves_a_clean_exit_alone() {
    let Some(b) = env() else { return };
    b.ok(&[
        "run",
        "-d",
        "--name",
        "clean",
        "--restart=on-failure",
        "busybox",
        "true",
    ]);
    b.wait_inspect("clean", "{{.State.Status}}", "exited");
    b.wait_monitors_gone();
    assert_eq!(inspect(&b, "clean", STATE), "0 exited 0");
}

#[test]
fn always_survives_the_containers_exit_until_stopped() {
    let Some(b) = env() else { return };
    // Fails on its first run; runs for good once restarted (its files persist).
    let script = "[ -e /second ] && exec sleep 1000; touch /second; exit 5";
    b.ok(&[
        "run",
        "-d",
        "--name",
        "phoenix",
        "--restart=always",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    b.wait_inspect(
        "phoenix",
        "{{.RestartCount}} {{.State.Status}}",
        "1 running",
    );
    b.ok(&["stop", "-t", "1", "phoenix"]);
    b.wait_monitors_gone();
    assert_eq!(
        inspect(&b, "phoenix", "{{.RestartCount}} {{.State.Status}}"),
        "1 exited",
        "a stopped container stays stopped"
    );
    // A user's start brings it back and counts afresh, as docker's does.
    b.ok(&["start", "phoenix"]);
    assert_eq!(
        inspect(&b, "phoenix", "{{.RestartCount}} {{.State.Status}}"),
        "0 running"
    );
}

#[test]
fn kill_ends_the_restarts_as_dockers_does() {
    let Some(b) = env() else { return };
    b.ok(&[
        "run",
        "-d",
        "--name",
        "victim",
        "--restart=always",
        "busybox",
        "sleep",
        "1000",
    ]);
    b.ok(&["kill", "victim"]);
    b.wait_inspect("victim", "{{.State.Status}}", "exited");
    b.wait_monitors_gone();
    assert_eq!(inspect(&b, "victim", STATE), "0 exited 137");
}

#[test]
fn unless_stopped_stays_down_after_stop_and_at_boot_always_comes_back() {
    let Some(b) = env() else { return };
    for (name, policy) in [
        ("us", "unless-stopped"),
        ("al", "always"),
        ("of", "on-failure"),
    ] {
        let flag = format!("--restart={policy}");
        b.ok(&[
            "run", "-d", "--name", name, &flag, "busybox", "sleep", "1000",
        ]);
    }
    for name in ["us", "al", "of"] {
        b.ok(&["stop", "-t", "0", name]);
    }
    b.wait_monitors_gone();
    assert_eq!(inspect(&b, "us", "{{.State.Status}}"), "exited");
    // At boot: always comes back even after a stop (docker's rule), unless-stopped
    // and on-failure do not.
    let started = b.ok(&["system", "boot"]);
    assert_eq!(started, "al");
    assert_eq!(inspect(&b, "al", "{{.State.Status}}"), "running");
    assert_eq!(inspect(&b, "us", "{{.State.Status}}"), "exited");
    assert_eq!(inspect(&b, "of", "{{.State.Status}}"), "exited");
    assert_eq!(b.ok(&["system", "boot"]), "", "boot is idempotent");
}

#[test]
fn boot_brings_back_what_a_power_loss_took() {
    let Some(b) = env() else { return };
    b.ok(&[
        "run",
        "-d",
        "--name",
        "svc",
        "--restart=unless-stopped",
        "busybox",
        "sleep",
        "1000",
    ]);
    b.ok(&["run", "-d", "--name", "plain", "busybox", "sleep", "1000"]);
    let inits: Vec<i32> = ["svc", "plain"]
        .iter()
        .map(|n| inspect(&b, n, "{{.State.Pid}}").parse().unwrap())
        .collect();
    // A power loss: monitors and containers die, nobody records anything (the
    // monitors first, so none sees its container end).
    b.kill_monitors();
    for pid in inits {
        // SAFETY: kill(2) on this test's own container inits.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    assert_eq!(b.ok(&["system", "boot"]), "svc");
    assert_eq!(inspect(&b, "svc", "{{.State.Status}}"), "running");
    assert_eq!(inspect(&b, "plain", "{{.State.Status}}"), "exited");
}

#[test]
fn bad_policies_and_rm_are_refused() {
    let Some(b) = env() else { return };
    for (flags, needle) in [
        (vec!["--restart=sometimes"], "invalid restart policy"),
        (vec!["--restart=always:3"], "only be used with on-failure"),
        (vec!["--restart=on-failure:-1"], "maximum retry count"),
        (vec!["--restart=always", "--rm"], "--restart and --rm"),
    ] {
        let mut args = vec!["run", "-d"];
        args.extend(&flags);
        args.extend(["busybox", "true"]);
        let out = b.run(&args);
        assert_eq!(out.status.code(), Some(125), "{flags:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{flags:?}: {err}");
    }
    assert!(b.all_ids().is_empty(), "nothing was created");
}

#[test]
fn install_boot_unit_refuses_without_systemd() {
    let Some(b) = env() else { return };
    if std::path::Path::new("/run/systemd/system").is_dir() {
        return; // the VM test (tests/vm/boot-unit.sh) covers hosts with systemd
    }
    let out = b.run(&["system", "install-boot-unit"]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not run systemd"), "{err}");
    assert!(!std::path::Path::new("/etc/systemd/system/berth-boot.service").exists());
}

#[test]
fn update_restart_changes_the_policy_of_a_running_container() {
    let Some(b) = env() else { return };
    // Waits for /tmp/go, which stays in its filesystem: every restart exits at once.
    b.ok(&[
        "run",
        "-d",
        "--name",
        "later",
        "busybox",
        "sh",
        "-c",
        "until [ -e /tmp/go ]; do sleep 0.1; done; echo attempt; exit 3",
    ]);
    b.ok(&["update", "--restart=on-failure:2", "later"]);
    assert_eq!(
        inspect(
            &b,
            "later",
            "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "on-failure 2"
    );
    b.ok(&["exec", "later", "touch", "/tmp/go"]);
    b.wait_inspect("later", STATE, "2 exited 3");
    b.wait_monitors_gone();
    assert_eq!(inspect(&b, "later", STATE), "2 exited 3");

    // Back to no: the next failure is final.
    b.ok(&["container", "update", "--restart", "no", "later"]);
    b.ok(&["start", "later"]);
    b.wait_inspect("later", STATE, "0 exited 3");

    b.ok(&[
        "run", "-d", "--rm", "--name", "gone", "busybox", "sleep", "30",
    ]);
    // Per container, as docker's: exit 1 with the reason.
    let out = b.run(&["update", "--restart=always", "gone"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        berth_testkit::stderr(&out).contains("--rm"),
        "{}",
        berth_testkit::stderr(&out)
    );
    let out = b.run(&["update", "--restart=sometimes", "later"]);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let out = b.run(&["update", "later"]);
    assert!(
        berth_testkit::stderr(&out).contains("nothing to update"),
        "{}",
        berth_testkit::stderr(&out)
    );
    b.ok(&["rm", "-f", "gone", "later"]);
}

#[test]
fn ps_lists_a_container_waiting_to_restart_as_docker_does() {
    let Some(b) = env() else { return };
    b.run_crash_loop("loop");
    // `ps` without -a shows it while it waits (docker lists restarting containers).
    berth_testkit::wait_for("ps to list the container as restarting", || {
        let ps = b.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
        ps.lines()
            .any(|l| l.starts_with("loop Restarting (1)"))
            .then_some(())
    });
    b.ok(&["rm", "-f", "loop"]);
}

/// `inspect`'s `.State.Restarting` of `name`, or `None` when it has not answered
/// within `limit` (it is killed then).
fn restarting_within(b: &Berth, name: &str, limit: Duration) -> Option<bool> {
    let mut child = b
        .command(&["inspect", "-f", "{{.State.Restarting}}", name])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim() == "true")
}

#[test]
fn a_monitor_killed_during_the_back_off_leaves_a_plain_exited_container() {
    let Some(b) = env() else { return };
    b.run_crash_loop("loop");
    // Catch its monitor between two runs: stopped, it can neither start the
    // container nor clear the mark, so what inspect says holds until the kill.
    let signal_all = |pids: &[i32], sig| {
        for &pid in pids {
            // SAFETY: kill(2) on this test's own monitors.
            unsafe { libc::kill(pid, sig) };
        }
    };
    berth_testkit::wait_for("the monitor waiting to restart", || {
        let monitors = berth_testkit::monitor_processes(&b.root);
        signal_all(&monitors, libc::SIGSTOP);
        // A monitor stopped inside a database transaction holds the database:
        // `inspect` would wait for it (30 s) and fail. Let it go and try again.
        let restarting = restarting_within(&b, "loop", Duration::from_secs(2));
        if restarting != Some(true) {
            signal_all(&monitors, libc::SIGCONT);
            return None;
        }
        // SIGKILL ends a stopped process too.
        signal_all(&monitors, libc::SIGKILL);
        b.wait_monitors_gone();
        // A monitor the listing missed (one executing itself again shows no
        // command line for a moment) was neither stopped nor killed and goes on
        // restarting: catch it on its next back-off.
        berth_testkit::monitor_processes(&b.root)
            .is_empty()
            .then_some(())
    });
    // Nobody is left to restart it: it is an exited container, not a restarting one.
    assert_eq!(
        inspect(&b, "loop", "{{.State.Restarting}} {{.State.Status}}"),
        "false exited"
    );
    assert_eq!(b.ok(&["ps", "-q"]), "", "not listed as restarting");
    // A plain `rm` (no -f) takes it: nothing runs and nothing waits to run.
    b.ok(&["rm", "loop"]);
}

/// A test that stops a monitor and then fails must not leave it stopped (holding
/// the database, its container and its network for good): the berth it used
/// lets it go on when dropped, and removes its container.
#[test]
fn a_failed_test_leaves_no_stopped_monitor() {
    let Some(b) = env() else { return };
    b.ok(&["run", "-d", "--name", "idle", "busybox", "sleep", "1000"]);
    let root = b.root.clone();
    let monitors = berth_testkit::monitor_processes(&root);
    assert!(!monitors.is_empty());
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _b = b;
        for &pid in &monitors {
            // SAFETY: kill(2) on this test's own monitors.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
        }
        panic!("a test failing with its monitors stopped");
    }));
    assert!(failed.is_err());
    assert_eq!(berth_testkit::monitor_processes(&root), Vec::<i32>::new());
    assert!(!root.exists(), "its state was removed");
}
