//! container/network/image/system prune: what goes, what stays, the prompt, and
//! reclaiming the bridge and nft table a killed monitor left on the host.

use berth_testkit::{output_with_input, stdout, Berth};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar", "ip", "nft"])
}

/// Runs `berth args` with `answer` on stdin (the confirmation prompt).
fn answering(b: &Berth, args: &[&str], answer: &str) -> String {
    let out = output_with_input(b.command(args), answer);
    assert!(out.status.success(), "{args:?}: {:?}", out.status);
    stdout(&out)
}

fn lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_string).collect();
    v.sort();
    v
}

fn link_exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

fn nft_table_exists(table: &str) -> bool {
    let out = std::process::Command::new("nft")
        .args(["list", "tables"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.split_whitespace().last() == Some(table))
}

#[test]
fn prune_removes_what_nothing_uses_and_keeps_the_rest() {
    let Some(b) = env() else { return };
    // An image that becomes dangling: its tag moves to a newer import.
    let dangling = b.ok(&[
        "import",
        berth_testkit::busybox_tar().to_str().unwrap(),
        "img",
    ]);
    b.import_busybox("img", &[r#"CMD ["/bin/sh"]"#]);
    let exited = b.ok(&["run", "-d", "img", "true"]);
    b.ok(&["wait", &exited]);
    let created = b.ok(&["create", "img", "true"]);
    let running = b.ok(&["run", "-d", "img", "sleep", "300"]);
    b.ok(&["network", "create", "unused"]);
    b.ok(&["network", "create", "used"]);
    let on_used = b.ok(&["run", "-d", "--network", "used", "img", "sleep", "300"]);
    let everything = lines(&b.ok(&["ps", "-a", "-q", "--no-trunc"]));

    let declined = answering(&b, &["system", "prune"], "n\n");
    assert!(
        declined.contains("Are you sure you want to continue? [y/N]"),
        "{declined}"
    );
    assert_eq!(lines(&b.ok(&["ps", "-a", "-q", "--no-trunc"])), everything);

    let out = answering(&b, &["system", "prune"], "y\n");
    for gone in [exited.as_str(), &created, "unused", &dangling] {
        assert!(out.contains(gone), "{gone} not reported in:\n{out}");
    }
    assert!(out.contains("Total reclaimed space:"), "{out}");
    let mut kept = vec![running.clone(), on_used.clone()];
    kept.sort();
    assert_eq!(lines(&b.ok(&["ps", "-a", "-q", "--no-trunc"])), kept);
    let networks = b.ok(&["network", "ls", "-q"]);
    assert!(
        networks.contains("used") && networks.contains("bridge"),
        "{networks}"
    );
    assert!(!networks.contains("unused"), "{networks}");
    let images = b.ok(&["images", "-q", "--no-trunc"]);
    assert!(!images.contains(&dangling), "{images}");
    assert_eq!(images.lines().count(), 2, "busybox and img stay: {images}");

    // Once nothing runs, the rest can go too.
    b.ok(&["rm", "-f", &running, &on_used]);
    // A stopped container that was connected to a network keeps it too.
    let holder = b.ok(&["create", "busybox", "true"]);
    b.ok(&["network", "connect", "used", &holder]);
    assert_eq!(b.ok(&["network", "prune", "-f"]), "");
    b.ok(&["rm", &holder]);
    let out = b.ok(&["network", "prune", "-f"]);
    assert_eq!(out, "Deleted Networks:\nused");
    let out = b.ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains("untagged: img:latest"), "{out}");
    assert!(b.ok(&["images", "-q"]).is_empty());
    let out = b.ok(&["container", "prune", "-f"]);
    assert_eq!(out, "Total reclaimed space: 0B");
}

#[test]
fn system_prune_reclaims_what_a_killed_monitor_left() {
    let Some(b) = env() else { return };
    // The last monitor lingers (a minute here) before removing the idle bridge.
    let out = b
        .command(&["run", "--rm", "busybox", "true"])
        .env("BERTH_NET_LINGER_MS", "60000")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(link_exists(&b.bridge), "the bridge lingers");
    let monitors = b.kill_monitors();
    assert_eq!(monitors.len(), 1, "{monitors:?}");
    assert!(link_exists(&b.bridge), "nothing removed the bridge yet");
    assert!(nft_table_exists(&b.nft_table));

    b.ok(&["system", "prune", "-f"]);
    assert!(!link_exists(&b.bridge), "bridge reclaimed");
    assert!(!nft_table_exists(&b.nft_table), "nft table reclaimed");
}
