//! `update` (also `container update`): new limits land in the running
//! container's cgroups, stay in its spec across a restart, apply at the next
//! start of a stopped one; the kernel's refusal (a memory limit below what the
//! container uses) is reported, and what update does not take is refused.

use berth_testkit::{busybox_berth, stderr, Berth};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

/// A cgroup file of container `name`: the v1 controller's, or the v2 one's.
fn cgroup_file(b: &Berth, name: &str, v1: (&str, &str), v2: &str) -> String {
    let id = b.ok(&["inspect", "-f", "{{.Id}}", name]);
    let v1_path = PathBuf::from(format!("/sys/fs/cgroup/{}/berth/{id}/{}", v1.0, v1.1));
    let path = match v1_path.exists() {
        true => v1_path,
        false => PathBuf::from(format!("/sys/fs/cgroup/berth/{id}/{v2}")),
    };
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

fn memory_limit(b: &Berth, name: &str) -> String {
    cgroup_file(b, name, ("memory", "memory.limit_in_bytes"), "memory.max")
}

fn cpuset(b: &Berth, name: &str) -> String {
    cgroup_file(b, name, ("cpuset", "cpuset.cpus"), "cpuset.cpus")
}

fn pids_max(b: &Berth, name: &str) -> String {
    cgroup_file(b, name, ("pids", "pids.max"), "pids.max")
}

#[test]
fn update_changes_the_live_cgroup_and_survives_a_restart() {
    let Some(b) = busybox_berth(BIN, &[]) else {
        return;
    };
    b.ok(&["run", "-d", "--name", "u", "busybox", "sleep", "1000"]);
    assert_eq!(b.ok(&["update", "--memory", "64m", "u"]), "u");
    assert_eq!(memory_limit(&b, "u"), "67108864");
    b.ok(&[
        "container",
        "update",
        "--cpuset-cpus",
        "0",
        "--pids-limit",
        "20",
        "u",
    ]);
    assert_eq!(cpuset(&b, "u"), "0");
    assert_eq!(pids_max(&b, "u"), "20");
    b.ok(&["update", "--cpus", "0.5", "--cpu-shares", "512", "u"]);
    assert_eq!(
        cgroup_file(&b, "u", ("cpu", "cpu.cfs_quota_us"), "cpu.max"),
        if PathBuf::from("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").exists() {
            "50000"
        } else {
            "50000 100000"
        }
    );
    b.ok(&["restart", "-t", "1", "u"]);
    assert_eq!(memory_limit(&b, "u"), "67108864", "kept across a restart");
    assert_eq!(cpuset(&b, "u"), "0");
    assert_eq!(pids_max(&b, "u"), "20");
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.CpusetCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.CpuShares}}", "u"]),
        "67108864 0 20 512"
    );
    b.ok(&["update", "--pids-limit", "-1", "u"]);
    assert_eq!(pids_max(&b, "u"), "max");
}

#[test]
fn update_of_a_stopped_container_applies_at_its_start() {
    let Some(b) = busybox_berth(BIN, &[]) else {
        return;
    };
    b.ok(&["create", "--name", "s", "busybox", "sleep", "1000"]);
    b.ok(&[
        "update",
        "--memory",
        "32m",
        "--memory-swap",
        "64m",
        "--pids-limit",
        "10",
        "s",
    ]);
    b.ok(&["start", "s"]);
    assert_eq!(memory_limit(&b, "s"), (32u64 << 20).to_string());
    assert_eq!(pids_max(&b, "s"), "10");
    if PathBuf::from("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
        let memsw = cgroup_file(
            &b,
            "s",
            ("memory", "memory.memsw.limit_in_bytes"),
            "memory.swap.max",
        );
        assert_eq!(memsw, (64u64 << 20).to_string());
    }
}

