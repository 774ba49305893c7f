//! Hostile images and hostile containers, tried as an attacker would (issue 8, items
//! 1-3 and part of 9): a layer whose whiteout names `..`, a rootfs whose `/etc` or
//! `/etc/passwd` links out to the host, a FIFO as `/etc/passwd`, ids that mean
//! "unchanged" to setresuid, digest references on import, and volume names that
//! climb out of the volume directory.
//!
//! Host files an attack would reach are decoys under /tmp where possible; the one
//! test aimed at the real `/etc` backs up the files berth touches and restores them on
//! drop.

use berth_testkit::{
    busybox_berth, busybox_tar, busybox_variant, stderr, stdout, tar_of, Berth, Extra,
    HostFileGuard, Scratch,
};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_berth");

/// Imports a busybox variant as `name` with `CMD ["/bin/sh"]`.
fn import_variant(b: &Berth, dir: &Path, name: &str, drop: &[&str], extra: &[Extra]) {
    let tar = dir.join(format!("{name}.tar"));
    busybox_variant(&tar, drop, extra);
    b.ok(&[
        "import",
        "--change",
        r#"CMD ["/bin/sh"]"#,
        &tar.to_string_lossy(),
        name,
    ]);
}

fn assert_refused(out: &Output, what: &str, needle: &str) {
    assert_eq!(
        out.status.code(),
        Some(125),
        "{what}: expected exit 125\nstdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    assert!(
        stderr(out).contains(needle),
        "{what}: stderr lacks {needle:?}: {}",
        stderr(out)
    );
}

fn layer_names(b: &Berth) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(b.root.join("layers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn whiteout_naming_dotdot_cannot_delete_other_layers() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let scratch = Scratch::new("whiteout");
    let before = layer_names(&b);
    assert_eq!(before.len(), 1, "{before:?}");
    for (i, name) in [".wh...", ".wh..", ".wh.", "etc/.wh...", "etc/.wh.."]
        .iter()
        .enumerate()
    {
        let tar = scratch.0.join(format!("wh{i}.tar"));
        tar_of(&tar, &[Extra::Dir("etc"), Extra::File(name, "")]);
        let out = b.run(&["import", &tar.to_string_lossy(), "evil"]);
        assert_eq!(layer_names(&b), before, "after importing {name:?}");
        assert_eq!(
            b.ok(&["run", "--rm", "busybox", "echo", "intact"]),
            "intact"
        );
        assert_refused(&out, name, "whiteout");
    }
    assert!(b
        .ok(&["images", "--format", "{{.Repository}}"])
        .lines()
        .all(|l| l != "evil"));
}

const SHIPPED_ID: &str = "0123456789abcdef0123456789abcdef\n";

#[test]
fn etc_linked_out_to_a_host_dir_writes_nothing_there() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let scratch = Scratch::new("etc-link");
    // A decoy "host" /etc the old code wrote through.
    let decoy = scratch.0.join("host-etc");
    std::fs::create_dir_all(&decoy).unwrap();
    std::fs::write(decoy.join("machine-id"), SHIPPED_ID).unwrap();
    let decoy_s = decoy.to_string_lossy().into_owned();
    import_variant(
        &b,
        &scratch.0,
        "decoy-etc",
        &["etc"],
        &[Extra::Symlink("etc", &decoy_s)],
    );
    let out = b.run_bounded(
        &["run", "--rm", "--systemd=always", "decoy-etc", "true"],
        b"",
        Duration::from_secs(60),
    );
    // Whether it starts is not the point (inside, its /etc is a dangling link).
    eprintln!(
        "decoy-etc: {:?}",
        out.map(|o| (o.status.code(), stderr(&o)))
    );
    assert_eq!(
        std::fs::read_to_string(decoy.join("machine-id")).unwrap(),
        SHIPPED_ID,
        "berth wrote a host file through the image's /etc symlink"
    );
    assert_eq!(std::fs::read_dir(&decoy).unwrap().count(), 1);
}

