//! `kill -9` of import, load, pull and build at seeded moments (after some bytes
//! of input, or after a delay): the next command — any one, here `images` —
//! sweeps what the dead process left, the store stays consistent (every image
//! listed runs), and the command then succeeds when run again. A pull's partial
//! blob stays for the resume, never under a blob's name.
//!
//! The moments come from a seeded generator: `BERTH_CRASH_SEED` picks another
//! sequence, `BERTH_CRASH_ROUNDS` runs more rounds (3 by default).

use berth_testkit::registry::{CountingProxy, Registry};
use berth_testkit::{busybox_berth, require_root_and, stderr, Berth, KillOnDrop, Scratch};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

/// xorshift64*: enough to spread kill moments, reproducible from the seed.
struct Moments(u64);

impl Moments {
    fn new() -> Self {
        let seed = std::env::var("BERTH_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5eed_1234_abcd_u64);
        eprintln!("crash moments from seed {seed} (BERTH_CRASH_SEED)");
        Moments(seed | 1)
    }
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % below.max(1)
    }
}

fn rounds() -> usize {
    std::env::var("BERTH_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

/// Temporaries anywhere a writer makes them (partial downloads excepted).
fn temporaries(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let dirs = [
        ("blobs/sha256", ".tmp-"),
        ("layers", ".tmp-"),
        ("tmp", ""),
        ("build/mnt", ""),
        ("build/tmp", ""),
    ];
    for (dir, prefix) in dirs {
        for e in std::fs::read_dir(root.join(dir))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(prefix) && name != "partial" {
                out.push(format!("{dir}/{name}"));
            }
        }
    }
    out
}

/// After a kill: `images` succeeds and has swept every temporary, and every
/// image it lists runs.
fn next_command_cleans_up(b: &Berth, what: &str) {
    let ids = b.ok(&["images", "-q", "--no-trunc"]);
    let left = temporaries(&b.root);
    assert!(left.is_empty(), "after a killed {what}: {left:?}");
    for id in ids.lines() {
        b.ok(&["run", "--rm", id, "true"]);
    }
}

/// Starts `args` with `input` fed to stdin: `cut` bytes of it, then a pause of
/// `delay`, then SIGKILL (it may have finished by then).
fn kill_after_bytes(b: &Berth, args: &[&str], input: &[u8], cut: usize, delay: Duration) {
    let mut child = KillOnDrop(
        b.command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut stdin = child.0.stdin.take().unwrap();
    let _ = stdin.write_all(&input[..cut]);
    std::thread::sleep(delay);
    drop(child); // SIGKILL, then reaped
    drop(stdin);
}

#[test]
fn killed_imports_and_loads_leave_nothing_the_next_command_does_not_sweep() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let tar = std::fs::read(berth_testkit::busybox_tar()).unwrap();
    let archive = b.root.parent().unwrap().join("bb-archive.tar");
    b.ok(&["tag", "busybox", "saved:1"]);
    b.ok(&["save", "-o", archive.to_str().unwrap(), "saved:1"]);
    b.ok(&["rmi", "saved:1"]);
    let saved = std::fs::read(&archive).unwrap();
    let mut m = Moments::new();
    for round in 0..rounds() {
        let cut = m.next(tar.len() as u64) as usize;
        let delay = Duration::from_millis(m.next(300));
        eprintln!("round {round}: import killed after {cut} bytes + {delay:?}");
        kill_after_bytes(&b, &["import", "-", "imp"], &tar, cut, delay);
        next_command_cleans_up(&b, "import");

        let cut = m.next(saved.len() as u64) as usize;
        let delay = Duration::from_millis(m.next(300));
        eprintln!("round {round}: load killed after {cut} bytes + {delay:?}");
        kill_after_bytes(&b, &["load"], &saved, cut, delay);
        next_command_cleans_up(&b, "load");
    }
    b.ok(&[
        "import",
        berth_testkit::busybox_tar().to_str().unwrap(),
        "imp",
    ]);
    b.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(b.ok(&["run", "--rm", "saved:1", "echo", "ok"]), "ok");
    assert!(temporaries(&b.root).is_empty());
    b.assert_no_leftovers();
}

#[test]
fn killed_pulls_resume_and_leave_no_temporaries() {
    if !require_root_and(&["tar", "docker-registry", "head"]) {
        return;
    }
    let reg = Registry::start();
    let src = Berth::new(BIN);
    // A layer that does not compress, so the pull takes a while through the proxy.
    let rootfs = src.root.parent().unwrap().join("big-rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "tar -C {0} -xf {1} && head -c 12582912 /dev/urandom > {0}/blob && tar -C {0} -cf {0}.tar .",
            rootfs.display(),
            berth_testkit::busybox_tar().display()
        ))
        .status()
        .unwrap();
    assert!(st.success());
    src.ok(&["import", &format!("{}.tar", rootfs.display()), "big:1"]);
    src.ok(&["push", "-q", "big:1", &format!("{}/crash/big:1", reg.host)]);
    let proxy = CountingProxy::start(&reg.host, Duration::from_millis(2));
    let image = format!("{}/crash/big:1", proxy.host);

    let b = Berth::new(BIN);
    let mut m = Moments::new();
    for round in 0..rounds() {
        let after = 1 + m.next(10 << 20);
        eprintln!("round {round}: pull killed after {after} bytes");
        proxy.reset();
        let mut child = KillOnDrop(
            b.command(&["pull", "-q", &image])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(120);
        while proxy.count() < after && child.0.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the pull never got going");
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(child);
        next_command_cleans_up(&b, "pull");
    }
    let out = b.run(&["pull", "-q", &image]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        b.ok(&["run", "--rm", &image, "sh", "-c", "wc -c < /blob"]),
        "12582912"
    );
    assert!(temporaries(&b.root).is_empty());
    let partial: Vec<_> = std::fs::read_dir(b.root.join("tmp/partial"))
        .into_iter()
        .flatten()
        .collect();
    assert!(
        partial.is_empty(),
        "the finished pull's partial blob is gone"
    );
    b.assert_no_leftovers();
}

#[test]
fn killed_builds_leave_no_mount_or_temporary_behind() {
    let Some(b) = busybox_berth(BIN, &["tar", "head"]) else {
        return;
    };
    let ctx = Scratch::new("crash-build");
    ctx.write(
        "Dockerfile",
        "FROM busybox\nCOPY big /big\nRUN wc -c /big > /size\nCOPY small /small\n",
    )
    .write("small", "small\n");
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c 33554432 /dev/urandom > {}/big",
            ctx.as_str()
        ))
        .status()
        .unwrap();
    assert!(st.success());
    let mut m = Moments::new();
    for round in 0..rounds() {
        let delay = Duration::from_millis(50 + m.next(3000));
        eprintln!("round {round}: build killed after {delay:?}");
        let child = KillOnDrop(
            b.command(&["build", "--no-cache", "-q", "-t", "crash", ctx.as_str()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        std::thread::sleep(delay);
        drop(child);
        b.wait_monitors_gone();
        next_command_cleans_up(&b, "build");
    }
    b.ok(&["build", "-q", "-t", "crash", ctx.as_str()]);
    assert_eq!(
        b.ok(&["run", "--rm", "crash", "cat", "/size", "/small"]),
        "33554432 /big\nsmall"
    );
    assert!(temporaries(&b.root).is_empty());
    b.assert_no_leftovers();
}
