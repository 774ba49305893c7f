//! Volumes as an attacker uses them: names that walk out of the volume root, a
//! copy-up through an image symlink that points at the host, `--mount` sources with
//! `..`, two containers racing to make the same volume, and removing a volume a
//! container holds.

use berth_testkit::{stderr, Berth};
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar"])
}

/// Everything under the state root's parent besides the root itself: a name that
/// escaped the volume directory would show here.
fn escaped(b: &Berth) -> Vec<String> {
    let base = b.root.parent().unwrap();
    std::fs::read_dir(base)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "root" && n != "run")
        .collect()
}

#[test]
fn volume_names_cannot_leave_the_volume_root() {
    let Some(b) = env() else { return };
    let long = "a".repeat(300);
    for name in [
        "../../escaped",
        "..",
        ".",
        "a/b",
        "/abs",
        "_x",
        "x",
        long.as_str(),
    ] {
        let out = b.run(&["volume", "create", name]);
        assert_eq!(out.status.code(), Some(1), "volume create {name:?}");
        assert!(
            stderr(&out).contains("not a valid volume name") || stderr(&out).contains("255"),
            "{}",
            stderr(&out)
        );
    }
    let long_v = format!("{long}:/x");
    for v in ["../../escaped:/x", "..:/x", "a/b:/x", long_v.as_str()] {
        let out = b.sh_output(&["-v", v], "true");
        assert_eq!(out.status.code(), Some(125), "-v {v}");
    }
    for m in [
        "type=volume,src=../../escaped,dst=/x",
        "type=volume,src=..,dst=/x",
        "type=bind,src=../../etc,dst=/x",
        "type=bind,src=etc,dst=/x",
    ] {
        let out = b.sh_output(&["--mount", m], "true");
        assert_eq!(out.status.code(), Some(125), "--mount {m}");
        assert!(stderr(&out).contains("--mount"), "{}", stderr(&out));
    }
    assert_eq!(b.ok(&["volume", "ls", "-q"]), "");
    assert!(escaped(&b).is_empty(), "{:?}", escaped(&b));
    assert!(!b.root.join("escaped").exists());
    b.assert_no_leftovers();
}

#[test]
fn copy_up_through_an_image_symlink_copies_the_images_files_not_the_hosts() {
    let Some(b) = env() else { return };
    // /data in the image points at /etc; the host's /etc has files busybox's lacks.
    let host_only = ["debian_version", "os-release", "hostname"]
        .into_iter()
        .find(|f| Path::new("/etc").join(f).exists() && !f.is_empty())
        .expect("a host /etc file");
    b.ok(&[
        "run",
        "--name",
        "prep",
        "busybox",
        "sh",
        "-c",
        &format!("rm -f /etc/{host_only}; echo image > /etc/image-marker; ln -s /etc /data"),
    ]);
    b.ok(&["commit", "prep", "linky"]);
    b.ok(&["rm", "prep"]);
    b.ok(&["run", "--rm", "-v", "grab:/data", "linky", "true"]);
    let data = b.root.join("volumes/grab/_data");
    assert!(
        data.join("image-marker").exists(),
        "the image's /etc was not copied"
    );
    assert!(
        !data.join(host_only).exists(),
        "the host's /etc/{host_only} was copied"
    );
    // The link inside the copied tree stays a link, never followed on the host.
    b.ok(&[
        "run",
        "--name",
        "prep2",
        "busybox",
        "sh",
        "-c",
        "mkdir /app && ln -s /etc/shadow /app/sh",
    ]);
    b.ok(&["commit", "prep2", "linky2"]);
    b.ok(&["rm", "prep2"]);
    b.ok(&["run", "--rm", "-v", "grab2:/app", "linky2", "true"]);
    let link = b.root.join("volumes/grab2/_data/sh");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    b.assert_no_leftovers();
}

#[test]
fn two_containers_racing_for_a_new_volume_both_use_the_one_volume() {
    let Some(b) = env() else { return };
    for round in 0..3 {
        let vol = format!("race{round}:/d");
        let spawn = || {
            b.command(&[
                "run",
                "--rm",
                "-v",
                &vol,
                "busybox",
                "sh",
                "-c",
                "echo $$ >> /d/log",
            ])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        };
        let (one, two) = (spawn(), spawn());
        for child in [one, two] {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let log =
            std::fs::read_to_string(b.root.join(format!("volumes/race{round}/_data/log"))).unwrap();
        assert_eq!(log.lines().count(), 2, "{log}");
    }
    assert_eq!(b.ok(&["volume", "ls", "-q"]).lines().count(), 3);
    let stray: Vec<_> = std::fs::read_dir(b.root.join("volumes"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".new-") || n.starts_with(".gone-"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    b.assert_no_leftovers();
}

#[test]
fn a_volume_in_use_is_not_removed() {
    let Some(b) = env() else { return };
    let id = b.ok(&["run", "-d", "-v", "busy:/d", "busybox", "sleep", "300"]);
    b.ok(&["exec", &id, "sh", "-c", "echo precious > /d/f"]);
    for args in [
        &["volume", "rm", "busy"][..],
        &["volume", "rm", "-f", "busy"][..],
    ] {
        let out = b.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains("in use"), "{}", stderr(&out));
    }
    b.ok(&["volume", "prune", "-f", "-a"]);
    assert_eq!(b.ok(&["exec", &id, "cat", "/d/f"]), "precious");
    b.ok(&["rm", "-f", &id]);
    assert!(
        b.root.join("volumes/busy/_data/f").exists(),
        "rm without -v keeps it"
    );
    b.ok(&["volume", "rm", "busy"]);
    assert_eq!(b.ok(&["volume", "ls", "-q"]), "");
    b.assert_no_leftovers();
}

#[test]
fn volume_rm_racing_a_new_container_never_leaves_it_without_its_volume() {
    let Some(b) = env() else { return };
    for round in 0..10 {
        let vol = format!("contested{round}");
        b.ok(&["volume", "create", &vol]);
        let name = format!("c{round}");
        let spec = format!("{vol}:/d");
        let create = b
            .command(&["create", "--name", &name, "-v", &spec, "busybox", "true"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let rm = b.run(&["volume", "rm", &vol]);
        assert!(create.wait_with_output().unwrap().status.success());
        // Either the rm came first (and the container made the volume again) or it
        // was refused because the container held it: the volume exists either way.
        let listed = b.ok(&["volume", "ls", "-q"]);
        assert!(
            listed.lines().any(|l| l == vol),
            "round {round}: rm said {:?}, ls: {listed}",
            rm.status
        );
        b.ok(&["rm", "-v", &name]);
        b.ok(&["volume", "rm", &vol]);
    }
    b.assert_no_leftovers();
}
