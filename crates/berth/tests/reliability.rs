//! Races of issue 13, tried as a user would hit them: commands that overlap in time
//! must leave a working container, however the timing falls.

use berth_testkit::{http_get, Berth};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar", "ip", "nft"])
}

/// A host port unlikely to clash with other tests running at the same time.
fn port(k: u16) -> u16 {
    40000 + (std::process::id() % 2000) as u16 * 10 + k
}

/// Whether the page answers within `limit` (polled; only "eventually" is asserted).
fn answers_within(addr: &str, limit: Duration) -> Result<String, String> {
    let deadline = Instant::now() + limit;
    let mut last = String::new();
    while Instant::now() < deadline {
        match http_get(addr, Duration::from_secs(1)) {
            Ok(body) if body.contains("hello-from-berth") => return Ok(body),
            Ok(body) => last = format!("unexpected answer {body:?}"),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(last)
}

const HTTPD: &str =
    "mkdir -p /www && echo hello-from-berth > /www/index.html && exec httpd -f -p 80 -h /www";

/// The testkit's `BERTH_NET_LINGER_MS`.
const LINGER_MS: u64 = 300;

/// Issue 13.1: the last container of a network leaves; its monitor removes the idle
/// bridge (and berth's nft table) after the linger. A container started around that
/// moment must end up reachable on its published port, whichever of the teardown
/// and its own plugging runs first.
///
/// The teardown starts about the linger after `run --rm` returned, and a new
/// container reserves its address some tens of milliseconds after its `run` began,
/// so the rounds start it from linger-150 ms to linger+30 ms after the first
/// returned (more rounds with `BERTH_RACE_ROUNDS`). Only "eventually answers" is
/// asserted.
#[test]
fn a_container_started_while_the_idle_bridge_is_torn_down_answers() {
    let Some(b) = env() else { return };
    let rounds: u64 = std::env::var("BERTH_RACE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
        .max(2);
    let p = port(1);
    let publish = format!("{p}:80");
    let addr = format!("127.0.0.1:{p}");
    let mut failures = Vec::new();
    for i in 0..rounds {
        let delay = LINGER_MS - 150 + i * 180 / (rounds - 1);
        // From a host without the network: the `run --rm` makes the bridge and
        // berth's table, and its monitor tears them down after the linger.
        b.wait_monitors_gone();
        b.ok(&["run", "--rm", "busybox", "true"]);
        std::thread::sleep(Duration::from_millis(delay));
        let id = b.ok(&["run", "-d", "-p", &publish, "busybox", "sh", "-c", HTTPD]);
        if let Err(e) = answers_within(&addr, Duration::from_secs(5)) {
            failures.push(format!("round {i} (delay {delay} ms): {e}"));
        }
        b.ok(&["rm", "-f", &id]);
    }
    assert!(
        failures.is_empty(),
        "{} of {rounds} containers never answered on {addr}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn inspect(b: &Berth, format: &str, name: &str) -> String {
    b.ok(&["inspect", "-f", format, name])
}

/// Issue 13.5: `network connect`/`disconnect` rewrite a container's state while its
/// monitor records the systemd boot (READY=1, STATUS=…) in the same row. Both
/// kinds of change must survive: the boot leaves `starting`, and the network
/// joined last is in the state.
#[test]
fn network_connect_during_a_systemd_boot_loses_no_state_change() {
    if !berth_testkit::require_root_and(&["tar", "debootstrap", "ip", "nft"]) {
        return;
    }
    let b = Berth::new(BIN);
    b.import_systemd("debian-systemd");
    b.ok(&["network", "create", "side"]);
    for round in 0..3 {
        b.ok(&["run", "-d", "--name", "s", "debian-systemd"]);
        // Connect and disconnect over and over while the boot is recorded.
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline && inspect(&b, "{{.State.Boot}}", "s") == "starting" {
            b.ok(&["network", "connect", "side", "s"]);
            b.ok(&["network", "disconnect", "side", "s"]);
        }
        b.ok(&["network", "connect", "side", "s"]);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut boot = inspect(&b, "{{.State.Boot}}", "s");
        while boot == "starting" && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            boot = inspect(&b, "{{.State.Boot}}", "s");
        }
        let networks = inspect(&b, "{{json .NetworkSettings.Networks}}", "s");
        assert!(
            boot == "ready" || boot == "degraded",
            "round {round}: the boot stayed {boot:?} (READY=1 lost?)"
        );
        assert!(
            networks.contains("\"side\""),
            "round {round}: network side lost from the state: {networks}"
        );
        b.ok(&["rm", "-f", "s"]);
    }
    b.ok(&["network", "rm", "side"]);
}
