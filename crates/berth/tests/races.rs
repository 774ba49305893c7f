//! Issue 13.2: two commands on one container at once. However they interleave, one
//! wins, the other does what docker does when it comes second, and the container
//! is left whole: running and answering on its published port, or stopped with
//! nothing of it left on the host.

use berth_testkit::{http_get, stderr, stdout, Berth};
use std::process::Output;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

/// Iterations of each race (more with `BERTH_RACE_ROUNDS`).
fn rounds() -> usize {
    std::env::var("BERTH_RACE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar", "ip", "nft"])
}

/// A host port unlikely to clash with other tests running at the same time.
fn port(k: u16) -> u16 {
    41000 + (std::process::id() % 2000) as u16 * 10 + k
}

/// An httpd whose document root names this round, so its processes can be told
/// from every other container's on the host.
fn httpd(marker: &str) -> String {
    format!("mkdir -p /{marker} && echo hello-from-berth > /{marker}/index.html && exec httpd -f -p 80 -h /{marker}")
}

/// Host processes whose command line holds `marker` (the container's httpd).
fn processes_with(marker: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let zombie = stat
            .rsplit_once(") ")
            .is_some_and(|(_, r)| r.starts_with('Z'));
        if !zombie && String::from_utf8_lossy(&cmd).contains(marker) {
            out.push(pid);
        }
    }
    out
}

/// Runs both commands at once (each from its own thread, started together).
fn race(b: &Berth, one: &[&str], two: &[&str]) -> (Output, Output) {
    let barrier = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        let a = s.spawn(|| {
            barrier.wait();
            b.run(one)
        });
        let c = s.spawn(|| {
            barrier.wait();
            b.run(two)
        });
        (a.join().unwrap(), c.join().unwrap())
    })
}

fn describe(o: &Output) -> String {
    format!(
        "exit {:?}, stdout {:?}, stderr {:?}",
        o.status.code(),
        stdout(o).trim(),
        stderr(o).trim()
    )
}

fn status(b: &Berth, name: &str) -> String {
    b.ok(&["inspect", "-f", "{{.State.Status}}", name])
}

