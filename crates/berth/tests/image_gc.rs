//! The image store's garbage collection: `rmi` and the prunes free the blobs and
//! unpacked layers nothing uses any more, keep what another image, a container's
//! image or the build cache uses, and never free a layer a concurrent import or
//! pull is about to reference. Also `image history`, `system df`, and a registry
//! that answers with an endless manifest.

use berth_testkit::registry::Registry;
use berth_testkit::{busybox_berth, require_root_and, stderr, Berth, KillOnDrop, Scratch};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn layers(b: &Berth) -> Vec<String> {
    entries(&b.root.join("layers"))
}

fn blobs(b: &Berth) -> Vec<String> {
    entries(&b.root.join("blobs/sha256"))
}

fn busybox(b: &Berth, tag: &str) -> String {
    b.ok(&[
        "import",
        berth_testkit::busybox_tar().to_str().unwrap(),
        tag,
    ])
}

#[test]
fn rmi_frees_layers_once_the_last_image_using_them_goes() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    // Same tarball: a second image on the same layer.
    busybox(&b, "twin");
    assert_eq!(layers(&b).len(), 1);
    let before = blobs(&b);
    let out = b.ok(&["rmi", "twin"]);
    assert!(
        out.starts_with("Untagged: twin:latest\nDeleted: sha256:"),
        "{out}"
    );
    assert_eq!(
        out.lines().count(),
        2,
        "no layer is freed: busybox uses it\n{out}"
    );
    assert_eq!(layers(&b).len(), 1, "busybox's layer stays");
    assert_eq!(
        blobs(&b).len(),
        before.len() - 2,
        "twin's config and manifest go"
    );
    assert_eq!(b.ok(&["run", "--rm", "busybox", "echo", "ok"]), "ok");

    // A container's image is never removed, nor its layer.
    let c = b.ok(&["create", "busybox", "true"]);
    let refused = b.run(&["rmi", "busybox"]);
    assert!(!refused.status.success());
    assert_eq!(layers(&b).len(), 1);
    b.ok(&["rm", &c]);

    let out = b.ok(&["rmi", "busybox"]);
    let chain = layers(&b);
    assert!(
        chain.is_empty(),
        "the last image's layer is freed: {chain:?}"
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("Deleted: ")).count(),
        2,
        "docker lists the image and the freed layer:\n{out}"
    );
    assert_eq!(blobs(&b), Vec::<String>::new(), "every blob is freed");
    b.assert_no_leftovers();
}

#[test]
fn prunes_free_the_same_way_and_keep_what_containers_use() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let ctx = Scratch::new("gc-prune");
    ctx.write("Dockerfile", "FROM busybox\nRUN echo other > /other\n");
    b.ok(&["build", "-q", "-t", "other", ctx.as_str()]);
    let c = b.ok(&["create", "other", "true"]);
    let out = b.ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains("deleted: sha256:"), "busybox goes: {out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("deleted: ")).count(),
        1,
        "no layer is freed: other is built on busybox's\n{out}"
    );
    assert_eq!(
        layers(&b).len(),
        2,
        "other's two layers stay (a container uses it)"
    );
    b.ok(&["rm", &c]);
    let out = b.ok(&["system", "prune", "-a", "-f"]);
    assert!(out.contains("Total reclaimed space: "), "{out}");
    // `system prune -a` also removes all build cache (as docker's), so the RUN
    // layer the cache kept goes with other's and busybox's.
    assert_eq!(
        out.lines().filter(|l| l.starts_with("deleted: ")).count(),
        3,
        "other, busybox's layer under it and the cached RUN layer\n{out}"
    );
    assert!(out.contains("Deleted build cache objects:"), "{out}");
    assert!(!out.contains("Total reclaimed space: 0B"), "{out}");
    let left = blobs(&b);
    assert_eq!(left, Vec::<String>::new(), "every blob is freed");
    assert_eq!(b.ok(&["images", "-q"]), "");
    b.assert_no_leftovers();
}

#[test]
fn rmi_keeps_the_layers_the_build_cache_uses() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let ctx = Scratch::new("gc-cache");
    ctx.write("Dockerfile", "FROM busybox\nRUN echo built > /built\n");
    b.ok(&["build", "-q", "-t", "built", ctx.as_str()]);
    let before = layers(&b);
    assert_eq!(before.len(), 2);
    b.ok(&["rmi", "built"]);
    assert_eq!(layers(&b), before, "the cached RUN layer stays");
    let out = b.run(&["build", "--progress=plain", "-t", "built", ctx.as_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("CACHED"), "{}", stderr(&out));
    assert_eq!(b.ok(&["run", "--rm", "built", "cat", "/built"]), "built");
    b.assert_no_leftovers();
}

