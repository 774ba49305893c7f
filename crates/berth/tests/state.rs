//! Shared state under stress: many berth processes at once, and a monitor killed
//! with SIGKILL.

use berth_testkit::Berth;

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar"])
}

#[test]
fn twenty_runs_and_twenty_removals_at_once() {
    let Some(b) = env() else { return };
    let mut victims = Vec::new();
    for i in 0..20 {
        victims.push(b.ok(&[
            "run",
            "-d",
            "--name",
            &format!("victim{i}"),
            "busybox",
            "sleep",
            "300",
        ]));
    }
    let mut children = Vec::new();
    for i in 0..20 {
        let run = b
            .command(&[
                "run",
                "--rm",
                "--name",
                &format!("quick{i}"),
                "busybox",
                "echo",
                &format!("out{i}"),
            ])
            .output();
        children.push(std::thread::spawn(move || run));
        let rm = b
            .command(&["rm", "-f", &format!("victim{i}")])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        children.push(std::thread::spawn(move || rm.wait_with_output()));
    }
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.join().unwrap().unwrap())
        .collect();
    for (n, out) in outputs.iter().enumerate() {
        assert!(
            out.status.success(),
            "process {n} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let echoed: Vec<String> = outputs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| s.starts_with("out"))
        .collect();
    assert_eq!(echoed.len(), 20, "{echoed:?}");
    assert!(
        b.ok(&["ps", "-a", "-q"]).is_empty(),
        "ps -a after everything: {}",
        b.ok(&["ps", "-a"])
    );
    b.assert_no_leftovers();
}

#[test]
fn killed_monitor_is_reconciled() {
    let Some(b) = env() else { return };
    let id = b.ok(&["run", "-d", "--name", "orphan", "busybox", "sleep", "300"]);
    let init_pid: i32 = b
        .ok(&["inspect", "-f", "{{.State.Pid}}", "orphan"])
        .parse()
        .unwrap();
    // Exited, not only gone from the monitor list (see `has_exited`): until then
    // the kernel still shows it as a live process, and `ps` rightly counts it alive.
    let monitors = b.kill_monitors();
    assert_eq!(monitors.len(), 1, "one monitor per container");
    let status = b.ok(&["ps", "-a", "--format", "{{.State}}"]);
    assert_eq!(status, "exited", "ps no longer calls it running");
    assert!(b.ok(&["ps", "-q"]).is_empty());
    assert!(
        berth_testkit::has_exited(init_pid),
        "the container's process was stopped"
    );
    b.ok(&["rm", "orphan"]);
    assert!(!b.root.join("containers").join(&id).exists());
    b.assert_no_leftovers();
}

/// Six commands at once on a root that has no database yet, a hundred times:
/// each one creates the tables and switches the new database to WAL, and none may
/// fail because another does the same (one round in about 40 did: SQLite does
/// not wait for the lock the switch takes).
#[test]
fn first_commands_on_a_new_root_at_once_all_succeed() {
    if !berth_testkit::require_root_and(&[]) {
        return;
    }
    for round in 0..100 {
        let root = tempfile::tempdir().unwrap();
        let commands: Vec<_> = (0..6)
            .map(|_| {
                std::process::Command::new(BIN)
                    .args(["images", "-q"])
                    .env("BERTH_ROOT", root.path().join("root"))
                    .env("BERTH_RUNROOT", root.path().join("run"))
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in commands {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: {}",
                berth_testkit::stderr(&out)
            );
        }
    }
}
