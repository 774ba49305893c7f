//! `rename OLD NEW` (also `container rename`): the new name works for `exec`,
//! the old one is gone, docker's name rules hold, a taken name is refused also
//! when two renames race for it, and the name is updated where containers read
//! it (/etc/hosts on a user network).

use berth_testkit::{busybox_berth, stderr, Berth};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    busybox_berth(BIN, &["ip", "nft"])
}

#[test]
fn rename_a_running_and_a_stopped_container() {
    let Some(b) = env() else { return };
    b.ok(&["run", "-d", "--name", "old", "busybox", "sleep", "1000"]);
    assert_eq!(b.ok(&["rename", "old", "new"]), "");
    assert_eq!(b.ok(&["exec", "new", "echo", "hi"]), "hi");
    let gone = b.run(&["exec", "old", "true"]);
    assert!(
        !gone.status.success() && stderr(&gone).contains("No such container"),
        "{}",
        stderr(&gone)
    );
    assert_eq!(b.ok(&["inspect", "-f", "{{.Name}}", "new"]), "/new");
    assert_eq!(b.ok(&["ps", "--format", "{{.Names}}"]), "new");

    b.ok(&["create", "--name", "idle", "busybox", "true"]);
    b.ok(&["container", "rename", "idle", "idle2"]);
    b.ok(&["start", "idle2"]);
    assert_eq!(b.ok(&["wait", "idle2"]), "0");

    let taken = b.run(&["rename", "new", "idle2"]);
    assert_eq!(taken.status.code(), Some(125));
    assert!(
        stderr(&taken).contains("already in use"),
        "{}",
        stderr(&taken)
    );
    for bad in ["_x", ".x", "a b", "x/y", ""] {
        let out = b.run(&["rename", "new", bad]);
        assert_eq!(out.status.code(), Some(125), "{bad:?}");
        assert!(
            stderr(&out).contains("invalid container name"),
            "{bad:?}: {}",
            stderr(&out)
        );
    }
    let same = b.run(&["rename", "new", "new"]);
    assert!(
        !same.status.success() && stderr(&same).contains("already named"),
        "{}",
        stderr(&same)
    );
    assert_eq!(b.ok(&["exec", "new", "echo", "still"]), "still");
}

/// Two renames to one free name at the same time: exactly one wins, and the
/// loser keeps its old name.
#[test]
fn racing_renames_to_one_name_one_wins() {
    let Some(b) = env() else { return };
    for round in 0..4 {
        let (x, y, target) = (
            format!("x{round}"),
            format!("y{round}"),
            format!("t{round}"),
        );
        b.ok(&["create", "--name", &x, "busybox", "true"]);
        b.ok(&["create", "--name", &y, "busybox", "true"]);
        let spawn = |from: &str| b.command(&["rename", from, &target]).output();
        let (a, c) = std::thread::scope(|s| {
            let a = s.spawn(|| spawn(&x));
            let c = s.spawn(|| spawn(&y));
            (a.join().unwrap().unwrap(), c.join().unwrap().unwrap())
        });
        let won = [a.status.success(), c.status.success()];
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "round {round}: {won:?}"
        );
        let loser = if won[0] { &c } else { &a };
        assert!(
            stderr(loser).contains("already in use"),
            "{}",
            stderr(loser)
        );
        let mut names: Vec<String> = b
            .ok(&["ps", "-a", "--format", "{{.Names}}"])
            .lines()
            .filter(|n| n.ends_with(&round.to_string()))
            .map(String::from)
            .collect();
        names.sort();
        let expected = if won[0] {
            [target.clone(), y.clone()]
        } else {
            [target.clone(), x.clone()]
        };
        let mut expected = expected.to_vec();
        expected.sort();
        assert_eq!(names, expected);
    }
}

/// Peers on a user network find each other by name in /etc/hosts: a renamed
/// container is found by its new name, no longer by the old one.
#[test]
fn a_renamed_container_is_found_by_its_new_name_on_its_network() {
    let Some(b) = env() else { return };
    b.ok(&["network", "create", "rn"]);
    for n in ["alpha", "beta"] {
        b.ok(&[
            "run",
            "-d",
            "--name",
            n,
            "--network",
            "rn",
            "busybox",
            "sleep",
            "1000",
        ]);
    }
    assert!(b
        .ok(&["exec", "beta", "cat", "/etc/hosts"])
        .contains("alpha"));
    b.ok(&["rename", "alpha", "gamma"]);
    let peer = b.ok(&["exec", "beta", "cat", "/etc/hosts"]);
    assert!(peer.contains("gamma") && !peer.contains("alpha"), "{peer}");
    let own = b.ok(&["exec", "gamma", "cat", "/etc/hosts"]);
    assert!(own.contains("gamma") && !own.contains("alpha"), "{own}");
    b.ok(&["exec", "beta", "ping", "-c1", "-W2", "gamma"]);
    b.ok(&["rm", "-f", "gamma", "beta"]);
    b.ok(&["network", "rm", "rn"]);
}
