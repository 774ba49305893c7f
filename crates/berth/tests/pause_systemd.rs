//! `pause` of a system container: every process of its tree (systemd, journald,
//! sshd, …) frozen, not only PID 1; after `unpause` systemd answers again; and a
//! paused system container stops cleanly (the stop signal waits in the frozen
//! systemd, which halts once berth thaws it, as docker does).

use berth_testkit::{require_root_and, stderr, Berth};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    if !require_root_and(&["tar", "debootstrap"]) {
        return None;
    }
    let b = Berth::new(BIN);
    b.import_systemd("debian-systemd");
    Some(b)
}

/// (pid, state letter) of every process in the container's freezer cgroup (v1)
/// or its cgroup (v2).
fn processes(id: &str) -> Vec<(String, String)> {
    let v1 = format!("/sys/fs/cgroup/freezer/berth/{id}");
    let dir = match std::path::Path::new(&v1).exists() {
        true => v1,
        false => format!("/sys/fs/cgroup/berth/{id}"),
    };
    let mut out = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(dir)];
    while let Some(d) = dirs.pop() {
        let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines() {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .next()
                .unwrap_or("");
            out.push((pid.to_string(), state.to_string()));
        }
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(e.path());
            }
        }
    }
    out
}

#[test]
fn a_paused_system_container_is_frozen_whole_and_stops_cleanly() {
    let Some(b) = env() else { return };
    b.ok(&[
        "run",
        "-d",
        "--wait=ready",
        "--name",
        "sys",
        "debian-systemd",
    ]);
    let id = b.ok(&["inspect", "-f", "{{.Id}}", "sys"]);
    b.ok(&["pause", "sys"]);
    let procs = processes(&id);
    assert!(procs.len() > 3, "systemd and its services: {procs:?}");
    assert!(
        procs.iter().all(|(_, s)| s == "D"),
        "every process frozen: {procs:?}"
    );
    let ps = b.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("sys Up") && ps.contains("(Paused)"), "{ps}");
    let exec = b.run(&["exec", "sys", "systemctl", "is-system-running"]);
    assert!(stderr(&exec).contains("is paused"), "{}", stderr(&exec));

    b.ok(&["unpause", "sys"]);
    let state = b.ok(&["exec", "sys", "systemctl", "is-system-running", "--wait"]);
    assert!(state == "running" || state == "degraded", "{state}");

    b.ok(&["pause", "sys"]);
    b.ok(&["stop", "sys"]);
    assert_eq!(
        b.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "sys"
        ]),
        "exited 0",
        "systemd got SIGRTMIN+3 once thawed and halted cleanly"
    );
}