/// The page answers within `limit` (polled; only "eventually" is asserted).
fn answers_within(addr: &str, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    let mut last = String::new();
    while Instant::now() < deadline {
        match http_get(addr, Duration::from_secs(1)) {
            Ok(body) if body.contains("hello-from-berth") => return Ok(()),
            Ok(body) => last = format!("unexpected answer {body:?}"),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(last)
}

/// A running container is whole: `running`, its init alive, exactly one of its
/// httpd on the host, and its published port answers.
fn assert_running_whole(b: &Berth, name: &str, marker: &str, addr: &str, what: &str) {
    assert_eq!(status(b, name), "running", "{what}");
    let pid: i32 = b
        .ok(&["inspect", "-f", "{{.State.Pid}}", name])
        .parse()
        .unwrap();
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "{what}: its init {pid} is gone"
    );
    if let Err(e) = answers_within(addr, Duration::from_secs(10)) {
        panic!("{what}: nothing answers on {addr}: {e}");
    }
    // Once it answers, its script has exec'd httpd: one, whatever raced (polled
    // a moment: the child that served the page may still be exiting).
    let httpds = || -> Vec<String> {
        processes_with(marker)
            .iter()
            .map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default())
            .filter(|stat| stat.contains(" (httpd) "))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while httpds().len() != 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let found = httpds();
    assert_eq!(
        found.len(),
        1,
        "{what}: httpd processes {found:?} (init {pid})"
    );
}

/// A stopped container left nothing running on the host.
fn assert_nothing_runs(marker: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_with(marker).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = processes_with(marker);
    assert!(left.is_empty(), "{what}: processes left: {left:?}");
}

/// `start r & start r`: both say `r` and exit 0, as docker does for a start of a
/// running container, and the container keeps running with one init.
#[test]
fn two_starts_of_one_container_leave_it_running() {
    let Some(b) = env() else { return };
    let p = port(1);
    let addr = format!("127.0.0.1:{p}");
    for i in 0..rounds() {
        let marker = format!("www-ds{}-{i}", std::process::id());
        let publish = format!("{p}:80");
        b.ok(&[
            "create",
            "--name",
            "r",
            "-p",
            &publish,
            "busybox",
            "sh",
            "-c",
            &httpd(&marker),
        ]);
        let (one, two) = race(&b, &["start", "r"], &["start", "r"]);
        for o in [&one, &two] {
            assert!(
                o.status.success(),
                "round {i}: a start failed: {}",
                describe(o)
            );
            assert_eq!(stdout(o).trim(), "r", "round {i}: {}", describe(o));
        }
        assert_running_whole(&b, "r", &marker, &addr, &format!("round {i}"));
        b.ok(&["rm", "-f", "r"]);
        assert_nothing_runs(&marker, &format!("round {i} after rm -f"));
    }
    b.assert_no_leftovers();
}

/// `start r & rm -f r`: the removal wins or comes second; either way the container
/// is gone and nothing of it is left on the host (its init, cgroups, mounts).
#[test]
fn start_racing_rm_f_leaves_nothing() {
    let Some(b) = env() else { return };
    let p = port(2);
    for i in 0..rounds() {
        let marker = format!("www-sr{}-{i}", std::process::id());
        let publish = format!("{p}:80");
        b.ok(&[
            "create",
            "--name",
            "r",
            "-p",
            &publish,
            "busybox",
            "sh",
            "-c",
            &httpd(&marker),
        ]);
        let (start, rm) = race(&b, &["start", "r"], &["rm", "-f", "r"]);
        assert!(
            rm.status.success(),
            "round {i}: rm -f failed: {}",
            describe(&rm)
        );
        if !start.status.success() {
            assert!(
                stderr(&start).contains("No such container"),
                "round {i}: a start that lost should say the container is gone: {}",
                describe(&start)
            );
        }
        let all = b.ok(&["ps", "-a", "-q"]);
        assert!(all.is_empty(), "round {i}: left in ps -a: {all}");
        assert_nothing_runs(&marker, &format!("round {i}"));
        b.assert_no_leftovers();
    }
}

/// `stop r & start r` on a running container: both exit 0; the container ends
/// running and whole, or stopped with nothing running, and starts again.
#[test]
fn stop_racing_start_leaves_a_container_that_works() {
    let Some(b) = env() else { return };
    let p = port(3);
    let addr = format!("127.0.0.1:{p}");
    for i in 0..rounds() {
        let marker = format!("www-ss{}-{i}", std::process::id());
        let publish = format!("{p}:80");
        b.ok(&[
            "run",
            "-d",
            "--name",
            "r",
            "-p",
            &publish,
            "busybox",
            "sh",
            "-c",
            &httpd(&marker),
        ]);
        let (stop, start) = race(&b, &["stop", "-t", "1", "r"], &["start", "r"]);
        for o in [&stop, &start] {
            assert!(o.status.success(), "round {i}: {}", describe(o));
        }
        let what = format!("round {i}");
        match status(&b, "r").as_str() {
            "running" => assert_running_whole(&b, "r", &marker, &addr, &what),
            "exited" => assert_nothing_runs(&marker, &what),
            other => panic!("{what}: the container is {other}"),
        }
        b.ok(&["start", "r"]);
        assert_running_whole(&b, "r", &marker, &addr, &format!("{what}, started again"));
        b.ok(&["rm", "-f", "r"]);
    }
    b.assert_no_leftovers();
}

/// `restart r & kill r` and `restart r & restart r`: whatever the order, a last
/// `start` gives a running, whole container.
#[test]
fn restarts_racing_kill_and_each_other_leave_a_container_that_works() {
    let Some(b) = env() else { return };
    let p = port(4);
    let addr = format!("127.0.0.1:{p}");
    for i in 0..rounds() {
        let marker = format!("www-rk{}-{i}", std::process::id());
        let publish = format!("{p}:80");
        b.ok(&[
            "run",
            "-d",
            "--name",
            "r",
            "-p",
            &publish,
            "busybox",
            "sh",
            "-c",
            &httpd(&marker),
        ]);
        let (restart, kill) = race(&b, &["restart", "-t", "1", "r"], &["kill", "r"]);
        assert!(
            restart.status.success(),
            "round {i}: {}",
            describe(&restart)
        );
        let killed = kill.status.success() || stderr(&kill).contains("is not running");
        assert!(killed, "round {i}: kill: {}", describe(&kill));
        let (one, two) = race(
            &b,
            &["restart", "-t", "1", "r"],
            &["restart", "-t", "1", "r"],
        );
        for o in [&one, &two] {
            assert!(o.status.success(), "round {i}: {}", describe(o));
        }
        assert_running_whole(&b, "r", &marker, &addr, &format!("round {i}, two restarts"));
        b.ok(&["rm", "-f", "r"]);
    }
    b.assert_no_leftovers();
}

/// `network connect side r & stop r`: the connection is recorded or refused
/// whole, nothing of the network is left behind by the stopped container, and
/// the next start joins what the spec says.
#[test]
fn network_connect_racing_stop_leaves_a_container_that_works() {
    let Some(b) = env() else { return };
    let p = port(5);
    let addr = format!("127.0.0.1:{p}");
    b.ok(&["network", "create", "side"]);
    for i in 0..rounds() {
        let marker = format!("www-nc{}-{i}", std::process::id());
        let publish = format!("{p}:80");
        b.ok(&[
            "run",
            "-d",
            "--name",
            "r",
            "-p",
            &publish,
            "busybox",
            "sh",
            "-c",
            &httpd(&marker),
        ]);
        let (connect, stop) = race(
            &b,
            &["network", "connect", "side", "r"],
            &["stop", "-t", "1", "r"],
        );
        assert!(stop.status.success(), "round {i}: {}", describe(&stop));
        assert!(
            connect.status.success(),
            "round {i}: {}",
            describe(&connect)
        );
        assert_eq!(status(&b, "r"), "exited", "round {i}");
        assert_nothing_runs(&marker, &format!("round {i}"));
        let state = b.ok(&["inspect", "-f", "{{json .NetworkSettings.Networks}}", "r"]);
        assert!(
            !state.contains("\"IPAddress\":\"1"),
            "round {i}: a stopped container still holds an address: {state}"
        );
        b.ok(&["start", "r"]);
        assert_running_whole(
            &b,
            "r",
            &marker,
            &addr,
            &format!("round {i}, started again"),
        );
        let networks = b.ok(&["inspect", "-f", "{{json .NetworkSettings.Networks}}", "r"]);
        assert!(networks.contains("\"side\""), "round {i}: {networks}");
        b.ok(&["rm", "-f", "r"]);
    }
    b.ok(&["network", "rm", "side"]);
    b.assert_no_leftovers();
}

/// The container's init, as recorded (0 when none).
fn init_pid(b: &Berth, name: &str) -> i32 {
    b.ok(&["inspect", "-f", "{{.State.Pid}}", name])
        .parse()
        .unwrap_or(0)
}

/// Found by the torture test: a start's monitor waits for its attach client
/// (`run` and `start -a` connect right after it created the container). A client
/// killed before it connected must not leave the container created, its start in
/// progress, for good: the monitor runs it detached. (The monitor is started here
/// as `start -a` starts it, and no client ever comes.)
#[test]
fn a_start_whose_attach_client_never_comes_runs_detached() {
    let Some(b) = env() else { return };
    let p = port(6);
    let marker = format!("www-ac{}", std::process::id());
    let publish = format!("{p}:80");
    let id = b.ok(&[
        "create",
        "--name",
        "r",
        "-p",
        &publish,
        "busybox",
        "sh",
        "-c",
        &httpd(&marker),
    ]);
    let mut monitor = b
        .command(&["monitor", &id, "--attach"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while status(&b, "r") != "running" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let addr = format!("127.0.0.1:{p}");
    let what = "without its attach client";
    assert_running_whole(&b, "r", &marker, &addr, what);
    b.ok(&["rm", "-f", "r"]);
    let _ = monitor.wait();
    b.assert_no_leftovers();
}

/// Found by the torture test: a monitor killed while its container, created,
/// waits to be started. The container's init (forked by the monitor, not exec'd
/// yet) must not keep the container locked: `rm -f` finishes and leaves nothing.
///
/// The monitor is spawned as `start` spawns it, with the container's lock handed
/// on (berth-engine's `lock` module), and the `start` then killed: our copy of
/// the lock is closed at once.
#[test]
fn a_monitor_killed_before_the_start_leaves_nothing_after_rm_f() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let Some(b) = env() else { return };
    let id = b.ok(&["create", "--name", "r", "busybox", "sleep", "1000"]);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(b.root.join("containers").join(&id).join("lock"))
        .unwrap();
    lock.lock().unwrap();
    let fd = lock.as_raw_fd();
    let mut cmd = b.command(&["monitor", &id, "--attach"]);
    cmd.env("BERTH_LOCK_FD", fd.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: only fcntl(2) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
            Ok(())
        });
    }
    let mut monitor = cmd.spawn().unwrap();
    drop(lock);
    let deadline = Instant::now() + Duration::from_secs(30);
    while init_pid(&b, "r") <= 0 {
        assert!(Instant::now() < deadline, "the container was never created");
        std::thread::sleep(Duration::from_millis(20));
    }
    let init = init_pid(&b, "r");
    assert_eq!(status(&b, "r"), "created", "it waits for its attach client");
    monitor.kill().unwrap();
    monitor.wait().unwrap();
    let rm = b.run_bounded(&["rm", "-f", "r"], b"", Duration::from_secs(60));
    let rm = rm.expect("rm -f hung: the container stayed locked");
    assert!(rm.status.success(), "rm -f: {}", describe(&rm));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{init}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stat = std::fs::read_to_string(format!("/proc/{init}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z"),
        "its init {init} is left: {stat}"
    );
    b.assert_no_leftovers();
}

