//! `events` (also `system events`): berth's journal of its own state changes,
//! shown in order with docker's fields, windowed by `--since`/`--until`,
//! filtered with `-f`, formatted with `--format`, and followed live.

use berth_testkit::{busybox_berth, stderr, Berth};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

/// Now as docker's Unix-seconds timestamp with nanoseconds.
fn stamp() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

fn events(b: &Berth, args: &[&str]) -> Vec<serde_json::Value> {
    let mut argv = vec!["events", "--format", "{{json .}}"];
    argv.extend(args);
    b.ok(&argv)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn actions(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["Action"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn since_and_until_show_a_containers_life_in_order() {
    let Some(b) = busybox_berth(BIN, &[]) else {
        return;
    };
    let t0 = stamp();
    let run = b.run(&[
        "run",
        "--name",
        "ev",
        "--label",
        "tier=front",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(run.status.code(), Some(3), "{}", stderr(&run));
    let id = b.ok(&["inspect", "-f", "{{.Id}}", "ev"]);
    b.ok(&["rm", "ev"]);
    b.ok(&["tag", "busybox", "mine:1"]);
    let t1 = stamp();
    let after = stamp();

    let all = events(&b, &["--since", &t0, "--until", &t1]);
    let life: Vec<_> = all
        .iter()
        .filter(|e| e["Actor"]["ID"] == id.as_str())
        .cloned()
        .collect();
    assert_eq!(actions(&life), ["create", "start", "die", "destroy"]);
    let die = &life[2];
    assert_eq!(die["Type"], "container");
    assert_eq!(die["Actor"]["Attributes"]["exitCode"], "3");
    assert_eq!(die["Actor"]["Attributes"]["name"], "ev");
    assert_eq!(die["Actor"]["Attributes"]["image"], "busybox");
    assert_eq!(
        die["Actor"]["Attributes"]["tier"], "front",
        "labels are attributes"
    );
    assert_eq!(die["status"], "die");
    assert_eq!(die["id"], id.as_str());
    let times: Vec<i64> = life
        .iter()
        .map(|e| e["timeNano"].as_i64().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "in order: {times:?}"
    );
    let tag = all
        .iter()
        .find(|e| e["Type"] == "image")
        .expect("the tag event");
    assert_eq!(tag["Action"], "tag");
    assert_eq!(
        tag["Actor"]["Attributes"]["name"],
        "docker.io/library/mine:1"
    );

    // docker's default line: time, type, action, id, sorted attributes.
    let line = b.ok(&["events", "--since", &t0, "--until", &t1, "-f", "event=die"]);
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.contains(&format!(
            " container die {id} (exitCode=3, image=busybox, name=ev, tier=front)"
        )),
        "{line}"
    );
    let some = events(
        &b,
        &[
            "--since",
            &t0,
            "--until",
            &t1,
            "-f",
            "container=ev",
            "-f",
            "event=start",
            "-f",
            "event=destroy",
        ],
    );
    assert_eq!(actions(&some), ["start", "destroy"]);
    let labelled = events(
        &b,
        &[
            "--since",
            &t0,
            "--until",
            &t1,
            "-f",
            "label=tier=front",
            "-f",
            "type=container",
        ],
    );
    assert_eq!(labelled.len(), 4);
    assert!(
        b.ok(&["system", "events", "--since", &after, "--until", &after])
            .is_empty(),
        "nothing after"
    );

    let bad = b.run(&["events", "--since", "yesterday"]);
    assert_eq!(bad.status.code(), Some(125));
    assert!(stderr(&bad).contains("invalid time"), "{}", stderr(&bad));
    let filter = b.run(&["events", "-f", "colour=red", "--until", &t1]);
    assert!(
        stderr(&filter).contains("invalid filter"),
        "{}",
        stderr(&filter)
    );
}

/// Without --until, `events` follows the journal as berth commands and monitors
/// write to it, until it is interrupted.
#[test]
fn events_follow_live_changes() {
    let Some(b) = busybox_berth(BIN, &[]) else {
        return;
    };
    let mut follower = b
        .command(&[
            "events",
            "-f",
            "type=container",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follower.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Give the follower its start: it only shows what comes after it opened.
    std::thread::sleep(Duration::from_millis(500));
    b.ok(&["run", "-d", "--name", "live", "busybox", "sleep", "1000"]);
    b.ok(&["pause", "live"]);
    b.ok(&["unpause", "live"]);
    b.ok(&["exec", "live", "true"]);
    b.ok(&["rename", "live", "live2"]);
    b.ok(&["kill", "live2"]);
    b.ok(&["wait", "live2"]);
    let want = [
        "create live",
        "start live",
        "pause live",
        "unpause live",
        "exec_start: true live",
        "rename live2",
        "kill live2",
        "die live2",
    ];
    let mut got = Vec::new();
    while got.len() < want.len() {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) => got.push(l),
            Err(_) => break,
        }
    }
    // The follower runs until interrupted; this test started it and stops it.
    follower.kill().unwrap();
    follower.wait().unwrap();
    assert_eq!(got, want);
}

/// A container on a user network: `connect` when it starts, `disconnect` after
/// it dies, as docker's network events; `network connect` of a running one too.
#[test]
fn network_events_follow_attachments() {
    let Some(b) = busybox_berth(BIN, &["ip", "nft"]) else {
        return;
    };
    b.ok(&["network", "create", "evnet"]);
    b.ok(&["network", "create", "evnet2"]);
    let t0 = stamp();
    let run = b.run(&[
        "run",
        "--name",
        "netc",
        "--network",
        "evnet",
        "busybox",
        "true",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    b.ok(&["run", "-d", "--name", "late", "busybox", "sleep", "1000"]);
    b.ok(&["network", "connect", "evnet2", "late"]);
    b.ok(&["network", "disconnect", "evnet2", "late"]);
    let t1 = stamp();
    let id = b.ok(&["inspect", "-f", "{{.Id}}", "netc"]);
    let late = b.ok(&["inspect", "-f", "{{.Id}}", "late"]);
    let net = events(
        &b,
        &[
            "--since",
            &t0,
            "--until",
            &t1,
            "-f",
            "type=network",
            "-f",
            "network=evnet",
        ],
    );
    assert_eq!(actions(&net), ["connect", "disconnect"]);
    assert_eq!(net[0]["Actor"]["Attributes"]["container"], id.as_str());
    assert_eq!(net[0]["Actor"]["Attributes"]["name"], "evnet");
    let explicit = events(
        &b,
        &["--since", &t0, "--until", &t1, "-f", "network=evnet2"],
    );
    assert_eq!(actions(&explicit), ["connect", "disconnect"]);
    assert_eq!(
        explicit[0]["Actor"]["Attributes"]["container"],
        late.as_str()
    );
    // Network events name the container by id, as docker's do.
    let mixed = events(
        &b,
        &[
            "--since",
            &t0,
            "--until",
            &t1,
            "-f",
            &format!("container={id}"),
        ],
    );
    let order = actions(&mixed);
    let pos = |a: &str| {
        order
            .iter()
            .position(|x| x == a)
            .unwrap_or_else(|| panic!("{a} in {order:?}"))
    };
    assert!(
        pos("start") > pos("connect") && pos("disconnect") > pos("die"),
        "{order:?}"
    );
    b.ok(&["rm", "-f", "netc", "late"]);
    b.ok(&["network", "rm", "evnet", "evnet2"]);
}
