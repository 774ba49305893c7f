//! A container's upper directory holds whatever its processes made: FIFOs, device
//! nodes, names that are not UTF-8 or hold newlines, paths longer than a tar
//! header has room for. `diff`, `export` and `commit` must finish (never open a
//! FIFO for reading and wait for a writer), keep every such entry as what it is,
//! and the committed image must run with them.

use berth_testkit::{monitor_processes, stderr, stdout, Berth};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

/// Runs berth; if it has not finished after `secs`, kills it and this berth's
/// monitors by PID and returns None (a hang).
fn run_bounded(b: &Berth, args: &[&str], secs: u64) -> Option<Output> {
    let mut child = b
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            for pid in monitor_processes(&b.root) {
                // SAFETY: kill(2) on a PID this test's berth started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(child.wait_with_output().unwrap())
}

fn ok_bounded(b: &Berth, args: &[&str]) -> String {
    let out = run_bounded(b, args, 120).unwrap_or_else(|| panic!("berth {args:?} hung"));
    assert!(
        out.status.success(),
        "berth {args:?} failed ({:?}): {}",
        out.status.code(),
        stderr(&out)
    );
    stdout(&out)
}

#[test]
fn fifos_devices_odd_and_long_names_survive_diff_export_and_commit() {
    let Some(b) = berth_testkit::busybox_berth(BIN, &["tar"]) else {
        return;
    };
    // 200-byte names four deep: a path of over 800 bytes (a ustar header holds 255).
    let long = "d".repeat(200);
    let deep = format!("/deep/{long}/{long}/{long}/{long}");
    let script = format!(
        "mkfifo /fifo && mknod /null-copy c 1 3 && mkdir -p {deep} && echo deep > {deep}/{long} \
         && echo odd > \"$(printf '/odd-\\377-\\nname')\""
    );
    b.ok(&["run", "-d", "--name", "c", "busybox", "sleep", "1000"]);
    b.ok(&["exec", "c", "sh", "-c", &script]);

    let diff = ok_bounded(&b, &["diff", "c"]);
    for want in ["A /fifo", "A /null-copy", "A /deep"] {
        assert!(diff.lines().any(|l| l == want), "{want} in {diff}");
    }
    let tar = b.root.parent().unwrap().join("export.tar");
    ok_bounded(&b, &["export", "-o", tar.to_str().unwrap(), "c"]);
    assert!(std::fs::metadata(&tar).unwrap().len() > 0);
    ok_bounded(&b, &["commit", "c", "odd:1"]);
    let inside = ok_bounded(
        &b,
        &[
            "run",
            "--rm",
            "odd:1",
            "sh",
            "-c",
            &format!(
                "test -p /fifo && echo fifo; test -c /null-copy && echo chardev; \
                 cat {deep}/{long}; cat \"$(printf '/odd-\\377-\\nname')\""
            ),
        ],
    );
    assert_eq!(inside, "fifo\nchardev\ndeep\nodd\n");
    b.ok(&["rm", "-f", "c"]);
    b.assert_no_leftovers();
}
