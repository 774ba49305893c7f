//! `-it` under a real pty (util-linux `script` provides it): the shell sees a tty,
//! its window size, and its exit code comes back.

use berth_testkit::{output_with_input, stdout, Berth};
use std::io::Write;
use std::process::Stdio;

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar", "script", "stty"])
}

/// Runs `berth ARGS` inside a 33x101 pty fed with `input`; returns (exit code, output).
fn in_pty(b: &Berth, args: &str, input: &str) -> (Option<i32>, String) {
    let cmd = format!("stty rows 33 cols 101; {} {args}", b.bin.display());
    let mut script = std::process::Command::new("script");
    script
        .args(["-eqc", &cmd, "/dev/null"])
        .env("BERTH_ROOT", &b.root)
        .env("BERTH_RUNROOT", &b.runroot);
    let out = output_with_input(script, input);
    (out.status.code(), stdout(&out))
}

#[test]
fn interactive_shell_sees_tty_and_window_size() {
    let Some(b) = env() else { return };
    let (code, out) = in_pty(
        &b,
        "run -it --rm busybox sh",
        "tty; stty size; [ -t 0 ] && echo stdin-is-tty\nexit 7\n",
    );
    assert_eq!(code, Some(7), "{out}");
    assert!(out.contains("/dev/pts/0"), "{out}");
    assert!(out.contains("33 101"), "{out}");
    assert!(out.contains("stdin-is-tty"), "{out}");
}

#[test]
fn exec_it_in_running_container() {
    let Some(b) = env() else { return };
    b.ok(&["run", "-d", "--name", "c", "busybox", "sleep", "300"]);
    let (code, out) = in_pty(&b, "exec -it c sh", "stty size; echo $TERM\nexit 9\n");
    assert_eq!(code, Some(9), "{out}");
    assert!(out.contains("33 101"), "{out}");
    assert!(out.contains("xterm"), "{out}");
}

#[test]
fn stdin_without_tty_is_forwarded() {
    let Some(b) = env() else { return };
    let mut child = b
        .command(&[
            "run",
            "-i",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "tr a-z A-Z; exit 4",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "HELLO\n");
    assert_eq!(out.status.code(), Some(4));
}