/// Found by the torture test: `exec` racing `rm -f`. The runtime makes the
/// cgroup an exec joins again when the container's monitor has just removed it;
/// nothing of the container may be left once both are done.
#[test]
fn execs_racing_rm_f_leave_no_cgroups() {
    let Some(b) = env() else { return };
    for i in 0..rounds() * 3 {
        let id = b.ok(&["run", "-d", "--name", "r", "busybox", "sleep", "1000"]);
        let barrier = std::sync::Barrier::new(5);
        let (b, barrier) = (&b, &barrier);
        let outputs: Vec<Output> = std::thread::scope(|s| {
            let mut all: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(move || {
                        barrier.wait();
                        b.run(&["exec", "r", "true"])
                    })
                })
                .collect();
            all.push(s.spawn(move || {
                barrier.wait();
                std::thread::sleep(Duration::from_millis(10 * i as u64 % 50));
                b.run(&["rm", "-f", "r"])
            }));
            all.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let rm = outputs.last().unwrap();
        assert!(rm.status.success(), "round {i}: rm -f: {}", describe(rm));
        let left: Vec<_> = berth_testkit::container_cgroups()
            .into_iter()
            .filter(|c| c.file_name().is_some_and(|n| *n == *id))
            .collect();
        let execs: Vec<String> = outputs.iter().map(describe).collect();
        assert!(
            left.is_empty(),
            "round {i}: cgroups left: {left:?}\n{execs:#?}"
        );
    }
    b.assert_no_leftovers();
}

/// `rm -f` of a running `--rm` container races its own monitor, which removes the
/// container once it is dead: whichever removes it, `rm -f` succeeds, as docker's.
#[test]
fn rm_f_of_a_running_rm_container_never_says_no_such_container() {
    let Some(b) = env() else { return };
    for round in 0..rounds() * 7 {
        let name = format!("auto{round}");
        b.ok(&[
            "run",
            "-d",
            "--rm",
            "--network",
            "none",
            "--name",
            &name,
            "busybox",
            "sleep",
            "60",
        ]);
        let out = b.run(&["rm", "-f", &name]);
        assert!(out.status.success(), "round {round}: {}", describe(&out));
        assert_eq!(stdout(&out).trim(), name, "round {round}");
    }
}
