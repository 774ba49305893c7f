//! Density (issue 11): running containers leave the host's mount table as it was.
//! Each container's rootfs overlay is mounted in its monitor's own mount
//! namespace, so the host's table (which every start's cgroup and mount code
//! reads) does not grow with the number of running containers, and what reads a
//! running container's files from the host (exec's user lookup, commit, diff,
//! export) still works. Timings live in `bench/density.sh`, never here.

use berth_testkit::Berth;

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar"])
}

/// Host mount table lines that name this berth's state root.
fn host_mounts_under(b: &Berth) -> Vec<String> {
    let root = b.root.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&root))
        .map(str::to_string)
        .collect()
}

/// Mount table lines naming this berth's state root in any process's mount
/// namespace (the monitors' own included), with the pid that sees each.
fn mounts_anywhere_under(b: &Berth) -> Vec<String> {
    let root = b.root.to_string_lossy().into_owned();
    let pids = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok());
    pids.flat_map(|pid| {
        // A process gone since the listing has no table to read.
        let table = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
        table
            .lines()
            .filter(|l| l.contains(&root))
            .map(|l| format!("{pid}: {l}"))
            .collect::<Vec<_>>()
    })
    .collect()
}

#[test]
fn running_containers_add_no_host_mounts() {
    let Some(b) = env() else { return };
    let before = host_mounts_under(&b);
    for i in 0..3 {
        b.ok(&[
            "run",
            "-d",
            "--name",
            &format!("d{i}"),
            "busybox",
            "sleep",
            "300",
        ]);
    }
    let during = host_mounts_under(&b);
    assert_eq!(
        during, before,
        "running containers' mounts showed in the host's mount table"
    );
    // The container still has its rootfs, and the host-side reads of it work:
    // exec -u NAME looks the user up in the container's /etc/passwd.
    assert_eq!(b.ok(&["exec", "-u", "nobody", "d0", "id", "-u"]), "65534");
    b.ok(&["exec", "d1", "sh", "-c", "echo hi > /marker"]);
    let diff = b.ok(&["diff", "d1"]);
    assert!(
        diff.contains("A /marker"),
        "diff of a running container: {diff}"
    );
    b.ok(&["commit", "d1", "dens/committed"]);
    assert_eq!(
        b.ok(&["run", "--rm", "dens/committed", "cat", "/marker"]),
        "hi"
    );
    b.ok(&["rm", "-f", "d0", "d1", "d2"]);
    b.ok(&["rmi", "dens/committed"]);
    b.assert_no_leftovers();
}

/// The one monitor of `b`'s one container. Right after `run -d` the container's
/// init may not have executed its command yet: forked from the monitor, it still
/// shows the monitor's command line.
fn the_monitor(b: &Berth) -> i32 {
    berth_testkit::wait_for("one monitor", || {
        let found = berth_testkit::monitor_processes(&b.root);
        (found.len() == 1).then(|| found[0])
    })
}

#[test]
fn a_killed_monitor_leaves_no_mount_behind() {
    let Some(b) = env() else { return };
    b.ok(&["run", "-d", "--name", "k", "busybox", "sleep", "300"]);
    let monitors = [the_monitor(&b)];
    // The overlay is there, in the monitor's namespace (which the host's table
    // does not show): what the check below must find gone.
    assert!(
        mounts_anywhere_under(&b)
            .iter()
            .any(|l| l.starts_with(&format!("{}: ", monitors[0]))),
        "no mount in the monitor's namespace: {:?}",
        mounts_anywhere_under(&b)
    );
    // SAFETY: kill(2) on the monitor this test started.
    unsafe { libc::kill(monitors[0], libc::SIGKILL) };
    b.ok(&["rm", "-f", "k"]);
    assert!(host_mounts_under(&b).is_empty());
    let left = mounts_anywhere_under(&b);
    assert!(left.is_empty(), "mounts left in some namespace: {left:?}");
    b.assert_no_leftovers();
}

/// Context switches of a process so far (voluntary and not).
fn context_switches(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("ctxt_switches:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

#[test]
fn an_idle_monitor_sleeps_until_its_container_does_something() {
    let Some(b) = env() else { return };
    // Quiet for eight seconds, then one line of output.
    b.ok(&[
        "run",
        "-d",
        "--name",
        "idle",
        "busybox",
        "sh",
        "-c",
        "sleep 8; echo late; sleep 300",
    ]);
    let monitor = the_monitor(&b);
    // Past the monitor's first second, when it gives back its start-up memory.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let before = context_switches(monitor);
    std::thread::sleep(std::time::Duration::from_secs(5));
    let after = context_switches(monitor);
    // The monitor used to wake every 5 s to give memory back (1,000 idle
    // containers: 200 wake-ups a second for nothing).
    assert_eq!(before, after, "the idle monitor woke up");
    // Asleep, it still wakes for output, and for exec.
    berth_testkit::wait_for("the output in the log", || {
        b.ok(&["logs", "idle"]).contains("late").then_some(())
    });
    assert_eq!(b.ok(&["exec", "idle", "echo", "hi"]), "hi");
    b.ok(&["rm", "-f", "idle"]);
    b.assert_no_leftovers();
}

#[test]
fn run_rm_leaves_no_directory_to_delete() {
    let Some(b) = env() else { return };
    assert_eq!(b.ok(&["run", "--rm", "busybox", "echo", "gone"]), "gone");
    // The monitor deletes the container's directory after the CLI has the exit.
    berth_testkit::wait_for("the monitor to exit", || {
        berth_testkit::monitor_processes(&b.root)
            .is_empty()
            .then_some(())
    });
    let left: Vec<_> = std::fs::read_dir(b.root.join("removing"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left to delete: {left:?}");
    let containers: Vec<_> = std::fs::read_dir(b.root.join("containers"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(
        containers.is_empty(),
        "container directories: {containers:?}"
    );
    b.assert_no_leftovers();
}
