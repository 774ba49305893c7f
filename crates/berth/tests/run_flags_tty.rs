//! `--detach-keys` under a real pty (util-linux `script`, as tests/terminal.rs):
//! the sequence detaches the terminal and leaves the container running; keys that
//! only start the sequence still reach the container.

use berth_testkit::{stdout, Berth};
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar", "script"])
}

/// Runs `berth ARGS` inside a pty; once container `name` runs (so berth's terminal
/// is raw and the keys reach it as typed), types `input`. Returns (exit code, output).
fn in_pty(b: &Berth, args: &str, name: &str, input: &[u8]) -> (Option<i32>, String) {
    let cmd = format!("{} {args}", b.bin.display());
    let mut child = std::process::Command::new("script")
        .args(["-eqc", &cmd, "/dev/null"])
        .env("BERTH_ROOT", &b.root)
        .env("BERTH_RUNROOT", &b.runroot)
        .env("BERTH_BRIDGE", &b.bridge)
        .env("BERTH_SUBNET", &b.subnet)
        .env("BERTH_NFT_TABLE", &b.nft_table)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("script");
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.run(&["inspect", "-f", "{{.State.Running}}", name]).stdout != b"true\n" {
        assert!(Instant::now() < deadline, "{name} never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Kept open until berth is gone: an end of input would reach the container as
    // an end of file, whatever the keys did.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill(); // this test's own script, by its handle
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    (out.status.code(), stdout(&out))
}

fn running(b: &Berth, name: &str) -> String {
    b.ok(&["inspect", "-f", "{{.State.Running}}", name])
}

/// Waits (bounded) for `needle` in the container's logs: the shell has read what
/// came before the detach keys.
fn wait_for_log(b: &Berth, name: &str, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !b.ok(&["logs", name]).contains(needle) {
        assert!(
            Instant::now() < deadline,
            "{needle:?} never reached the logs of {name}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn custom_detach_keys_leave_the_container_running() {
    let Some(b) = env() else { return };
    // q then z detaches; a q followed by another key goes through.
    let (code, out) = in_pty(
        &b,
        "run -it --name d --detach-keys q,z busybox sh",
        "d",
        b"echo xq-$((6*7))\nqz",
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("read escape sequence"), "{out}");
    assert_eq!(running(&b, "d"), "true", "detached, not stopped");
    wait_for_log(&b, "d", "xq-42");
    b.ok(&["rm", "-f", "d"]);
}

#[test]
fn default_detach_keys_are_dockers() {
    let Some(b) = env() else { return };
    let (code, out) = in_pty(
        &b,
        "run -it --name p busybox sh",
        "p",
        b"echo hello-$((2+3))\n\x10\x11",
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(running(&b, "p"), "true");
    wait_for_log(&b, "p", "hello-5");
    b.ok(&["rm", "-f", "p"]);
}

#[test]
fn bad_detach_keys_are_refused() {
    let Some(b) = env() else { return };
    let out = b.run(&[
        "run",
        "--rm",
        "-it",
        "--detach-keys",
        "ctrl-1",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(berth_testkit::stderr(&out).contains("ctrl-<value>"));
}

#[test]
fn attach_detaches_with_its_keys_and_the_container_runs_on() {
    let Some(b) = env() else { return };
    b.ok(&["run", "-dit", "--name", "a", "busybox", "sh"]);
    let (code, out) = in_pty(
        &b,
        "attach --detach-keys ctrl-a,d a",
        "a",
        b"echo att-$((3*3))\n\x01d",
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(running(&b, "a"), "true");
    wait_for_log(&b, "a", "att-9");
    b.ok(&["rm", "-f", "a"]);
}