/// Lowering the memory limit below what the container holds in memory that
/// cannot be reclaimed (a tmpfs file, on a host without swap): the kernel
/// refuses, berth says so, and neither the cgroup nor the spec changes.
#[test]
fn a_memory_limit_below_usage_is_refused_with_the_kernels_error() {
    let Some(b) = busybox_berth(BIN, &[]) else {
        return;
    };
    let fill =
        "dd if=/dev/zero of=/dev/shm/fill bs=1M count=40 2>/dev/null; touch /tmp/full; sleep 1000";
    b.ok(&[
        "run", "-d", "--name", "full", "--memory", "200m", "busybox", "sh", "-c", fill,
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !b
        .run(&["exec", "full", "test", "-e", "/tmp/full"])
        .status
        .success()
    {
        assert!(
            Instant::now() < deadline,
            "the container did not fill its memory"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let swap = std::fs::read_to_string("/proc/swaps").unwrap_or_default();
    if swap.lines().count() > 1 {
        eprintln!(
            "skipping the refusal check: this host has swap, the kernel may swap the tmpfs out"
        );
        return;
    }
    let out = b.run(&["update", "--memory", "10m", "full"]);
    assert!(!out.status.success(), "lowering below usage must fail");
    let err = stderr(&out);
    assert!(
        err.contains("Device or resource busy"),
        "the kernel's EBUSY: {err}"
    );
    assert_eq!(memory_limit(&b, "full"), (200u64 << 20).to_string());
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.HostConfig.Memory}}", "full"]),
        (200u64 << 20).to_string()
    );
}

#[test]
fn what_update_does_not_take_is_refused() {
    let Some(b) = busybox_berth(BIN, &[]) else {
        return;
    };
    b.ok(&["run", "-d", "--name", "r", "busybox", "sleep", "1000"]);
    let kernel = b.run(&["update", "--kernel-memory", "10m", "r"]);
    assert_eq!(kernel.status.code(), Some(125));
    assert!(
        stderr(&kernel).contains("--kernel-memory"),
        "{}",
        stderr(&kernel)
    );
    let nothing = b.run(&["update", "r"]);
    assert!(
        stderr(&nothing).contains("nothing to update"),
        "{}",
        stderr(&nothing)
    );
    let swap = b.run(&["update", "--memory-swap", "100m", "r"]);
    assert!(
        stderr(&swap).contains("needs --memory"),
        "{}",
        stderr(&swap)
    );
    let cpus = b.run(&["update", "--cpuset-cpus", "0-1024", "r"]);
    assert!(!cpus.status.success(), "no host has CPU 1024 here");
    assert!(
        stderr(&cpus).contains("is not available on this host"),
        "{}",
        stderr(&cpus)
    );
    // The weight is applied where the container's cgroup has a weight file
    // (BFQ's on this kernel), and refused with a clear error where not.
    let id = b.ok(&["inspect", "-f", "{{.Id}}", "r"]);
    let dir = PathBuf::from(format!("/sys/fs/cgroup/blkio/berth/{id}"));
    let file = ["blkio.weight", "blkio.bfq.weight"]
        .map(|f| dir.join(f))
        .into_iter()
        .find(|f| f.exists());
    let out = b.run(&["update", "--blkio-weight", "300", "r"]);
    match file {
        Some(f) => {
            assert!(out.status.success(), "{}", stderr(&out));
            let v = std::fs::read_to_string(&f).unwrap();
            assert!(v.trim().ends_with("300"), "{}: {v}", f.display());
            assert_eq!(
                b.ok(&["inspect", "-f", "{{.HostConfig.BlkioWeight}}", "r"]),
                "300"
            );
        }
        None if dir.exists() => {
            assert!(
                stderr(&out).contains("no block I/O weight"),
                "{}",
                stderr(&out)
            );
        }
        None => {}
    }
    let bad = b.run(&["update", "--blkio-weight", "5", "r"]);
    assert!(stderr(&bad).contains("10 to 1000"), "{}", stderr(&bad));
}
