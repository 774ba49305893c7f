//! `run` launches its container's monitor before it creates the container (see
//! `berth_engine::launch`). A run that ends before the monitor's go — refused, or
//! killed — must leave no monitor and no container behind: the refused one as soon
//! as the command returns, the killed one once its monitor has read the end of the
//! go socket.

use berth_testkit::{monitor_processes, stderr, wait_for, Berth};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &[])
}

#[test]
fn a_refused_run_leaves_no_monitor_when_it_returns() {
    let Some(b) = env() else { return };
    b.ok(&["create", "--name", "taken", "busybox", "true"]);
    // The monitor is launched before the flags are parsed: flags the parser
    // refuses, and a request for help, leave none behind either.
    let refusals: [(&[&str], i32); 6] = [
        (&["run", "--name", "taken", "busybox", "true"], 125),
        (&["run", "--pull", "never", "no-such-image", "true"], 125),
        (&["run", "--wait=ready", "busybox", "true"], 125),
        (&["run", "--no-such-flag", "busybox", "true"], 125),
        (
            &["container", "run", "--memory", "lots", "busybox", "true"],
            125,
        ),
        (&["run", "--help"], 0),
    ];
    for (args, code) in refusals {
        let out = b.run(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        // No wait: the command waits for its monitor before it returns. (A monitor
        // told to give up exits within a millisecond or so anyway, so this does
        // not catch a command that stops waiting; it catches one that lingers.)
        assert_eq!(monitor_processes(&b.root), Vec::<i32>::new(), "{args:?}");
    }
    let all = b.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(all.trim(), "taken");
    b.ok(&["rm", "taken"]);
}

/// A `run` held before it can record its container: a writer holds the database,
/// while the run's monitor, launched ahead, starts up (it only reads) and waits
/// for the go. Returns the writer (roll it back to let the run go on), the run,
/// and its monitor's pid.
fn held_run(b: &Berth, args: &[&str]) -> (rusqlite::Connection, std::process::Child, i32) {
    b.ok(&["images", "-q"]);
    let db = rusqlite::Connection::open(b.root.join("berth.db")).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let run = b
        .command(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let monitor = wait_for("the monitor launched ahead", || launched_monitor(b));
    (db, run, monitor)
}

/// The monitor among this berth's `berth monitor` processes: not the child a
/// monitor forks to warm up the cgroup migration (see
/// `berth_engine::attach_warmup`), which shows the same command line.
fn launched_monitor(b: &Berth) -> Option<i32> {
    let found = monitor_processes(&b.root);
    let parent = |pid: i32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        after_name.split_whitespace().nth(1)?.parse::<i32>().ok()
    };
    found
        .iter()
        .copied()
        .find(|&pid| parent(pid).is_some_and(|p| !found.contains(&p)))
}

/// A monitor forks a helper that keeps moving itself into berth's parent cgroup
/// until the container is created (`berth_engine::attach_warmup`); by the time
/// `run -d` returns it is gone, and berth's parents hold no process of their own.
#[test]
fn a_started_container_leaves_no_warmup_helper() {
    let Some(b) = env() else { return };
    let mut ids = vec!["rm".to_string(), "-f".to_string()];
    for args in [
        &["run", "-d", "busybox", "sleep", "1000"][..],
        &["run", "--rm", "-d", "busybox", "sleep", "1000"][..],
    ] {
        ids.push(b.ok(args).trim().to_string());
        for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            let procs = h.path().join("berth").join("cgroup.procs");
            let held = std::fs::read_to_string(&procs).unwrap_or_default();
            assert_eq!(
                held.trim(),
                "",
                "{args:?}: processes in {}",
                procs.display()
            );
        }
    }
    b.ok(&ids.iter().map(String::as_str).collect::<Vec<_>>());
    b.assert_no_leftovers();
}

fn wait_exited(what: &str, pid: i32) {
    wait_for(what, || berth_testkit::has_exited(pid).then_some(()));
}

#[test]
fn a_run_killed_before_its_start_leaves_its_monitor_to_exit() {
    let Some(b) = env() else { return };
    let (db, mut run, monitor) = held_run(&b, &["run", "--rm", "busybox", "true"]);
    run.kill().unwrap();
    run.wait().unwrap();
    db.execute_batch("ROLLBACK").unwrap();
    drop(db);
    wait_exited("the abandoned monitor to exit", monitor);
    assert_eq!(b.ok(&["ps", "-aq"]).trim(), "", "no container was made");
    b.assert_no_leftovers();
}

#[test]
fn a_monitor_killed_before_the_go_fails_the_run_cleanly() {
    let Some(b) = env() else { return };
    let args = ["run", "--rm", "--name", "lost", "busybox", "true"];
    let (db, run, monitor) = held_run(&b, &args);
    // SAFETY: kill(2) on this test's own monitor.
    unsafe { libc::kill(monitor, libc::SIGKILL) };
    wait_exited("the monitor to die", monitor);
    db.execute_batch("ROLLBACK").unwrap();
    drop(db);
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("monitor exited before reporting: it was killed by signal 9"),
        "says what failed: {}",
        stderr(&out)
    );
    assert_eq!(b.ok(&["ps", "-aq"]).trim(), "", "the --rm container went");
    b.ok(&args);
    b.assert_no_leftovers();
}
