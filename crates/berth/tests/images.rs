//! Images: import with --change, listing, tags, references, rmi rules, inspect, and
//! hostile input.

use berth_testkit::{busybox_tar, require_root_and, stderr, Berth, Scratch};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

#[test]
fn import_changes_apply_to_containers() {
    if !require_root_and(&["tar"]) {
        return;
    }
    let b = Berth::new(BIN);
    let id = b.import_busybox(
        "localhost:5000/tools/bb:v1",
        &[
            r#"ENTRYPOINT ["/bin/echo"]"#,
            "CMD default-arg",
            "ENV GREETING=hello WHO=\"the world\"",
            "WORKDIR /srv",
            "USER nobody",
            "LABEL org.test=yes",
            "EXPOSE 80 53/udp",
            "VOLUME /data",
            "STOPSIGNAL SIGRTMIN+3",
        ],
    );
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert_eq!(
        b.ok(&["run", "--rm", "localhost:5000/tools/bb:v1"]),
        "/bin/sh -c default-arg"
    );
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "--entrypoint",
            "sh",
            "localhost:5000/tools/bb:v1",
            "-c",
            "echo $GREETING $WHO; pwd; id -u"
        ]),
        "hello the world\n/srv\n65534"
    );
    let cfg = b.ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Labels}} {{json .Config.ExposedPorts}} {{.Config.StopSignal}}",
        "localhost:5000/tools/bb:v1",
    ]);
    assert_eq!(
        cfg,
        r#"{"org.test":"yes"} {"53/udp":{},"80/tcp":{}} SIGRTMIN+3"#
    );
    let vol = b.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        "localhost:5000/tools/bb:v1",
        "-c",
        "grep -c ' /data ' /proc/mounts",
    ]);
    assert_eq!(vol, "1", "image VOLUME becomes a mount");
    let bad = b.run(&[
        "import",
        "--change",
        "RUN rm -rf /",
        &busybox_tar().to_string_lossy(),
        "x",
    ]);
    assert_eq!(bad.status.code(), Some(125));
    assert!(
        stderr(&bad).contains("RUN is not supported"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn references_tags_and_rmi() {
    if !require_root_and(&["tar"]) {
        return;
    }
    let b = Berth::new(BIN);
    let id = b.import_busybox("busybox", &[r#"CMD ["/bin/sh"]"#]);
    let short = &id[7..19];
    b.ok(&["tag", "busybox", "docker.io/library/busybox:copy"]);
    b.ok(&["tag", short, "me/app:1"]);
    let listed = b.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    let mut lines: Vec<&str> = listed.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            format!("busybox:copy {short}"),
            format!("busybox:latest {short}"),
            format!("me/app:1 {short}")
        ]
    );
    assert_eq!(b.ok(&["images", "-q"]), short);
    assert_eq!(b.ok(&["images", "--no-trunc", "-q"]), id);
    // Every spelling of the same image resolves to it.
    for name in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox",
        "library/busybox:copy",
        short,
        &id,
        &id[7..],
    ] {
        assert_eq!(
            b.ok(&["image", "inspect", "-f", "{{.Id}}", name]),
            id,
            "{name}"
        );
    }
    let in_use = b.ok(&["create", "--name", "user", "me/app:1", "true"]);
    // An id with several tags needs -f; an image a container uses is refused even then.
    assert_eq!(b.run(&["rmi", short]).status.code(), Some(1));
    let refused = b.run(&["rmi", "-f", short]);
    assert!(
        stderr(&refused).contains("used by container"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(b.ok(&["rmi", "busybox:copy"]), "Untagged: busybox:copy");
    b.ok(&["rm", &in_use]);
    let out = b.ok(&["rmi", "-f", short]);
    assert!(out.contains("Deleted: sha256:"), "{out}");
    assert!(b.ok(&["images", "-q"]).is_empty());
    assert!(
        std::fs::read_dir(b.root.join("layers"))
            .unwrap()
            .next()
            .is_none(),
        "layers removed with the last image"
    );
    for bad in ["UPPER", "a//b", "x:", "name@sha256:123"] {
        let r = b.run(&["tag", "me/app:1", bad]);
        assert_eq!(r.status.code(), Some(125), "{bad}");
    }
}

#[test]
fn hostile_tarball_is_refused_and_leaves_nothing() {
    if !require_root_and(&["tar", "python3"]) {
        return;
    }
    let b = Berth::new(BIN);
    let dir = Scratch::new("hostile");
    let tar = dir.0.join("evil.tar");
    let script = format!(
        "import tarfile, io\nt = tarfile.open('{}', 'w')\ni = tarfile.TarInfo('../../../../tmp/berth-escaped-{}')\ni.size = 3\nt.addfile(i, io.BytesIO(b'bad'))\nt.close()\n",
        tar.display(),
        std::process::id()
    );
    assert!(std::process::Command::new("python3")
        .args(["-c", &script])
        .status()
        .unwrap()
        .success());
    let out = b.run(&["import", &tar.to_string_lossy(), "evil"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("escapes the root filesystem"),
        "{}",
        stderr(&out)
    );
    assert!(!std::path::Path::new(&format!("/tmp/berth-escaped-{}", std::process::id())).exists());
    assert!(b.ok(&["images", "-q"]).is_empty());
    std::fs::write(&tar, b"this is not a tarball at all").unwrap();
    assert_eq!(
        b.run(&["import", &tar.to_string_lossy(), "junk"])
            .status
            .code(),
        Some(125)
    );
}