#[test]
fn etc_linked_inside_the_image_still_gets_its_own_machine_id() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let scratch = Scratch::new("etc-inner");
    import_variant(
        &b,
        &scratch.0,
        "inner-etc",
        &["etc"],
        &[
            Extra::Dir("realetc"),
            Extra::File("realetc/passwd", "root:x:0:0::/:/bin/sh\n"),
            Extra::File("realetc/machine-id", SHIPPED_ID),
            Extra::Symlink("etc", "/realetc"),
        ],
    );
    let run = ["run", "-d", "--name", "inner", "--systemd=always"];
    b.ok(&[&run[..], &["inner-etc", "sleep", "300"]].concat());
    let id = b.ok(&["exec", "inner", "cat", "/etc/machine-id"]);
    assert!(id.len() == 32 && id != SHIPPED_ID.trim(), "{id}");
    b.ok(&["rm", "-f", "inner"]);
}

/// The files under the host's /etc that berth reads or writes for a container.
const HOST_ETC_FILES: [&str; 6] = [
    "/etc/machine-id",
    "/etc/passwd",
    "/etc/group",
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
];

fn host_etc_files() -> Vec<Option<Vec<u8>>> {
    HOST_ETC_FILES
        .iter()
        .map(|f| std::fs::read(f).ok())
        .collect()
}

#[test]
fn etc_linked_to_the_hosts_etc_leaves_it_byte_identical() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let scratch = Scratch::new("etc-host");
    // Whatever happens, the host's files are put back as they were.
    let _guards: Vec<HostFileGuard> = HOST_ETC_FILES.iter().map(HostFileGuard::new).collect();
    let before = host_etc_files();
    import_variant(
        &b,
        &scratch.0,
        "host-etc",
        &["etc"],
        &[
            Extra::Symlink("etc", "/etc"),
            Extra::Symlink("sbin/init", "/bin/true"),
        ],
    );
    let out = b.run_bounded(
        &["run", "-d", "--name", "init", "host-etc", "/sbin/init"],
        b"",
        Duration::from_secs(60),
    );
    eprintln!("host-etc: {:?}", out.map(|o| (o.status.code(), stderr(&o))));
    let _ = b.run(&["rm", "-f", "init"]);
    assert!(host_etc_files() == before, "a host file under /etc changed");
}

/// A busybox image whose /etc/passwd links to `target`, with its own /etc/shadow
/// holding one user the host does not have.
fn passwd_link_image(b: &Berth, dir: &Path, name: &str, target: &str) {
    import_variant(
        b,
        dir,
        name,
        &["etc/passwd"],
        &[
            Extra::Symlink("etc/passwd", target),
            Extra::File("etc/shadow", "shadowuser:x:4321:4321::/:/bin/sh\n"),
        ],
    );
}

#[test]
fn passwd_symlink_pointing_out_reads_the_containers_own_files() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let scratch = Scratch::new("passwd-link");
    // A decoy host passwd with a user only the host knows.
    let decoy = scratch.0.join("host-passwd");
    std::fs::write(&decoy, "hostonly:x:777:777::/:/bin/sh\n").unwrap();
    let climbing = format!("/../../../../../..{}", decoy.display());
    passwd_link_image(&b, &scratch.0, "to-decoy", &climbing);
    passwd_link_image(&b, &scratch.0, "to-shadow", "/etc/shadow");

    let out = b.run(&["run", "--rm", "-u", "hostonly", "to-decoy", "id", "-u"]);
    assert_refused(&out, "-u hostonly (decoy)", "unable to find user hostonly");
    // The host's /etc/shadow has `daemon`; the container's does not.
    let out = b.run(&["run", "--rm", "-u", "daemon", "to-shadow", "id", "-u"]);
    assert_refused(&out, "-u daemon", "unable to find user daemon");
    assert_eq!(
        b.ok(&["run", "--rm", "-u", "shadowuser", "to-shadow", "id", "-u"]),
        "4321"
    );

    b.ok(&["run", "-d", "--name", "s", "to-shadow", "sleep", "300"]);
    let out = b.run(&["exec", "-u", "daemon", "s", "id", "-u"]);
    assert_refused(&out, "exec -u daemon", "unable to find user daemon");
    assert_eq!(b.ok(&["exec", "-u", "shadowuser", "s", "id", "-u"]), "4321");
    b.ok(&["rm", "-f", "s"]);
}

