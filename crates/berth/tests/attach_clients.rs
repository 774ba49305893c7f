//! Issue 13.3: attach clients that do not keep up must not hold up the container.
//! A client that never reads, one that vanishes while output flows, and a tty fed
//! input it never reads: the container keeps running and logging, `stop` and
//! `rm -f` complete (the testkit's bounded runs catch a hang), and nothing is left.

use berth_testkit::{monitor_processes, Berth};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

/// Far beyond what `stop -t 1` and `rm -f` need; a run that takes longer hangs.
const BOUND: Duration = Duration::from_secs(20);

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar"])
}

/// A steady printer: about 500 kB/s, enough to fill any socket and pipe in between
/// within a second or two without filling the disk.
const PRINTER: &str = "while :; do printf '%01000d\\n' 0; usleep 2000; done";

fn full_id(b: &Berth, name: &str) -> String {
    b.ok(&["inspect", "-f", "{{.Id}}", name])
}

fn log_len(b: &Berth, id: &str) -> u64 {
    let path = b.root.join("containers").join(id).join("container.log");
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Whether the container's log grows past its current length within `limit`
/// (only "eventually" is asserted).
fn log_grows(b: &Berth, id: &str, limit: Duration) -> bool {
    let start = log_len(b, id);
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if log_len(b, id) > start {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn attach_socket(b: &Berth, id: &str) -> PathBuf {
    b.runroot.join("c").join(&id[..12]).join("attach.sock")
}

fn state(b: &Berth, name: &str) -> String {
    b.ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.Running}}",
        name,
    ])
}

/// `berth attach NAME` whose stdout is a pipe nobody reads (`attach | sleep 1000`):
/// the read end is returned and kept open, never read.
fn stalled_attach(b: &Berth, name: &str) -> Child {
    b.command(&["attach", name])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start berth attach")
}

/// Waits (bounded) for `child` to end; kills it by PID if it does not.
fn ends_within(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().expect("wait for attach").is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

fn bounded_ok(b: &Berth, args: &[&str]) {
    let out = b
        .run_bounded(args, b"", BOUND)
        .unwrap_or_else(|| panic!("berth {args:?} hung (killed after {BOUND:?})"));
    assert!(
        out.status.success(),
        "berth {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `berth attach w | sleep 1000` and a raw client that never reads: the container's
/// log keeps growing, `stop -t 1` completes, and after `rm -f` no monitor is left
/// and the attach process ends (here once its reader is gone, as any writer into a
/// pipe would).
#[test]
fn a_stalled_reader_does_not_freeze_the_container() {
    let Some(b) = env() else { return };
    b.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "w",
        "busybox",
        "sh",
        "-c",
        PRINTER,
    ]);
    let id = full_id(&b, "w");
    let mut attach = stalled_attach(&b, "w");
    let raw = UnixStream::connect(attach_socket(&b, &id)).expect("connect to attach socket");
    // Long enough for every buffer between the container and both clients to fill.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        log_grows(&b, &id, Duration::from_secs(10)),
        "the container's log stopped growing behind a client that does not read"
    );
    assert_eq!(state(&b, "w"), "running true");
    bounded_ok(&b, &["stop", "-t", "1", "w"]);
    assert!(state(&b, "w").starts_with("exited"));
    drop(raw);
    drop(attach.stdout.take());
    assert!(
        ends_within(&mut attach, BOUND),
        "the attach process outlived its container and its reader"
    );

    // Again with `rm -f` on the running container.
    bounded_ok(&b, &["start", "w"]);
    let mut attach = stalled_attach(&b, "w");
    let raw = UnixStream::connect(attach_socket(&b, &id)).expect("connect to attach socket");
    std::thread::sleep(Duration::from_secs(3));
    assert!(log_grows(&b, &id, Duration::from_secs(10)));
    bounded_ok(&b, &["rm", "-f", "w"]);
    b.wait_monitors_gone();
    assert_eq!(monitors(&b), Vec::<i32>::new());
    drop(raw);
    drop(attach.stdout.take());
    assert!(
        ends_within(&mut attach, BOUND),
        "the attach process outlived its container and its reader"
    );
}

/// A client that keeps the monitor busy: it reads and discards output and sends
/// harmless frames (resizes; the container has no terminal) without pause, until
/// `stop` is set.
fn busy_client(sock: &PathBuf, stop: &Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<()>> {
    let mut w = UnixStream::connect(sock).expect("connect to attach socket");
    let mut r = w.try_clone().unwrap();
    r.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    w.set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let (s1, s2) = (stop.clone(), stop.clone());
    let resizes = [2u8, 0, 0, 0, 4, 0, 24, 0, 80].repeat(1000);
    vec![
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while !s1.load(Ordering::Relaxed) {
                if let Ok(0) = r.read(&mut buf) {
                    break;
                }
            }
        }),
        std::thread::spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                let _ = w.write_all(&resizes);
            }
        }),
    ]
}

