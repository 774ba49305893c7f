//! `cp` as an attacker inside the container sees it: symlinks that point out of the
//! container (absolute, climbing with `..`), archives on stdin with `..` entries,
//! absolute names and symlink-then-file tricks, and a container that swaps a
//! directory for a symlink to `/` while copies run. None of them may read or write
//! a host file; everything stays inside the container's root.

use berth_testkit::{busybox_berth, stderr, Berth};
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_berth");

/// A host file that must never be read or written by a copy, and a host path that
/// must never be created; both under /tmp (where the container's links point)
/// with a name of this test's own.
struct Victims {
    secret: PathBuf,
    tag: String,
}

impl Victims {
    fn new(test: &str) -> Self {
        let tag = format!("berth-cp-{test}-{}", std::process::id());
        let secret = Path::new("/tmp").join(format!("{tag}-secret"));
        std::fs::write(&secret, "host secret\n").unwrap();
        Victims { secret, tag }
    }

    /// A path on the host named `name`, which the test expects never to exist.
    fn never(&self, name: &str) -> PathBuf {
        Path::new("/tmp").join(format!("{}-{name}", self.tag))
    }

    fn assert_secret_untouched(&self) {
        assert_eq!(
            std::fs::read_to_string(&self.secret).unwrap(),
            "host secret\n",
            "the host file was written through the container"
        );
    }
}

impl Drop for Victims {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.secret);
        for e in std::fs::read_dir("/tmp").into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with(&self.tag) {
                let _ = std::fs::remove_dir_all(e.path());
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

fn cp_with_stdin(b: &Berth, args: &[&str], input: &[u8]) -> std::process::Output {
    b.run_bounded(args, input, std::time::Duration::from_secs(120))
        .expect("cp - hung")
}

/// Links to the host made in the container: `/out -> /`, `/etc/x` climbing to
/// the secret, `/leak` absolute to the secret.
fn plant_links(b: &Berth, name: &str, v: &Victims) {
    let secret = v.secret.display().to_string();
    let script = format!(
        "ln -s / /out && ln -s ../../../../../../..{secret} /etc/x && ln -s {secret} /leak \
         && mkdir /dir && ln -s {secret} /dir/leak"
    );
    b.ok(&["exec", name, "sh", "-c", &script]);
}

fn writes_and_reads_through_links(b: &Berth, name: &str, v: &Victims, scratch: &Path) {
    let payload = scratch.join("payload.txt");
    std::fs::write(&payload, "pwned\n").unwrap();
    let payload = payload.to_str().unwrap();
    let pwned = v.never("pwned");
    let dest = format!("{name}:/out{}", pwned.display());
    // docker's rules put the file in the container's own /tmp (or refuse); either
    // way it stays inside.
    let _ = b.run(&["cp", payload, &dest]);
    assert!(!pwned.exists(), "cp wrote the host's {}", pwned.display());
    b.run(&["cp", payload, &format!("{name}:/etc/x")]);
    v.assert_secret_untouched();
    // The absolute link's target is the container's own path, which it lacks.
    let got = scratch.join("got");
    let out = b.run(&["cp", "-L", &format!("{name}:/leak"), got.to_str().unwrap()]);
    let read = std::fs::read_to_string(&got).unwrap_or_default();
    assert!(
        !read.contains("host secret"),
        "cp -L read the host's file through the container's link: {}",
        stderr(&out)
    );
    // Without -L the link is copied as a link, as docker does.
    let dir = scratch.join("dir-out");
    b.ok(&["cp", &format!("{name}:/dir"), dir.to_str().unwrap()]);
    let meta = std::fs::symlink_metadata(dir.join("leak")).unwrap();
    assert!(meta.file_type().is_symlink(), "the link became a file");
}

#[test]
fn container_symlinks_never_lead_a_copy_to_the_host_running() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let v = Victims::new("run");
    let scratch = tempfile::tempdir().unwrap();
    b.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    plant_links(&b, "box", &v);
    writes_and_reads_through_links(&b, "box", &v, scratch.path());
    // What the write through /out/tmp did land on: the container's own /tmp.
    let inside = b.run(&["exec", "box", "ls", "/tmp"]);
    assert!(!String::from_utf8_lossy(&inside.stdout).contains("secret"));
    b.ok(&["rm", "-f", "box"]);
}

#[test]
fn container_symlinks_never_lead_a_copy_to_the_host_stopped() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let v = Victims::new("stopped");
    let scratch = tempfile::tempdir().unwrap();
    b.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    plant_links(&b, "box", &v);
    b.ok(&["stop", "-t", "0", "box"]);
    writes_and_reads_through_links(&b, "box", &v, scratch.path());
    b.ok(&["rm", "-f", "box"]);
}