#[test]
fn fifo_as_passwd_gives_a_clear_error_not_a_hang() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    // A running container plants FIFOs to hang the admin's next `exec -u`.
    b.ok(&["run", "-d", "--name", "c", "busybox", "sleep", "300"]);
    b.ok(&[
        "exec",
        "c",
        "sh",
        "-c",
        "rm /etc/passwd /etc/group && mkfifo /etc/passwd /etc/group",
    ]);
    let out = b
        .run_bounded(
            &["exec", "-u", "someuser", "c", "true"],
            b"",
            Duration::from_secs(30),
        )
        .expect("exec -u with a FIFO as /etc/passwd hung");
    assert_refused(&out, "exec -u", "FIFO");
    let out = b
        .run_bounded(
            &["exec", "-u", "0:somegroup", "c", "true"],
            b"",
            Duration::from_secs(30),
        )
        .expect("exec -u with a FIFO as /etc/group hung");
    assert_refused(&out, "exec -u :group", "/etc/group");
    b.ok(&["rm", "-f", "c"]);

    let scratch = Scratch::new("fifo");
    import_variant(
        &b,
        &scratch.0,
        "fifo-passwd",
        &["etc/passwd"],
        &[Extra::Fifo("etc/passwd")],
    );
    let out = b
        .run_bounded(
            &["run", "--rm", "-u", "someuser", "fifo-passwd", "true"],
            b"",
            Duration::from_secs(30),
        )
        .expect("run -u with a FIFO as /etc/passwd hung");
    assert_refused(&out, "run -u", "FIFO");
    assert_refused(&out, "run -u", "/etc/passwd");
}

#[test]
fn ids_setresuid_reads_as_unchanged_are_refused() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let scratch = Scratch::new("bigid");
    import_variant(
        &b,
        &scratch.0,
        "bigid",
        &["etc/passwd", "etc/group"],
        &[
            Extra::File(
                "etc/passwd",
                "root:x:0:0::/:/bin/sh\nbig:x:4294967295:0::/:/bin/sh\nbiggid:x:1000:4294967295::/:/bin/sh\n",
            ),
            Extra::File("etc/group", "root:x:0:\nhuge:x:2147483648:\n"),
        ],
    );
    for user in ["4294967295", "2147483648", "0:4294967295", "1:2147483648"] {
        let out = b.run(&["run", "--rm", "-u", user, "busybox", "id"]);
        assert_refused(&out, user, "2147483647");
    }
    for user in ["big", "biggid", "0:huge"] {
        let out = b.run(&["run", "--rm", "-u", user, "bigid", "id"]);
        assert_refused(&out, user, "2147483647");
    }
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "-u",
            "2147483647:2147483647",
            "busybox",
            "id",
            "-u"
        ]),
        "2147483647"
    );
    b.ok(&["run", "-d", "--name", "c", "busybox", "sleep", "300"]);
    let out = b.run(&["exec", "-u", "4294967295", "c", "id", "-u"]);
    assert_refused(&out, "exec -u 4294967295", "2147483647");
    b.ok(&["rm", "-f", "c"]);
}

#[test]
fn import_refuses_a_digest_reference() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let digest = format!("sha256:{}", "ab".repeat(32));
    let out = b.run(&[
        "import",
        &busybox_tar().to_string_lossy(),
        &format!("pinned@{digest}"),
    ]);
    assert_refused(&out, "import name@digest", "cannot import digest reference");
    assert!(!b
        .ok(&["images", "--format", "{{.Repository}}"])
        .contains("pinned"));
    assert!(
        b.run(&["image", "inspect", &format!("pinned@{digest}")])
            .status
            .code()
            != Some(0)
    );
}

#[test]
fn volume_names_and_paths_that_climb_are_refused() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    for v in ["..:/data", ".:/data", "a:/data", "-x:/data", "_x:/data"] {
        let out = b.run(&["run", "--rm", &format!("--volume={v}"), "busybox", "true"]);
        assert_refused(&out, v, "volume name");
    }
    assert!(!b.root.join("_data").exists(), "a volume named .. escaped");
    assert_eq!(
        b.ok(&["run", "--rm", "-v", "ok.1:/data", "busybox", "echo", "ok"]),
        "ok"
    );
    for bad in ["/a/../../etc", "/data/.", "/.."] {
        let tag = format!("vol{}", bad.len());
        b.ok(&[
            "import",
            "--change",
            &format!(r#"VOLUME ["{bad}"]"#),
            &busybox_tar().to_string_lossy(),
            &tag,
        ]);
        let out = b.run(&["run", "--rm", &tag, "true"]);
        assert_refused(&out, bad, "VOLUME");
    }
}