/// Starts `args` with a pause at `point`, waits until it is there, returns the
/// child and the file whose removal lets it go on.
fn paused(b: &Berth, args: &[&str], point: &str) -> (KillOnDrop, PathBuf) {
    let file = b.root.parent().unwrap().join(format!("pause-{point}"));
    let mut cmd = b.command(args);
    cmd.env("BERTH_TEST_PAUSE", format!("{point}:{}", file.display()));
    cmd.stdout(std::process::Stdio::null());
    let mut child = KillOnDrop(cmd.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(120);
    while !file.exists() {
        assert!(
            Instant::now() < deadline,
            "berth {args:?} never reached {point}"
        );
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "berth {args:?} ended before {point}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, file)
}

fn release(mut child: KillOnDrop, file: &Path) {
    std::fs::remove_file(file).unwrap();
    let st = child.0.wait().unwrap();
    assert!(st.success(), "the paused writer failed: {st:?}");
}

#[test]
fn rmi_racing_an_import_that_found_the_layer_never_frees_it() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let tar = berth_testkit::busybox_tar();
    // The import has found busybox's layer unpacked and is about to record its
    // image; rmi of the only image using that layer runs now.
    let (child, file) = paused(
        &b,
        &["import", tar.to_str().unwrap(), "late"],
        "import-before-record",
    );
    let out = b.run(&["rmi", "busybox"]);
    assert!(out.status.success(), "{}", stderr(&out));
    release(child, &file);
    assert_eq!(b.ok(&["run", "--rm", "late", "echo", "intact"]), "intact");
    // Nothing writes now: the next rmi frees everything.
    b.ok(&["rmi", "late"]);
    assert!(layers(&b).is_empty() && blobs(&b).is_empty());
    assert!(
        entries(&b.root.join("layers")).is_empty(),
        "no diff-id file either"
    );
    b.assert_no_leftovers();
}

#[test]
fn rmi_racing_a_pull_of_an_image_sharing_layers() {
    if !require_root_and(&["tar", "docker-registry"]) {
        return;
    }
    let reg = Registry::start();
    let b = Berth::new(BIN);
    busybox(&b, "busybox");
    let remote = format!("{}/gc/bb:1", reg.host);
    b.ok(&["push", "-q", "busybox", &remote]);
    // The pull finds the layer unpacked (it only fetches the compressed blob).
    let (child, file) = paused(&b, &["pull", "-q", &remote], "pull-before-record");
    let out = b.run(&["rmi", "busybox"]);
    assert!(out.status.success(), "{}", stderr(&out));
    release(child, &file);
    assert_eq!(b.ok(&["run", "--rm", &remote, "echo", "pulled"]), "pulled");

    b.assert_no_leftovers();
}

#[test]
fn rmi_racing_a_load_of_an_image_sharing_layers() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let archive = b.root.parent().unwrap().join("bb.tar");
    b.ok(&["tag", "busybox", "saved:1"]);
    b.ok(&["save", "-o", archive.to_str().unwrap(), "saved:1"]);
    b.ok(&["rmi", "saved:1"]);
    let (child, file) = paused(
        &b,
        &["load", "-i", archive.to_str().unwrap()],
        "load-before-record",
    );
    // The load found the layer unpacked; the only image using it goes now.
    let out = b.run(&["rmi", "busybox"]);
    assert!(out.status.success(), "{}", stderr(&out));
    release(child, &file);
    assert_eq!(
        b.ok(&["run", "--rm", "saved:1", "echo", "loaded"]),
        "loaded"
    );
    b.assert_no_leftovers();
}

