//! `stats` and `top` on real containers: docker's columns, a memory figure that
//! follows what the container allocates, its limit, and the container's own
//! processes through the host's `ps`.

use berth_testkit::{busybox_berth, stderr};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

/// "316KiB" → bytes.
fn parse_size(s: &str) -> f64 {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let scale = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => panic!("unit {other:?} in {s:?}"),
    };
    n.parse::<f64>().unwrap() * scale
}

#[test]
fn stats_shows_memory_that_follows_the_container() {
    let Some(b) = busybox_berth(BIN, &["ps"]) else {
        return;
    };
    b.ok(&[
        "run", "-d", "--name", "box", "-m", "256m", "busybox", "sleep", "1000",
    ]);
    let usage = |b: &berth_testkit::Berth| {
        let line = b.ok(&["stats", "--no-stream", "--format", "{{.MemUsage}}", "box"]);
        let (used, limit) = line.split_once(" / ").expect("usage / limit");
        (parse_size(used), limit.to_string())
    };
    let (before, limit) = usage(&b);
    assert_eq!(limit, "256MiB");
    // 40 MiB in the container's /dev/shm (a tmpfs: charged to its memory cgroup).
    b.ok(&[
        "exec",
        "box",
        "dd",
        "if=/dev/zero",
        "of=/dev/shm/fill",
        "bs=1M",
        "count=40",
    ]);
    let (after, _) = usage(&b);
    assert!(
        after - before >= 30.0 * 1024.0 * 1024.0,
        "memory went from {before} to {after} bytes"
    );

    // docker's table, also as `container stats`.
    let table = b.ok(&["container", "stats", "--no-stream", "box"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .split("   ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS"
        ]
    );
    let row = lines.next().unwrap();
    assert!(
        row.starts_with(&b.ok(&["inspect", "-f", "{{.Id}}", "box"])[..12]),
        "{row}"
    );
    assert!(row.trim_end().ends_with(" 1"), "one process: {row}");
    assert!(lines.next().is_none());

    // A stopped container shows with -a only, at zero.
    b.ok(&["run", "--name", "done", "busybox", "true"]);
    let running = b.ok(&["stats", "--no-stream", "--format", "{{.Name}}"]);
    assert_eq!(running, "box");
    let all = b.ok(&[
        "stats",
        "-a",
        "--no-stream",
        "--no-trunc",
        "--format",
        "{{.Name}} {{.MemUsage}} {{.ID}}",
    ]);
    let done = all.lines().find(|l| l.starts_with("done ")).expect(&all);
    assert!(done.starts_with("done 0B / 0B "), "{done}");
    assert_eq!(
        done.rsplit(' ').next().unwrap().len(),
        64,
        "--no-trunc: {done}"
    );
    let json = b.ok(&["stats", "--no-stream", "--format", "json", "box"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["Name"], "box");
    assert!(v["CPUPerc"].as_str().unwrap().ends_with('%'));
    let out = b.run(&["stats", "--no-stream", "nosuch"]);
    assert!(!out.status.success());
    b.ok(&["rm", "-f", "box", "done"]);
}

#[test]
fn top_lists_the_containers_processes_only() {
    let Some(b) = busybox_berth(BIN, &["ps"]) else {
        return;
    };
    b.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    let pid = b.ok(&["inspect", "-f", "{{.State.Pid}}", "box"]);
    let top = b.ok(&["top", "box"]);
    let mut lines = top.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("UID") && header.contains("PID") && header.ends_with("CMD"),
        "{header}"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1, "only the container's sleep: {top}");
    assert!(
        rows[0].contains(&pid) && rows[0].ends_with("sleep 1000"),
        "{top}"
    );

    // An exec'd process is the container's too; ps options pass through.
    let mut child = b.command(&["exec", "box", "sleep", "999"]).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let listed = loop {
        let t = b.ok(&["container", "top", "box", "-o", "pid,args"]);
        if t.contains("sleep 999") || std::time::Instant::now() > deadline {
            break t;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(
        listed.contains("sleep 999"),
        "the exec'd sleep is not in top: {listed}"
    );
    assert!(listed.starts_with("PID"), "{listed}");
    assert_eq!(listed.lines().count(), 3, "{listed}");
    // SAFETY: kill(2) on our own child, not reaped yet.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();

    let out = b.run(&["top", "box", "-o", "comm"]);
    assert!(stderr(&out).contains("PID field"), "{}", stderr(&out));
    b.ok(&["stop", "-t", "0", "box"]);
    let out = b.run(&["top", "box"]);
    assert!(stderr(&out).contains("not running"), "{}", stderr(&out));
    b.ok(&["rm", "-f", "box"]);
}
