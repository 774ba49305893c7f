//! Containers to images: `commit` of running containers (busybox and systemd) keeps
//! exactly their changes, `diff` lists them as docker does, `export` archives the
//! container's filesystem, and none of them reads a host file through a symlink the
//! container made.

use berth_testkit::{busybox_variant, require_root_and, stderr, stdout, Berth, Extra, Scratch};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_berth");

/// busybox plus /srv fixtures to change, imported as `base`.
fn base_image(b: &Berth, scratch: &Path) {
    let tar = scratch.join("base.tar");
    busybox_variant(
        &tar,
        &[],
        &[
            Extra::Dir("./srv"),
            Extra::Dir("./srv/dir-to-delete"),
            Extra::File("./srv/keep.txt", "keep\n"),
            Extra::File("./srv/modify.txt", "orig\n"),
            Extra::File("./srv/delete.txt", "doomed\n"),
            Extra::File("./srv/dir-to-delete/inner.txt", "inner\n"),
            Extra::File("./srv/file-to-dir", "file\n"),
        ],
    );
    b.ok(&[
        "import",
        "--change",
        r#"CMD ["/bin/sh"]"#,
        tar.to_str().unwrap(),
        "base",
    ]);
}

const CHANGES: &str = "echo new > /srv/added.txt; echo changed >> /srv/modify.txt; \
    rm /srv/delete.txt; rm -r /srv/dir-to-delete; rm /srv/file-to-dir; \
    mkdir /srv/file-to-dir; echo in > /srv/file-to-dir/inner";

const AFTER: &str = "cat /srv/added.txt /srv/modify.txt /srv/file-to-dir/inner; ls /srv; \
    test ! -e /srv/delete.txt && test ! -e /srv/dir-to-delete && echo gone";

/// Paths in a tar listing, as absolute paths without the trailing slash of directories.
fn tar_paths(tar: &Path) -> BTreeSet<String> {
    let out = Command::new("tar").arg("-tf").arg(tar).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| format!("/{}", l.trim_end_matches('/')))
        .collect()
}

#[test]
fn commit_diff_and_export_of_a_running_container_carry_exactly_its_changes() {
    if !require_root_and(&["tar"]) {
        return;
    }
    let b = Berth::new(BIN);
    let scratch = Scratch::new("busybox");
    base_image(&b, &scratch.0);
    b.ok(&["run", "-d", "--name", "c", "base", "sleep", "1000"]);
    b.ok(&["exec", "c", "sh", "-c", CHANGES]);

    assert_eq!(
        b.ok(&["diff", "c"]),
        "C /srv\nA /srv/added.txt\nD /srv/delete.txt\nD /srv/dir-to-delete\nC /srv/file-to-dir\nA /srv/file-to-dir/inner\nC /srv/modify.txt",
        "the runtime's mount points (/etc/hosts, …) are not changes"
    );

    let id = b.ok(&["commit", "c", "snap:1"]);
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.State.Status}}", "c"]),
        "running"
    );
    b.ok(&["exec", "c", "true"]); // thawed again
    let expected = "new\norig\nchanged\nin\nadded.txt\nfile-to-dir\nkeep.txt\nmodify.txt\ngone";
    assert_eq!(b.ok(&["exec", "c", "sh", "-c", AFTER]), expected);
    let fresh = b.ok(&["run", "--rm", "snap:1", "sh", "-c", AFTER]);
    assert_eq!(fresh, expected);
    // docker's commit keeps the container's command.
    assert_eq!(
        b.ok(&["image", "inspect", "-f", "{{json .Config.Cmd}}", "snap:1"]),
        r#"["sleep","1000"]"#
    );
    assert_eq!(
        b.ok(&["diff", "c"]).lines().count(),
        7,
        "commit leaves the container as it was"
    );

    // export: the container's whole filesystem, as `find -xdev` sees it inside,
    // without the runtime's mount points (busybox has no /etc/hosts of its own).
    let tar = scratch.0.join("export.tar");
    b.ok(&["export", "-o", tar.to_str().unwrap(), "c"]);
    let inside: BTreeSet<String> = b
        .ok(&["exec", "c", "find", "/", "-xdev"])
        .lines()
        .filter(|l| {
            !matches!(
                *l,
                "/" | "/etc/hostname" | "/etc/hosts" | "/etc/resolv.conf"
            )
        })
        .map(str::to_string)
        .collect();
    assert_eq!(tar_paths(&tar), inside);
    let piped = b.command(&["export", "c"]).output().unwrap();
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert_eq!(piped.stdout, std::fs::read(&tar).unwrap(), "deterministic");
    let extracted = scratch.0.join("x");
    std::fs::create_dir_all(&extracted).unwrap();
    let st = Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(&extracted)
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(
        std::fs::read_to_string(extracted.join("srv/modify.txt")).unwrap(),
        "orig\nchanged\n"
    );
    assert!(!extracted.join("srv/delete.txt").exists());
}