/// Clients that connect, read a little and close abruptly, many times while output
/// flows and other clients keep the monitor busy (so that a hang-up and output land
/// in one wake-up): the monitor keeps serving, the container keeps running and
/// logging, and the attach CLI whose reader went away ends.
#[test]
fn vanishing_clients_leave_the_container_running() {
    let Some(b) = env() else { return };
    b.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "v",
        "busybox",
        "sh",
        "-c",
        PRINTER,
    ]);
    let id = full_id(&b, "v");
    let sock = attach_socket(&b, &id);
    let stop = Arc::new(AtomicBool::new(false));
    let busy: Vec<_> = (0..3).flat_map(|_| busy_client(&sock, &stop)).collect();
    for round in 0..300 {
        let Ok(mut c) = UnixStream::connect(&sock) else {
            break; // the monitor is gone: the checks below say so
        };
        let mut buf = [0u8; 64];
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = c.read(&mut buf);
        // Most leave with output queued for them; some half-close first.
        if round % 4 == 1 {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in busy {
        t.join().unwrap();
    }
    assert_eq!(state(&b, "v"), "running true");
    assert!(
        log_grows(&b, &id, Duration::from_secs(10)),
        "the container's log stopped growing after clients vanished"
    );
    assert_eq!(monitors(&b).len(), 1, "the monitor is gone");

    // The attach CLI whose reader goes away (`berth attach v | head -c 10`).
    let mut attach = stalled_attach(&b, "v");
    let mut some = [0u8; 10];
    attach
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut some)
        .unwrap();
    drop(attach.stdout.take());
    assert!(
        ends_within(&mut attach, BOUND),
        "berth attach kept running after its reader went away"
    );
    assert_eq!(state(&b, "v"), "running true");
    bounded_ok(&b, &["stop", "-t", "1", "v"]);
}

/// This berth's monitors: `berth monitor ID` processes under its root.
fn monitors(b: &Berth) -> Vec<i32> {
    monitor_processes(&b.root)
        .into_iter()
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            cmd.split(|c| *c == 0).nth(1) == Some(b"monitor".as_slice())
        })
        .collect()
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    // Fields after the command (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// A tty container fed far more input than a terminal holds, and never reading it:
/// the monitor neither busy-loops nor blocks, so `stop` works.
///
/// The CPU check: a monitor that spins uses a whole core when it can get one; on a
/// machine loaded by other work it still gets its fair share, which over the
/// window is well above the threshold. An idle monitor uses next to nothing.
#[test]
fn a_tty_that_never_reads_its_input_does_not_spin_the_monitor() {
    let Some(b) = env() else { return };
    b.ok(&[
        "run",
        "-d",
        "-i",
        "-t",
        "--network",
        "none",
        "--name",
        "t",
        "busybox",
        "sleep",
        "1000",
    ]);
    let mut attach = b
        .command(&["attach", "t"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start berth attach");
    let mut input = attach.stdin.take().unwrap();
    // Whole lines, so that the terminal queues them (a canonical-mode terminal
    // discards an overlong line instead). Blocks once berth stops taking input;
    // ends with EPIPE when attach ends.
    let feeder = std::thread::spawn(move || {
        let chunk = [[b'x'; 63].as_slice(), b"\n"].concat().repeat(64);
        for _ in 0..64 {
            if input.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_secs(2));
    let monitor = monitors(&b);
    assert_eq!(monitor.len(), 1, "one monitor expected: {monitor:?}");
    let window = Duration::from_secs(5);
    let before = cpu_ticks(monitor[0]);
    std::thread::sleep(window);
    let used = cpu_ticks(monitor[0]) - before;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    assert!(
        used < hz / 2,
        "the monitor used {used} ticks of CPU in {window:?} holding unread tty input"
    );
    bounded_ok(&b, &["stop", "-t", "1", "t"]);
    assert!(
        ends_within(&mut attach, BOUND),
        "attach did not end with its container"
    );
    feeder.join().unwrap();
}

/// The other side of the bargain: the client `run` started the container for is
/// its stdout and loses nothing, however late it reads (`berth run IMG tar c |
/// gzip`). Once with less output than the buffers in between hold (the container
/// exits before anyone reads: the monitor delivers the rest after its cleanup),
/// once with far more (the container waits on its writes meanwhile).
#[test]
fn the_foreground_client_gets_all_output_however_late_it_reads() {
    let Some(b) = env() else { return };
    for size in [400_000usize, 3_000_000] {
        let script = format!("head -c {size} /dev/zero | tr '\\0' x; echo END");
        let mut run = b
            .command(&[
                "run",
                "--rm",
                "--network",
                "none",
                "busybox",
                "sh",
                "-c",
                &script,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start berth run");
        // Nobody reads for a while: every buffer between the container and us fills.
        std::thread::sleep(Duration::from_secs(3));
        let mut out = Vec::new();
        run.stdout.take().unwrap().read_to_end(&mut out).unwrap();
        assert!(
            ends_within(&mut run, BOUND),
            "berth run did not end after its output was read"
        );
        let status = run.wait().unwrap();
        assert!(status.success(), "berth run failed: {status:?}");
        assert_eq!(out.len(), size + 4, "berth run lost output");
        assert!(out.ends_with(b"xEND\n"));
    }
}
