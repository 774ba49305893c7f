//! The same basics through the runc binary (`--runtime runc`): proves the bundle
//! berth writes is a standard OCI bundle.

use berth_testkit::Berth;

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar", "runc"])
}

#[test]
fn runc_runs_execs_stops_and_removes() {
    let Some(b) = env() else { return };
    assert_eq!(
        b.ok(&["run", "--rm", "--runtime", "runc", "busybox", "echo", "hi"]),
        "hi"
    );
    assert_eq!(
        b.sh_output(&["--runtime", "runc"], "exit 3").status.code(),
        Some(3)
    );
    let missing = b.run(&[
        "run",
        "--rm",
        "--runtime",
        "runc",
        "busybox",
        "no-such-command",
    ]);
    assert_eq!(
        missing.status.code(),
        Some(127),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    b.ok(&[
        "run",
        "-d",
        "--runtime",
        "runc",
        "--name",
        "r",
        "--hostname",
        "rbox",
        "busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(b.ok(&["exec", "r", "cat", "/etc/hostname"]), "rbox");
    assert_eq!(
        b.run(&["exec", "r", "sh", "-c", "exit 6"]).status.code(),
        Some(6)
    );
    assert_eq!(
        b.ok(&["exec", "r", "grep", "CapEff", "/proc/self/status"]),
        "CapEff:\t00000000a80425fb"
    );
    b.ok(&["stop", "-t", "1", "r"]);
    assert_eq!(b.ok(&["inspect", "-f", "{{.State.ExitCode}}", "r"]), "137");
    b.ok(&["start", "r"]);
    assert_eq!(b.ok(&["ps", "--format", "{{.Names}}"]), "r");
    b.ok(&["rm", "-f", "r"]);
    let bogus = b.run(&[
        "run",
        "--rm",
        "--runtime",
        "no-such-runtime",
        "busybox",
        "true",
    ]);
    assert_eq!(bogus.status.code(), Some(125));
}
