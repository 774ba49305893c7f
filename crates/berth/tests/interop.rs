//! berth beside podman and docker: what berth pushes podman pulls and runs, what
//! berth saves podman and docker load and run, and what they save berth loads and
//! runs, in every archive format each of them writes or reads, and images go
//! through a registry between berth and each of them. Both peers run with
//! state of their own (testkit `peers`), dockerd as a private daemon stopped by PID.

use berth_testkit::peers::{Dockerd, Podman};
use berth_testkit::registry::Registry;
use berth_testkit::{busybox_tar, require_root_and, Berth};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

#[test]
fn podman_and_berth_pull_and_run_what_the_other_pushed() {
    if !require_root_and(&["tar", "docker-registry", "podman", "runc"]) {
        return;
    }
    let reg = Registry::start();
    let b = Berth::new(BIN);
    b.import_busybox("pushed:1", &["CMD echo pushed-by-berth"]);
    let dest = format!("{}/interop/pushed:1", reg.host);
    b.ok(&["push", "-q", "pushed:1", &dest]);

    let p = Podman::new();
    p.ok(&["pull", "-q", "--tls-verify=false", &dest]);
    assert_eq!(p.run_rm(&[&dest]), "pushed-by-berth");
    // The same image id on both sides: podman read berth's config blob unchanged.
    let berth_id = b.ok(&["image", "inspect", "-f", "{{.Id}}", "pushed:1"]);
    let podman_id = p.ok(&["image", "inspect", "-f", "{{.Id}}", &dest]);
    assert_eq!(berth_id.trim_start_matches("sha256:"), podman_id);

    // podman's own push (it compresses the layer itself) → berth.
    let tar = busybox_tar();
    p.ok(&[
        "import",
        "-q",
        "--change",
        "CMD echo pushed-by-podman",
        tar.to_str().unwrap(),
        "by-podman:1",
    ]);
    let theirs = format!("{}/interop/by-podman:1", reg.host);
    p.ok(&["push", "-q", "--tls-verify=false", "by-podman:1", &theirs]);
    let fresh = Berth::new(BIN);
    fresh.ok(&["pull", "-q", &theirs]);
    assert_eq!(fresh.ok(&["run", "--rm", &theirs]), "pushed-by-podman");
    b.assert_no_leftovers();
    fresh.assert_no_leftovers();
}

#[test]
fn berth_archives_load_into_podman_and_run() {
    if !require_root_and(&["tar", "podman", "runc"]) {
        return;
    }
    let b = Berth::new(BIN);
    b.import_busybox("saved/by-berth:1", &["CMD echo saved-by-berth"]);
    let p = Podman::new();
    for format in ["docker-archive", "oci-archive"] {
        let file = p.path(&format!("berth-{format}.tar"));
        let file = file.to_str().unwrap();
        b.ok(&["save", "--format", format, "-o", file, "saved/by-berth:1"]);
        let loaded = p.ok(&["load", "-q", "-i", file]);
        assert!(
            loaded.contains("saved/by-berth:1"),
            "{format}: podman loads it under its name: {loaded}"
        );
        assert_eq!(
            p.run_rm(&["saved/by-berth:1"]),
            "saved-by-berth",
            "{format}"
        );
        p.ok(&["rmi", "saved/by-berth:1"]);
    }
    b.assert_no_leftovers();
}

#[test]
fn podman_archives_load_into_berth_and_run() {
    if !require_root_and(&["tar", "podman", "runc"]) {
        return;
    }
    let p = Podman::new();
    let tar = busybox_tar();
    p.ok(&[
        "import",
        "-q",
        "--change",
        "CMD echo saved-by-podman",
        tar.to_str().unwrap(),
        "saved/by-podman:1",
    ]);
    // podman names an imported image localhost/…, and saves it so.
    let name = "localhost/saved/by-podman:1";
    for format in ["docker-archive", "oci-archive"] {
        let file = p.path(&format!("podman-{format}.tar"));
        let file = file.to_str().unwrap();
        p.ok(&[
            "save",
            "-q",
            "--format",
            format,
            "-o",
            file,
            "saved/by-podman:1",
        ]);
        let b = Berth::new(BIN);
        let loaded = b.ok(&["load", "-i", file]);
        assert!(loaded.contains(name), "{format}: {loaded}");
        assert_eq!(b.ok(&["run", "--rm", name]), "saved-by-podman", "{format}");
        b.assert_no_leftovers();
    }
}

#[test]
fn docker_and_berth_load_each_others_archives_and_pulls() {
    if !require_root_and(&["tar", "dockerd", "docker", "runc", "docker-registry"]) {
        return;
    }
    let d = Dockerd::start();
    // berth → docker: the default archive (docker-archive with an OCI layout).
    let b = Berth::new(BIN);
    b.import_busybox("saved/by-berth:1", &["CMD echo saved-by-berth"]);
    let ours = d.path("berth.tar");
    b.ok(&["save", "-o", ours.to_str().unwrap(), "saved/by-berth:1"]);
    let loaded = d.ok(&["load", "-q", "-i", ours.to_str().unwrap()]);
    assert!(loaded.contains("saved/by-berth:1"), "{loaded}");
    assert_eq!(d.run_rm(&["saved/by-berth:1"]), "saved-by-berth");

    // docker → berth.
    let tar = busybox_tar();
    d.ok(&[
        "import",
        "--change",
        "CMD echo saved-by-docker",
        tar.to_str().unwrap(),
        "saved/by-docker:1",
    ]);
    let theirs = d.path("docker.tar");
    d.ok(&["save", "-o", theirs.to_str().unwrap(), "saved/by-docker:1"]);
    let fresh = Berth::new(BIN);
    let loaded = fresh.ok(&["load", "-i", theirs.to_str().unwrap()]);
    assert!(loaded.contains("saved/by-docker:1"), "{loaded}");
    assert_eq!(
        fresh.ok(&["run", "--rm", "saved/by-docker:1"]),
        "saved-by-docker"
    );

    // Through a registry, both ways (docker takes a loopback registry as insecure).
    let reg = Registry::start();
    let from_berth = format!("{}/interop/from-berth:1", reg.host);
    b.ok(&["push", "-q", "saved/by-berth:1", &from_berth]);
    d.ok(&["pull", "-q", &from_berth]);
    assert_eq!(d.run_rm(&[&from_berth]), "saved-by-berth");
    let from_docker = format!("{}/interop/from-docker:1", reg.host);
    d.ok(&["tag", "saved/by-docker:1", &from_docker]);
    d.ok(&["push", "-q", &from_docker]);
    let pulled = Berth::new(BIN);
    pulled.ok(&["pull", "-q", &from_docker]);
    assert_eq!(pulled.ok(&["run", "--rm", &from_docker]), "saved-by-docker");
    b.assert_no_leftovers();
    fresh.assert_no_leftovers();
    pulled.assert_no_leftovers();
}