/// A tar header whose name is written as given (the tar crate refuses `..`).
fn raw_entry(out: &mut Vec<u8>, name: &str, kind: tar::EntryType, link: Option<&str>, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(l) = link {
        h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
    }
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn finish(mut tar: Vec<u8>) -> Vec<u8> {
    tar.extend_from_slice(&[0; 1024]);
    tar
}

#[test]
fn an_archive_on_stdin_never_escapes_the_container() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let v = Victims::new("stdin");
    b.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    b.ok(&["exec", "box", "mkdir", "-p", "/dest"]);
    let climb = v.never("climb");
    let climb_name = format!("../../../../../../..{}", climb.display());
    let mut tar = Vec::new();
    raw_entry(&mut tar, &climb_name, tar::EntryType::Regular, None, b"x\n");
    let out = cp_with_stdin(&b, &["cp", "-", "box:/dest"], &finish(tar));
    assert!(!climb.exists(), "a '..' entry wrote {}", climb.display());
    assert!(!out.status.success(), "a '..' entry was accepted");
    assert!(stderr(&out).contains("climbs out"), "{}", stderr(&out));

    // Absolute names, and links then files through them, land inside the
    // destination.
    let abs = v.never("abs");
    let via_abs = v.never("via-abs-link");
    let via_up = v.never("via-up-link");
    let secret = v.secret.display().to_string();
    let mut tar = Vec::new();
    raw_entry(
        &mut tar,
        &abs.display().to_string(),
        tar::EntryType::Regular,
        None,
        b"a\n",
    );
    raw_entry(&mut tar, "evil", tar::EntryType::Symlink, Some("/tmp"), b"");
    let name = format!("evil/{}", via_abs.file_name().unwrap().to_str().unwrap());
    raw_entry(&mut tar, &name, tar::EntryType::Regular, None, b"b\n");
    raw_entry(
        &mut tar,
        "up",
        tar::EntryType::Symlink,
        Some("../../../../../../.."),
        b"",
    );
    let name = format!("up{}", via_up.display());
    raw_entry(&mut tar, &name, tar::EntryType::Regular, None, b"c\n");
    // A link onto the secret, then a file written "into" it.
    raw_entry(&mut tar, "sec", tar::EntryType::Symlink, Some(&secret), b"");
    raw_entry(&mut tar, "sec", tar::EntryType::Regular, None, b"pwned\n");
    let hard = format!("hard-{}", std::process::id());
    raw_entry(&mut tar, &hard, tar::EntryType::Link, Some(&secret), b"");
    let _ = cp_with_stdin(&b, &["cp", "-", "box:/dest"], &finish(tar));
    for p in [&abs, &via_abs, &via_up] {
        assert!(!p.exists(), "the archive wrote {} on the host", p.display());
    }
    v.assert_secret_untouched();
    let listed = b.ok(&["exec", "box", "sh", "-c", "cat /dest/sec; ls -R /dest"]);
    assert!(
        listed.contains("pwned"),
        "the file replaced the link: {listed}"
    );
    b.ok(&["rm", "-f", "box"]);
}

#[test]
fn a_container_swapping_a_directory_for_a_link_never_gets_a_host_write() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let v = Victims::new("race");
    let scratch = tempfile::tempdir().unwrap();
    // A tree to copy, so that the swap can happen between its entries.
    let tree = scratch.path().join("tree");
    for i in 0..20 {
        let d = tree.join(format!("tmp/{}-d{i}", v.tag));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("f"), "pwned\n").unwrap();
    }
    let swap = "while :; do rm -rf /d; mkdir -p /d/tmp; rm -rf /d; ln -s / /d; done";
    b.ok(&["run", "-d", "--name", "box", "busybox", "sh", "-c", swap]);
    let file = scratch.path().join("f.txt");
    std::fs::write(&file, "pwned\n").unwrap();
    let target = v.never("race");
    let dest = format!("box:/d{}", target.display());
    let contents = format!("{}/.", tree.display());
    for _ in 0..30 {
        let _ = b.run(&["cp", file.to_str().unwrap(), &dest]);
        let _ = b.run(&["cp", &contents, "box:/d"]);
        assert!(
            !target.exists(),
            "cp wrote {} on the host",
            target.display()
        );
    }
    let escaped: Vec<_> = std::fs::read_dir("/tmp")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{}-d", v.tag))
        })
        .map(|e| e.path())
        .collect();
    assert!(
        escaped.is_empty(),
        "the tree landed on the host: {escaped:?}"
    );
    b.ok(&["rm", "-f", "box"]);
}

/// Reading from the container never follows its links to the host either: a
/// directory whose entries the container swaps while it is archived.
#[test]
fn copying_out_of_a_swapping_container_never_reads_the_host() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let v = Victims::new("readrace");
    let scratch = tempfile::tempdir().unwrap();
    let secret = v.secret.display().to_string();
    let swap = format!(
        "while :; do rm -rf /s; mkdir -p /s; echo mine > /s/f; rm -rf /s; ln -s {} /s; done",
        Path::new(&secret).parent().unwrap().display()
    );
    b.ok(&["run", "-d", "--name", "box", "busybox", "sh", "-c", &swap]);
    for i in 0..30 {
        let out_dir = scratch.path().join(format!("o{i}"));
        std::fs::create_dir(&out_dir).unwrap();
        let _ = b.run(&["cp", "box:/s/.", out_dir.to_str().unwrap()]);
        let _ = b.run(&["cp", "-L", "box:/s", out_dir.join("l").to_str().unwrap()]);
        let found = Command::new("grep")
            .args(["-rl", "host secret"])
            .arg(&out_dir)
            .output()
            .unwrap();
        assert!(
            found.stdout.is_empty(),
            "host data copied out: {}",
            String::from_utf8_lossy(&found.stdout)
        );
    }
    b.ok(&["rm", "-f", "box"]);
}
