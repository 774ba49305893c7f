//! Commands that race on one object: `commit` of a container while `rm -f`
//! removes it. Whoever wins, the result must be whole: a commit that succeeds
//! holds every file the container had, one that fails says so, and nothing is
//! left behind.

use berth_testkit::{busybox_berth, stderr};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

#[test]
fn commit_racing_rm_f_is_whole_or_refused() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    for round in 0..2 {
        let name = format!("c{round}");
        let image = format!("raced:{round}");
        b.ok(&["run", "-d", "--name", &name, "busybox", "sleep", "1000"]);
        b.ok(&[
            "exec",
            &name,
            "sh",
            "-c",
            "mkdir /data && cd /data && i=0; while [ $i -lt 2000 ]; do echo $i > f$i; i=$((i+1)); done",
        ]);
        let (commit, rm) = std::thread::scope(|s| {
            let c = s.spawn(|| b.command(&["commit", &name, &image]).output().unwrap());
            let r = s.spawn(|| b.command(&["rm", "-f", &name]).output().unwrap());
            (c.join().unwrap(), r.join().unwrap())
        });
        assert!(rm.status.success(), "rm -f: {}", stderr(&rm));
        // Which side won (seen with --nocapture).
        eprintln!(
            "round {round}: commit {:?} {}",
            commit.status.code(),
            stderr(&commit).trim()
        );
        if commit.status.success() {
            let n = b.ok(&["run", "--rm", &image, "sh", "-c", "ls /data | wc -l"]);
            assert_eq!(
                n.trim(),
                "2000",
                "round {round}: a commit that succeeded lost files"
            );
        } else {
            let err = stderr(&commit);
            assert_eq!(commit.status.code(), Some(125), "round {round}: {err}");
            assert!(
                b.run(&["image", "inspect", &image]).status.code() != Some(0),
                "round {round}: a failed commit left an image: {err}"
            );
        }
    }
    b.assert_no_leftovers();
}
