//! save and load: berth's own round trip, archives that skopeo (containers/image,
//! what podman uses) reads and writes, and hostile archives.

use berth_testkit::registry::{skopeo_copy, Registry};
use berth_testkit::{require_root_and, stderr, Berth};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_berth");

#[test]
fn save_and_load_round_trip_in_both_formats() {
    if !require_root_and(&["tar", "docker-registry"]) {
        return;
    }
    let src = Berth::new(BIN);
    let id = src.import_busybox("saved:1", &["CMD echo from-archive"]);
    let dir = src.root.parent().unwrap().to_path_buf();
    let docker_tar = dir.join("docker.tar");
    src.ok(&["save", "-o", docker_tar.to_str().unwrap(), "saved:1"]);
    let listing = Command::new("tar")
        .arg("-tf")
        .arg(&docker_tar)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout).to_string();
    for f in ["manifest.json", "index.json", "oci-layout", "repositories"] {
        assert!(listing.lines().any(|l| l == f), "{f} in {listing}");
    }
    let dst = Berth::new(BIN);
    assert_eq!(
        dst.ok(&["load", "-i", docker_tar.to_str().unwrap()]),
        "Loaded image: saved:1"
    );
    assert_eq!(
        dst.ok(&["image", "inspect", "-f", "{{.Id}}", "saved:1"]),
        id
    );
    assert_eq!(dst.ok(&["run", "--rm", "saved:1"]), "from-archive");

    // A pulled image saved as an OCI archive keeps its compressed blobs and
    // manifest digest.
    let reg = Registry::start();
    let name = format!("{}/arch/bb:1", reg.host);
    src.ok(&["push", "-q", "saved:1", &name]);
    let pulled = Berth::new(BIN);
    pulled.ok(&["pull", "-q", &name]);
    let oci_tar = dir.join("oci.tar");
    pulled.ok(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        oci_tar.to_str().unwrap(),
        &name,
    ]);
    let again = Berth::new(BIN);
    again.ok(&["load", "-q", "-i", oci_tar.to_str().unwrap()]);
    let digest = "{{.Metadata.ManifestDigest}}";
    assert_eq!(
        again.ok(&["image", "inspect", "-f", digest, &name]),
        pulled.ok(&["image", "inspect", "-f", digest, &name])
    );
    assert_eq!(again.ok(&["run", "--rm", &name]), "from-archive");
    let bad = again.run(&["save", "--format", "tarball", "-o", "/dev/null", &name]);
    assert_eq!(bad.status.code(), Some(125));
    again.assert_no_leftovers();
}

#[test]
fn archives_interoperate_with_containers_image() {
    if !require_root_and(&["tar", "docker-registry", "skopeo"]) {
        return;
    }
    let reg = Registry::start();
    let src = Berth::new(BIN);
    src.import_busybox("interop:1", &["CMD echo interop"]);
    let dir = src.root.parent().unwrap().to_path_buf();
    let ours = dir.join("ours.tar");
    src.ok(&["save", "-o", ours.to_str().unwrap(), "interop:1"]);
    // skopeo reads berth's docker-archive…
    let to_reg = format!("{}/interop/from-berth:1", reg.host);
    let out = skopeo_copy(&[
        &format!("docker-archive:{}", ours.display()),
        &format!("docker://{to_reg}"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b = Berth::new(BIN);
    b.ok(&["pull", "-q", &to_reg]);
    assert_eq!(b.ok(&["run", "--rm", &to_reg]), "interop");
    // …and berth loads what skopeo writes, as docker-archive and as oci-archive.
    for (kind, file) in [
        ("docker-archive", "theirs-docker.tar"),
        ("oci-archive", "theirs-oci.tar"),
    ] {
        let path = dir.join(file);
        let dest = match kind {
            "docker-archive" => format!("docker-archive:{}:skopeo/made:1", path.display()),
            _ => format!("oci-archive:{}:localhost/skopeo/made:1", path.display()),
        };
        let out = skopeo_copy(&[&format!("docker://{to_reg}"), &dest]);
        assert!(
            out.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let fresh = Berth::new(BIN);
        let loaded = fresh.ok(&["load", "-i", path.to_str().unwrap()]);
        assert!(loaded.contains("skopeo/made:1"), "{kind}: {loaded}");
        let name = if kind == "docker-archive" {
            "skopeo/made:1"
        } else {
            "localhost/skopeo/made:1"
        };
        assert_eq!(fresh.ok(&["run", "--rm", name]), "interop", "{kind}");
        fresh.assert_no_leftovers();
    }
}

#[test]
fn hostile_archives_are_refused() {
    if !require_root_and(&["tar"]) {
        return;
    }
    let b = Berth::new(BIN);
    let dir = b.root.parent().unwrap().join("evil");
    std::fs::create_dir_all(&dir).unwrap();
    // The config is a symlink to a host file; a layer path climbs out.
    std::os::unix::fs::symlink("/etc/hostname", dir.join("config.json")).unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        r#"[{"Config":"config.json","RepoTags":["evil:1"],"Layers":["../../../../etc/passwd"]}]"#,
    )
    .unwrap();
    let tar = b.root.parent().unwrap().join("evil.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    let out = b.run(&["load", "-i", tar.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(
        err.contains("\"config.json\": missing from the archive"),
        "{err}"
    );
    assert!(b.ok(&["images", "-q"]).is_empty());
    assert!(
        !b.root
            .join("tmp")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some()),
        "temp dir removed"
    );

    let not_tar = b.root.parent().unwrap().join("plain.txt");
    std::fs::write(&not_tar, "hello").unwrap();
    let out = b.run(&["load", "-i", not_tar.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125));
    b.assert_no_leftovers();
}
