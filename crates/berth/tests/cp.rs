//! `cp` with docker's semantics, both ways, running and stopped containers:
//! contents and modes checked inside the container, archives through `-`, `-a`,
//! `-L`, `-q`, `dir/.`, and a stopped container's image layers and deletions.

use berth_testkit::{busybox_berth, stderr, stdout, Berth};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn exec(b: &Berth, script: &str) -> String {
    b.ok(&["exec", "box", "sh", "-c", script])
}

/// `cp - DEST` with `tar` on stdin; a cp that refuses early (without reading it
/// all) or hangs fails the test with what it said, not with a broken pipe.
fn cp_stdin(b: &Berth, dest: &str, tar: &[u8]) -> Output {
    b.run_bounded(&["cp", "-", dest], tar, Duration::from_secs(120))
        .expect("cp - hung")
}

/// A host tree: dir/f (0750, "hello"), dir/sub/g, dir/link -> f.
fn host_tree(at: &Path) {
    let dir = at.join("dir");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("f"), "hello\n").unwrap();
    std::fs::set_permissions(dir.join("f"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::fs::write(dir.join("sub/g"), "deep\n").unwrap();
    symlink("f", dir.join("link")).unwrap();
}

#[test]
fn copies_into_and_out_of_a_running_container_as_docker_does() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    host_tree(t.path());
    let dir = t.path().join("dir");
    let d = dir.to_str().unwrap();
    b.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    exec(&b, "mkdir -p /srv/into /srv/contents");

    // A directory into an existing one, to a new name, and its contents.
    b.ok(&["cp", d, "box:/srv/into"]);
    b.ok(&["cp", d, "box:/srv/renamed"]);
    b.ok(&["container", "cp", &format!("{d}/."), "box:/srv/contents"]);
    let seen = exec(
        &b,
        "stat -c '%n %a %u:%g' /srv/into/dir/f /srv/renamed/f /srv/contents/f; \
         cat /srv/into/dir/sub/g; readlink /srv/renamed/link",
    );
    assert_eq!(
        seen,
        "/srv/into/dir/f 750 0:0\n/srv/renamed/f 750 0:0\n/srv/contents/f 750 0:0\ndeep\nf"
    );
    // File to file, file into a directory; a missing directory is an error.
    let f = dir.join("f");
    let f = f.to_str().unwrap();
    b.ok(&["cp", f, "box:/srv/file-copy"]);
    b.ok(&["cp", f, "box:/srv/into/"]);
    assert_eq!(exec(&b, "cat /srv/file-copy /srv/into/f"), "hello\nhello");
    let out = b.run(&["cp", f, "box:/srv/missing/"]);
    assert!(!out.status.success(), "copied into a missing directory");
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    let out = b.run(&["cp", "-q", d, "box:/srv/file-copy"]);
    assert!(
        stderr(&out).contains("cannot copy a directory to a file"),
        "{}",
        stderr(&out)
    );

    // -a keeps owners; without it the copy is root's.
    std::os::unix::fs::chown(dir.join("sub/g"), Some(1234), Some(5678)).unwrap();
    b.ok(&["cp", "-a", d, "box:/srv/archived"]);
    b.ok(&["cp", d, "box:/srv/plain"]);
    let owners = exec(&b, "stat -c '%u:%g' /srv/archived/sub/g /srv/plain/sub/g");
    assert_eq!(owners, "1234:5678\n0:0");

    // Out again: a new name, into a directory, a link as a link or followed.
    let out_dir = t.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let o = out_dir.to_str().unwrap();
    let progress = b.run(&["cp", "box:/srv/into/dir", &format!("{o}/back")]);
    assert!(progress.status.success(), "{}", stderr(&progress));
    assert!(
        stderr(&progress).starts_with("Successfully copied "),
        "{}",
        stderr(&progress)
    );
    let quiet = b.run(&["cp", "-q", "box:/srv/into/dir", o]);
    assert!(
        quiet.status.success() && stderr(&quiet).is_empty(),
        "{}",
        stderr(&quiet)
    );
    for p in ["back/f", "dir/f"] {
        let meta = std::fs::metadata(out_dir.join(p)).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o750, "{p}");
        assert_eq!(std::fs::read_to_string(out_dir.join(p)).unwrap(), "hello\n");
    }
    b.ok(&["cp", "box:/srv/renamed/link", &format!("{o}/as-link")]);
    b.ok(&[
        "cp",
        "-L",
        "box:/srv/renamed/link",
        &format!("{o}/followed"),
    ]);
    assert!(std::fs::symlink_metadata(out_dir.join("as-link"))
        .unwrap()
        .is_symlink());
    assert_eq!(
        std::fs::read_to_string(out_dir.join("followed")).unwrap(),
        "hello\n"
    );
    // The container's mounts are part of its files, as with docker.
    b.ok(&["cp", "box:/etc/hostname", o]);
    let hostname = exec(&b, "cat /etc/hostname");
    assert_eq!(
        std::fs::read_to_string(out_dir.join("hostname"))
            .unwrap()
            .trim(),
        hostname
    );
    b.ok(&["rm", "-f", "box"]);
}

