//! Stop signals, timeouts, kill with real-time signals, and logs.

use berth_testkit::Berth;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar"])
}

/// A shell that reports the signals it gets, and exits with a code naming them.
const TRAPS: &str = "trap 'echo got-term; exit 15' TERM; trap 'echo got-usr1; exit 10' USR1; trap 'echo got-rtmin3; exit 37' 37; echo ready; while true; do sleep 0.05; done";

fn wait_for_log(b: &Berth, name: &str, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !b.ok(&["logs", name]).contains(needle) {
        assert!(
            Instant::now() < deadline,
            "{needle:?} never appeared in the logs of {name}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn stop_uses_image_stopsignal_or_flag() {
    let Some(b) = env() else { return };
    b.import_busybox("usr1img", &["STOPSIGNAL SIGUSR1"]);
    b.ok(&["run", "-d", "--name", "img", "usr1img", "sh", "-c", TRAPS]);
    wait_for_log(&b, "img", "ready");
    b.ok(&["stop", "img"]);
    assert_eq!(b.ok(&["inspect", "-f", "{{.State.ExitCode}}", "img"]), "10");
    assert!(b.ok(&["logs", "img"]).contains("got-usr1"));

    b.ok(&[
        "run",
        "-d",
        "--name",
        "flag",
        "--stop-signal",
        "RTMIN+3",
        "busybox",
        "sh",
        "-c",
        TRAPS,
    ]);
    wait_for_log(&b, "flag", "ready");
    b.ok(&["stop", "flag"]);
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.State.ExitCode}}", "flag"]),
        "37"
    );

    b.ok(&["run", "-d", "--name", "term", "busybox", "sh", "-c", TRAPS]);
    wait_for_log(&b, "term", "ready");
    b.ok(&["stop", "term"]);
    assert_eq!(
        b.ok(&[
            "inspect",
            "-f",
            "{{.State.ExitCode}} {{.State.Running}}",
            "term"
        ]),
        "15 false"
    );
}

#[test]
fn process_ignoring_sigterm_is_killed_after_timeout() {
    let Some(b) = env() else { return };
    b.ok(&[
        "run",
        "-d",
        "--name",
        "stubborn",
        "busybox",
        "sh",
        "-c",
        "trap '' TERM; echo ready; while true; do sleep 0.05; done",
    ]);
    wait_for_log(&b, "stubborn", "ready");
    b.ok(&["stop", "-t", "1", "stubborn"]);
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.State.ExitCode}}", "stubborn"]),
        "137"
    );
}

#[test]
fn kill_delivers_named_and_realtime_signals() {
    let Some(b) = env() else { return };
    b.ok(&["run", "-d", "--name", "k", "busybox", "sh", "-c", TRAPS]);
    wait_for_log(&b, "k", "ready");
    b.ok(&["kill", "-s", "RTMIN+3", "k"]);
    b.ok(&["wait", "k"]);
    assert!(b.ok(&["logs", "k"]).contains("got-rtmin3"));
    assert_eq!(b.ok(&["inspect", "-f", "{{.State.ExitCode}}", "k"]), "37");
    let bad = b.run(&["kill", "-s", "NOTASIGNAL", "k"]);
    assert_eq!(bad.status.code(), Some(125));
    let stopped = b.run(&["kill", "k"]);
    assert!(
        !stopped.status.success(),
        "kill of a stopped container fails"
    );
}

#[test]
fn logs_follow_outlive_exit_and_go_with_rm() {
    let Some(b) = env() else { return };
    b.ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line$i; sleep 0.2; done; echo err >&2",
    ]);
    let mut follow = b
        .command(&["logs", "-f", "talker"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = BufReader::new(follow.stdout.take().unwrap());
    let lines: Vec<String> = reader.lines().map(|l| l.unwrap()).collect();
    assert!(follow.wait().unwrap().success());
    assert_eq!(
        lines,
        vec!["line1", "line2", "line3", "line4", "line5"],
        "logs -f saw the lines as they came and ended with the container"
    );
    // After exit the logs remain, including stderr, with tail and timestamps.
    let all = b.run(&["logs", "talker"]);
    assert_eq!(String::from_utf8_lossy(&all.stderr).trim(), "err");
    // The last entry is the stderr line, so three entries hold two stdout lines.
    assert_eq!(b.ok(&["logs", "--tail", "3", "talker"]), "line4\nline5");
    let stamped = b.ok(&["logs", "-t", "--tail", "2", "talker"]);
    assert!(
        stamped.starts_with("20") && stamped.ends_with(" line5"),
        "{stamped}"
    );
    assert!(b.ok(&["logs", "--since", "1h", "talker"]).contains("line1"));
    let id = b.ok(&["inspect", "-f", "{{.Id}}", "talker"]);
    let log_path = b.root.join("containers").join(&id).join("container.log");
    assert!(log_path.exists());
    b.ok(&["rm", "talker"]);
    assert!(!log_path.exists(), "rm removes the logs");
    assert_eq!(b.run(&["logs", "talker"]).status.code(), Some(125));
}
