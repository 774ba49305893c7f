//! json-file logs rotated at `--log-opt max-size`, `max-file` files kept, and
//! `logs` reading across the rotated files (with --tail, and -f following through
//! rotations); `--log-driver none` keeps nothing and `logs` says why; the default
//! cap; `logs --details`.

use berth_testkit::{stderr, Berth};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar"])
}

fn log_path(b: &Berth, name: &str) -> PathBuf {
    PathBuf::from(b.ok(&["inspect", "-f", "{{.LogPath}}", name]))
}

fn rotated(path: &Path, n: u32) -> PathBuf {
    PathBuf::from(format!("{}.{n}", path.display()))
}

/// Waits (bounded) until `name` no longer runs: its output is all in the log.
fn wait_exited(b: &Berth, name: &str) {
    b.wait_inspect(name, "{{.State.Running}}", "false");
}

fn numbered(from: usize, to: usize) -> String {
    (from..=to).map(|i| format!("line-{i}\n")).collect()
}

#[test]
fn log_rotates_at_max_size_and_logs_reads_across_files() {
    let Some(b) = env() else { return };
    b.ok(&[
        "run",
        "-d",
        "--name",
        "chatty",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        "i=1; while [ $i -le 400 ]; do echo line-$i; i=$((i+1)); done",
    ]);
    wait_exited(&b, "chatty");
    let path = log_path(&b, "chatty");
    for f in [path.clone(), rotated(&path, 1), rotated(&path, 2)] {
        let len = std::fs::metadata(&f)
            .map(|m| m.len())
            .unwrap_or_else(|e| panic!("{f:?}: {e}"));
        assert!(len <= 1024, "{f:?} is {len} bytes, past max-size");
    }
    assert!(!rotated(&path, 3).exists(), "max-file=3 keeps three files");
    // Everything kept, in order, ending with the last line: a run of lines across
    // the three files with no gap.
    let all = b.ok(&["logs", "chatty"]) + "\n";
    let first: usize = all
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("line-")
        .parse()
        .unwrap();
    assert!(first > 1, "the oldest lines went with the oldest file");
    assert_eq!(all, numbered(first, 400));
    let in_current = std::fs::read_to_string(&path).unwrap().lines().count();
    assert!(
        all.lines().count() > in_current,
        "lines came from the rotated files too"
    );
    assert_eq!(
        b.ok(&["logs", "--tail", "3", "chatty"]) + "\n",
        numbered(398, 400)
    );
    assert_eq!(
        b.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.LogConfig.Type}} {{json .HostConfig.LogConfig.Config}}",
            "chatty"
        ]),
        r#"json-file {"max-file":"3","max-size":"1k"}"#
    );
}

#[test]
fn follow_reads_through_rotations() {
    let Some(b) = env() else { return };
    // Five bursts of 30 lines (two or three rotations each at 1k), each burst
    // once the test has seen the one before through `logs -f`: the follower
    // crosses several rotations between two of its reads, and nothing it could
    // still read (max-file=4 keeps about 48 lines) is lost.
    b.ok(&[
        "run",
        "-d",
        "--name",
        "f",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=4",
        "busybox",
        "sh",
        "-c",
        "i=1; for k in 1 2 3 4 5; do while [ ! -e /tmp/go$k ]; do sleep 0.05; done; \
         n=$((k*30)); while [ $i -le $n ]; do echo line-$i; i=$((i+1)); done; done",
    ]);
    let mut follower = b
        .command(&["logs", "-f", "f"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = follower.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = String::new();
    for k in 1..=5 {
        b.ok(&["exec", "f", "touch", &format!("/tmp/go{k}")]);
        let last = format!("line-{}", k * 30);
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| {
                    let _ = follower.kill(); // this test's own child, by its handle
                    panic!("logs -f never showed {last}; it showed:\n{seen}")
                });
            seen.push_str(&line);
            seen.push('\n');
            if line == last {
                break;
            }
        }
    }
    assert_eq!(
        seen,
        numbered(1, 150),
        "every line once, in order, through the rotations"
    );
    assert!(
        rotated(&log_path(&b, "f"), 3).exists(),
        "rotated more than once"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while follower.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "logs -f did not end with the container"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn log_driver_none_keeps_nothing_and_logs_says_why() {
    let Some(b) = env() else { return };
    b.ok(&[
        "run",
        "-d",
        "--name",
        "quiet",
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "secret",
    ]);
    wait_exited(&b, "quiet");
    let path = log_path(&b, "quiet");
    let kept = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(!kept.contains("secret"), "nothing written: {kept}");
    let out = b.run(&["logs", "quiet"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("--log-driver none"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.HostConfig.LogConfig.Type}}", "quiet"]),
        "none"
    );
}

#[test]
fn journald_where_there_is_none_is_refused() {
    let Some(b) = env() else { return };
    if std::path::Path::new("/run/systemd/journal/socket").exists() {
        return; // a host with a journal takes it: nothing to refuse
    }
    let out = b.run(&["run", "--rm", "--log-driver", "journald", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("runs no systemd journal"),
        "{}",
        stderr(&out)
    );
    assert!(b.all_ids().is_empty());
}

#[test]
fn default_cap_and_details() {
    let Some(b) = env() else { return };
    b.ok(&[
        "run",
        "-d",
        "--name",
        "d",
        "-l",
        "tier=web",
        "-e",
        "REGION=eu",
        "--log-opt",
        "labels=tier",
        "--log-opt",
        "env=REGION",
        "busybox",
        "echo",
        "hi",
    ]);
    wait_exited(&b, "d");
    assert_eq!(b.ok(&["logs", "--details", "d"]), "REGION=eu,tier=web hi");
    assert_eq!(b.ok(&["logs", "d"]), "hi");
    b.ok(&["create", "--name", "plain", "busybox", "true"]);
    assert_eq!(
        b.ok(&[
            "inspect",
            "-f",
            "{{json .HostConfig.LogConfig.Config}}",
            "plain"
        ]),
        r#"{"max-file":"3","max-size":"10485760"}"#,
        "a cap even when none was asked for"
    );
}