#[test]
fn archives_go_through_stdin_and_stdout() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    host_tree(t.path());
    b.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    exec(&b, "mkdir /in");
    let tar = Command::new("tar")
        .arg("-C")
        .arg(t.path())
        .args(["-cf", "-", "dir"])
        .output()
        .unwrap();
    let out = cp_stdin(&b, "box:/in", &tar.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(exec(&b, "cat /in/dir/f /in/dir/sub/g"), "hello\ndeep");
    // An archive needs a directory to go into.
    let out = cp_stdin(&b, "box:/in/dir/f", &tar.stdout);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("must be an existing directory"),
        "{}",
        stderr(&out)
    );

    let out = b.run(&["cp", "box:/in/dir", "-"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let tar_path = t.path().join("out.tar");
    std::fs::write(&tar_path, &out.stdout).unwrap();
    let listed = Command::new("tar")
        .arg("-tvf")
        .arg(&tar_path)
        .output()
        .unwrap();
    let listed = stdout(&listed);
    for name in ["dir/", "dir/f", "dir/sub/g", "dir/link -> f"] {
        assert!(listed.contains(name), "{name} missing from:\n{listed}");
    }
    assert!(listed.contains("-rwxr-x---"), "mode kept:\n{listed}");
    b.ok(&["rm", "-f", "box"]);
}

#[test]
fn a_stopped_container_shows_its_image_and_its_own_changes() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    b.ok(&[
        "run",
        "--name",
        "box",
        "busybox",
        "sh",
        "-c",
        "rm /etc/group; echo mine > /etc/mine",
    ]);
    let o = t.path().to_str().unwrap();
    // From the image's layer, from the container's upper directory, and not what
    // it deleted.
    b.ok(&["cp", "box:/etc/passwd", o]);
    b.ok(&["cp", "box:/etc/mine", o]);
    assert!(std::fs::read_to_string(t.path().join("passwd"))
        .unwrap()
        .contains("root"));
    assert_eq!(
        std::fs::read_to_string(t.path().join("mine")).unwrap(),
        "mine\n"
    );
    let out = b.run(&["cp", "box:/etc/group", o]);
    assert!(!out.status.success(), "a deleted file was copied");
    assert!(
        stderr(&out).contains("Could not find the file /etc/group"),
        "{}",
        stderr(&out)
    );
    // Into it, then seen by the container when it runs again.
    let f = t.path().join("new.txt");
    std::fs::write(&f, "for later\n").unwrap();
    b.ok(&["cp", f.to_str().unwrap(), "box:/etc/passwd"]);
    b.ok(&["cp", f.to_str().unwrap(), "box:/root/"]);
    b.ok(&["start", "-a", "box"]);
    b.ok(&["commit", "box", "after"]);
    let seen = b.ok(&[
        "run",
        "--rm",
        "after",
        "cat",
        "/etc/passwd",
        "/root/new.txt",
    ]);
    assert_eq!(seen, "for later\nfor later");
    b.ok(&["rm", "-f", "box"]);
    // Nothing stays mounted: the overlay lived in cp's own mount namespace.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(b.root.to_str().unwrap()),
        "a mount was left"
    );
}

