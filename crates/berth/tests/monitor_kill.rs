//! A monitor killed with SIGKILL while it lingers before removing the bridge its
//! container left idle: the next berth command that looks at all containers
//! (`ps`) removes the bridge it owed, even when its container is gone already.

use berth_testkit::Berth;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn bridge_exists(b: &Berth) -> bool {
    std::path::Path::new("/sys/class/net")
        .join(&b.bridge)
        .exists()
}

/// Runs `args` with a linger long enough that the monitor is surely killed in it.
fn run_lingering(b: &Berth, args: &[&str]) {
    let out = b
        .command(args)
        .env("BERTH_NET_LINGER_MS", "600000")
        .output()
        .expect("run berth");
    assert!(out.status.success(), "{args:?}: {out:?}");
}

/// Waits until the container's exit is recorded (or it is removed, for `--rm`),
/// then kills this berth's monitors: the one left is lingering.
fn kill_the_lingering_monitor(b: &Berth, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    // Polled with inspect, not ps: ps reclaims idle bridges nobody lingers on,
    // and would find this one in the moment before its monitor starts lingering.
    loop {
        let out = b.run(&["inspect", "-f", "{{.State.Status}}", name]);
        let status = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if status != "running" {
            break;
        }
        assert!(Instant::now() < deadline, "{name} never exited");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        bridge_exists(b),
        "the monitor lingers before removing the bridge"
    );
    b.kill_monitors();
}

#[test]
fn a_bridge_whose_lingering_monitor_was_killed_is_reclaimed() {
    let Some(b) = berth_testkit::busybox_berth(BIN, &["tar"]) else {
        return;
    };
    // `--rm`: by the time it lingers, the container is removed; nothing of it is
    // left for a later command to clean up after.
    run_lingering(&b, &["run", "--rm", "--name", "gone", "busybox", "true"]);
    kill_the_lingering_monitor(&b, "gone");
    b.ok(&["ps", "-a"]);
    assert!(!bridge_exists(&b), "bridge {} left behind", b.bridge);

    // And a container that stays: its exit and cleanup were recorded already.
    run_lingering(&b, &["run", "-d", "--name", "stays", "busybox", "true"]);
    kill_the_lingering_monitor(&b, "stays");
    b.ok(&["ps", "-a"]);
    assert!(!bridge_exists(&b), "bridge {} left behind", b.bridge);
    b.ok(&["rm", "stays"]);
}
