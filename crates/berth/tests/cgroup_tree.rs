//! The host's cgroup tree is never changed by system containers: after ten systemd
//! container lifecycles every directory under /sys/fs/cgroup, and the cgroup2
//! mount's options and controllers, are what they were. (Its own test binary, so no
//! other test of this run creates cgroups meanwhile; see `counts` for what other
//! software may do on the host at the same time.)

use berth_testkit::{require_root_and, Berth};
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn snapshot() -> Vec<String> {
    let mut out = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), &mut out, 0);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    out.extend(
        mounts
            .lines()
            .filter(|l| l.contains(" - cgroup"))
            .map(|l| l.split(' ').skip(4).collect::<Vec<_>>().join(" ")),
    );
    for f in [
        "/sys/fs/cgroup/cgroup.controllers",
        "/sys/fs/cgroup/cgroup.subtree_control",
        "/sys/fs/cgroup/unified/cgroup.controllers",
        "/sys/fs/cgroup/unified/cgroup.subtree_control",
    ] {
        if let Ok(c) = std::fs::read_to_string(f) {
            out.push(format!("{f}: {}", c.trim()));
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<String>, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<_> = entries
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.path())
        .collect();
    names.sort();
    for p in names {
        out.push(p.display().to_string());
        if depth < 8 {
            walk(&p, out, depth + 1);
        }
    }
}

#[test]
fn ten_systemd_lifecycles_leave_the_host_cgroup_tree_unchanged() {
    if !require_root_and(&["tar", "debootstrap"]) {
        return;
    }
    let b = Berth::new(BIN);
    b.import_systemd("debian-systemd");
    let before = snapshot();
    let mut ids = Vec::new();
    for i in 0..10 {
        let name = format!("life{i}");
        let id = b.ok(&[
            "run",
            "-d",
            "--wait=ready",
            "--name",
            &name,
            "debian-systemd",
        ]);
        ids.push(id);
        b.ok(&["exec", &name, "systemctl", "restart", "ssh"]);
        b.ok(&["stop", &name]);
        b.ok(&["rm", &name]);
    }
    let after = snapshot();
    // Mount and controller lines (they have spaces) always count. Of directories,
    // those of other software and of other berths running tests at the same time do
    // not: this machine's process supervisor makes and removes one cgroup per
    // command under `process_api`, and parallel test runs have their own containers
    // under the shared `berth` parent.
    let not_ours =
        |p: &String| p.contains("/berth/") && !ids.iter().any(|id| p.contains(id.as_str()));
    let parent_shared = before.iter().chain(after.iter()).any(not_ours);
    let counts = |p: &str| {
        if p.contains(' ') || ids.iter().any(|id| p.contains(id.as_str())) {
            return true;
        }
        let others = p.contains("/process_api")
            || p.contains("/berth/")
            || (parent_shared && p.ends_with("/berth"));
        !others
    };
    let gone: Vec<_> = before.iter().filter(|x| !after.contains(x)).collect();
    let gone: Vec<_> = gone.into_iter().filter(|x| counts(x)).collect();
    let added: Vec<_> = after
        .iter()
        .filter(|x| !before.contains(x) && counts(x))
        .collect();
    assert!(
        gone.is_empty() && added.is_empty(),
        "cgroup tree changed: removed {gone:#?}, added {added:#?}"
    );
}