#[test]
fn a_stopped_containers_volumes_and_binds_take_the_copy() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let bound = t.path().join("bound");
    let ro = t.path().join("ro");
    std::fs::create_dir(&bound).unwrap();
    std::fs::create_dir(&ro).unwrap();
    let f = t.path().join("f");
    std::fs::write(&f, "in the volume\n").unwrap();
    let f = f.to_str().unwrap();
    let (bv, rv) = (
        format!("{}:/bound", bound.display()),
        format!("{}:/ro:ro", ro.display()),
    );
    b.ok(&[
        "run",
        "--name",
        "box",
        "-v",
        "vol:/data",
        "-v",
        &bv,
        "-v",
        &rv,
        "busybox",
        "true",
    ]);
    b.ok(&["cp", f, "box:/data/"]);
    b.ok(&["cp", f, "box:/bound/"]);
    let out = b.run(&["cp", f, "box:/ro/"]);
    assert!(!out.status.success(), "wrote through a read-only bind");
    assert!(!ro.join("f").exists());
    assert_eq!(
        std::fs::read_to_string(bound.join("f")).unwrap(),
        "in the volume\n"
    );
    let seen = b.ok(&[
        "run",
        "--rm",
        "-v",
        "vol:/data",
        "busybox",
        "cat",
        "/data/f",
    ]);
    assert_eq!(seen, "in the volume");
    // And out of the volume again, from the stopped container.
    b.ok(&["cp", "box:/data/f", t.path().join("back").to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(t.path().join("back")).unwrap(),
        "in the volume\n"
    );
    b.ok(&["rm", "-f", "-v", "box"]);
    let _ = b.run(&["volume", "rm", "vol"]);
}

#[test]
fn a_read_only_container_stays_read_only() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("f");
    std::fs::write(&f, "x").unwrap();
    let f = f.to_str().unwrap();
    b.ok(&[
        "run",
        "-d",
        "--read-only",
        "--name",
        "box",
        "busybox",
        "sleep",
        "1000",
    ]);
    let out = b.run(&["cp", f, "box:/etc/"]);
    assert!(!out.status.success(), "wrote into a running read-only root");
    assert!(stderr(&out).contains("Read-only"), "{}", stderr(&out));
    b.ok(&["stop", "-t", "0", "box"]);
    let out = b.run(&["cp", f, "box:/etc/"]);
    assert!(
        stderr(&out).contains("read-only root filesystem"),
        "{}",
        stderr(&out)
    );
    b.ok(&["cp", "box:/etc/passwd", t.path().to_str().unwrap()]);
    b.ok(&["rm", "-f", "box"]);
}

#[test]
fn bad_arguments_say_what_to_do() {
    let Some(b) = busybox_berth(BIN, &[]) else {
        return;
    };
    let out = b.run(&["cp", "/tmp/a", "/tmp/b"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("at least one container"),
        "{}",
        stderr(&out)
    );
    let out = b.run(&["cp", "x:/a", "y:/b"]);
    assert!(
        stderr(&out).contains("between containers"),
        "{}",
        stderr(&out)
    );
    let out = b.run(&["cp", "nosuch:/a", "/tmp/b"]);
    assert!(!out.status.success());
}

/// `--read-only` is the root's: a stopped read-only container's volume still
/// takes a copy (as docker's does), while its root still refuses one.
#[test]
fn a_stopped_read_only_container_takes_copies_into_its_volumes() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("f");
    std::fs::write(&f, "x").unwrap();
    let f = f.to_str().unwrap();
    b.ok(&[
        "run",
        "--read-only",
        "--name",
        "box",
        "-v",
        "rodata:/data",
        "busybox",
        "true",
    ]);
    b.ok(&["cp", f, "box:/data/f"]);
    assert_eq!(b.sh(&["-v", "rodata:/v"], "cat /v/f"), "x");
    let out = b.run(&["cp", f, "box:/etc/"]);
    assert!(!out.status.success(), "wrote into a stopped read-only root");
    assert!(
        stderr(&out).contains("read-only root filesystem"),
        "{}",
        stderr(&out)
    );
    b.ok(&["rm", "box"]);
    b.ok(&["volume", "rm", "rodata"]);
}