#[test]
fn commit_changes_set_the_image_config() {
    let Some(b) = berth_testkit::busybox_berth(BIN, &["tar"]) else {
        return;
    };
    b.ok(&[
        "run",
        "--name",
        "stopped",
        "busybox",
        "sh",
        "-c",
        "echo x > /made",
    ]);
    b.ok(&[
        "commit",
        "-c",
        r#"CMD ["/bin/sh","-c","echo hi $X"]"#,
        "-c",
        "ENV X=1",
        "-m",
        "a message",
        "-a",
        "Jane <jane@example.com>",
        "--pause=false",
        "stopped",
        "configured",
    ]);
    assert_eq!(b.ok(&["run", "--rm", "configured"]), "hi 1");
    assert_eq!(b.ok(&["run", "--rm", "configured", "cat", "/made"]), "x");
    assert_eq!(
        b.ok(&[
            "image",
            "inspect",
            "-f",
            "{{.Author}}|{{.Comment}}",
            "configured"
        ]),
        "Jane <jane@example.com>|a message"
    );
    let bad = b.run(&["commit", "-c", "RUN rm -rf /", "stopped", "nope"]);
    assert_eq!(bad.status.code(), Some(125));
    assert!(
        stderr(&bad).contains("RUN is not supported"),
        "{}",
        stderr(&bad)
    );
    assert!(!b.ok(&["images"]).contains("nope"));
}

#[test]
fn commit_of_a_running_systemd_container_keeps_its_state_and_boots() {
    if !require_root_and(&["tar", "debootstrap"]) {
        return;
    }
    let b = Berth::new(BIN);
    b.import_systemd("debian-systemd");
    b.ok(&["run", "-d", "--wait=ready", "--name", "s", "debian-systemd"]);
    let script = "echo berth-was-here > /etc/berth-marker
cat > /etc/systemd/system/marker.service <<'EOF'
[Unit]
Description=marker
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c \"echo ran > /run/marker-ran\"
[Install]
WantedBy=multi-user.target
EOF
systemctl enable marker.service";
    b.ok(&["exec", "s", "sh", "-c", script]);
    b.ok(&["commit", "s", "snapshot-systemd"]); // paused with the freezer while archived
    assert_eq!(
        b.ok(&["exec", "s", "systemctl", "is-system-running"]),
        "running",
        "thawed and healthy"
    );
    b.ok(&[
        "run",
        "-d",
        "--wait=ready",
        "--name",
        "s2",
        "snapshot-systemd",
    ]);
    assert_eq!(
        b.ok(&["exec", "s2", "cat", "/etc/berth-marker"]),
        "berth-was-here"
    );
    assert_eq!(
        b.ok(&["exec", "s2", "systemctl", "is-enabled", "marker.service"]),
        "enabled"
    );
    assert_eq!(
        b.ok(&["exec", "s2", "cat", "/run/marker-ran"]),
        "ran",
        "it ran at boot"
    );
    b.ok(&["stop", "s", "s2"]);
}

#[test]
fn commit_diff_and_export_never_read_the_hosts_files() {
    let Some(b) = berth_testkit::busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let scratch = Scratch::new("hostile");
    let secret_dir = scratch.0.join("secret-dir");
    std::fs::create_dir_all(&secret_dir).unwrap();
    let secret = format!("HOST-SECRET-{}", std::process::id());
    std::fs::write(secret_dir.join("secret"), &secret).unwrap();
    let shadow = std::fs::read("/etc/shadow").unwrap_or_default();
    // The container points names at the host's files and directories.
    let script = format!(
        "ln -s /etc/shadow /leak && ln -s {dir}/secret /secret && ln -s {dir} /hostdir && ln -s / /hostroot",
        dir = secret_dir.display()
    );
    b.ok(&["run", "-d", "--name", "h", "busybox", "sleep", "1000"]);
    b.ok(&["exec", "h", "sh", "-c", &script]);

    assert_eq!(
        b.ok(&["diff", "h"]),
        "A /hostdir\nA /hostroot\nA /leak\nA /secret"
    );
    let tar = scratch.0.join("export.tar");
    b.ok(&["export", "-o", tar.to_str().unwrap(), "h"]);
    b.ok(&["commit", "h", "hostile"]);
    let archive = std::fs::read(&tar).unwrap();
    let listing = tar_paths(&tar);
    assert!(
        listing.contains("/leak") && !listing.contains("/hostdir/secret"),
        "{listing:?}"
    );
    assert!(
        !listing.iter().any(|p| p.starts_with("/hostroot/")),
        "{listing:?}"
    );
    let contains = |hay: &[u8], needle: &[u8]| {
        !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
    };
    assert!(
        !contains(&archive, secret.as_bytes()),
        "export read the host's file"
    );
    assert!(
        !contains(&archive, &shadow),
        "export read the host's /etc/shadow"
    );
    for blob in std::fs::read_dir(b.root.join("blobs/sha256")).unwrap() {
        let data = std::fs::read(blob.unwrap().path()).unwrap();
        assert!(
            !contains(&data, secret.as_bytes()),
            "commit read the host's file"
        );
        assert!(
            !contains(&data, &shadow),
            "commit read the host's /etc/shadow"
        );
    }
    let inside = b.ok(&[
        "run",
        "--rm",
        "hostile",
        "sh",
        "-c",
        "readlink /leak; cat /secret /hostdir/secret 2>/dev/null || echo unreadable",
    ]);
    assert_eq!(inside, "/etc/shadow\nunreadable");
}