/// A registry on loopback that answers the API check, then streams a manifest
/// without end. Serves until the test ends.
fn endless_manifest_registry() -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    return;
                }
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                if !first.contains("/manifests/") {
                    let _ = conn.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                    );
                    return;
                }
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
                let chunk = format!("{:x}\r\n{}\r\n", 65536, "{".repeat(65536));
                for _ in 0..16384 {
                    if conn.write_all(chunk.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn an_endless_manifest_is_a_clear_error_and_nothing_is_stored() {
    if !require_root_and(&["tar"]) {
        return;
    }
    let addr = endless_manifest_registry();
    let b = Berth::new(BIN);
    let out = b
        .run_bounded(
            &["pull", &format!("{addr}/hostile:1")],
            b"",
            Duration::from_secs(120),
        )
        .expect("the pull ended");
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("more than 4194304 bytes"), "{err}");
    assert!(err.contains("broken or hostile"), "{err}");
    assert_eq!(b.ok(&["images", "-q"]), "");
    assert!(blobs(&b).is_empty() && layers(&b).is_empty());
    b.assert_no_leftovers();
}

#[test]
fn history_shows_each_step_newest_first_with_docker_columns() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let ctx = Scratch::new("gc-history");
    ctx.write(
        "Dockerfile",
        "FROM busybox\nENV A=1\nRUN head -c 3000 /dev/zero > /three-k && echo a-rather-long-command-line-that-docker-truncates\n",
    );
    let id = b.ok(&["build", "-q", "-t", "hist", ctx.as_str()]);
    let out = b.ok(&["image", "history", "hist"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"],
        "{out}"
    );
    assert_eq!(lines.len(), 4, "RUN, ENV and the import: {out}");
    assert!(
        lines[1].starts_with(&id[7..19]),
        "the top step is the image: {out}"
    );
    assert!(lines[1].contains("3kB"), "the RUN layer's size: {out}");
    assert!(lines[1].contains('…'), "long steps are cut: {out}");
    assert!(
        lines[2].starts_with("<missing>") && lines[2].contains("0B"),
        "{out}"
    );
    assert!(lines[3].contains("berth import") && lines[3].contains("Imported from tarball"));

    let q = b.ok(&["history", "-q", "--no-trunc", "hist"]);
    assert_eq!(
        q.lines().collect::<Vec<_>>(),
        [id.as_str(), "<missing>", "<missing>"]
    );
    let raw = b.ok(&[
        "history",
        "-H=false",
        "--no-trunc",
        "--format",
        "{{.Size}}|{{.CreatedSince}}|{{.CreatedBy}}",
        "hist",
    ]);
    let top: Vec<&str> = raw.lines().next().unwrap().split('|').collect();
    assert_eq!(top[0], "3000", "{raw}");
    assert!(
        top[1].ends_with('Z') && top[1].contains('T'),
        "RFC 3339: {raw}"
    );
    assert!(top[2].contains("docker-truncates"), "--no-trunc: {raw}");
    let missing = b.run(&["history", "nosuch"]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("No such image"),
        "{}",
        stderr(&missing)
    );
    b.assert_no_leftovers();
}

#[test]
fn system_df_counts_shared_layers_once() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let one = b.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}|{{.Reclaimable}}",
    ]);
    busybox(&b, "twin");
    let c = b.ok(&["create", "--name", "user", "busybox", "true"]);
    let two = b.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}|{{.Reclaimable}}",
    ]);
    let images = |s: &str| -> Vec<String> {
        s.lines()
            .next()
            .unwrap()
            .split('|')
            .map(str::to_string)
            .collect()
    };
    let (i1, i2) = (images(&one), images(&two));
    assert_eq!(i1[0], "Images");
    assert_eq!((i1[1].as_str(), i2[1].as_str()), ("1", "2"), "{one}\n{two}");
    assert_eq!(i2[2], "1", "busybox is in use: {two}");
    assert_eq!(
        i1[3], i2[3],
        "the shared layer is counted once: {one}\n{two}"
    );
    assert!(
        i2[4].starts_with("0B (0%)"),
        "the in-use layer is not reclaimable: {two}"
    );
    let kinds: Vec<&str> = two.lines().map(|l| l.split('|').next().unwrap()).collect();
    assert_eq!(
        kinds,
        ["Images", "Containers", "Local Volumes", "Build Cache"]
    );
    assert!(two.contains("Containers|1|0|"), "{two}");
    assert!(two.contains("Local Volumes|0|0|0B|0B"), "{two}");

    let table = b.ok(&["system", "df"]);
    assert_eq!(
        table
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    );
    let v = b.ok(&["system", "df", "-v"]);
    for section in [
        "Images space usage:",
        "Containers space usage:",
        "Local Volumes space usage:",
        "Build cache usage: 0B",
    ] {
        assert!(v.contains(section), "{v}");
    }
    assert!(v.contains("SHARED SIZE") && v.contains("twin"), "{v}");
    assert!(v.contains(&c[..12]), "{v}");
    b.ok(&["rm", &c]);
    b.assert_no_leftovers();
}
