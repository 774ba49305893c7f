//! What a container gets of the caller's terminal, descriptors and environment: for
//! `exec` without `-t` pipes that berth relays (a background child must not keep the
//! admin's terminal), for every process nothing beyond 0/1/2, and for the monitor
//! none of the caller's variables (`LISTEN_FDS` would pass descriptors in).

use berth_testkit::{monitor_processes, stderr, stdout, Berth};
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar", "script"])
}

/// The environment that points berth at `b` (as `Berth::command` sets it).
fn berth_env(cmd: &mut Command, b: &Berth) {
    for (k, v) in b.command(&[]).get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
}

/// A shell script running in a fresh pty (util-linux `script`), which the test types
/// into and whose output it watches. `B` in the script is the berth binary.
struct Pty {
    child: Child,
    input: Option<ChildStdin>,
    output: Arc<Mutex<String>>,
}

impl Pty {
    fn start(b: &Berth, script: &str) -> Pty {
        let script = format!("B={}; {script}", b.bin.display());
        let mut cmd = Command::new("script");
        berth_env(&mut cmd, b);
        let mut child = cmd
            .args(["-eqc", &script, "/dev/null"])
            .env("SHELL", "/bin/sh")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start script");
        let output = Arc::new(Mutex::new(String::new()));
        let mut out = child.stdout.take().unwrap();
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let input = child.stdin.take();
        Pty {
            child,
            input,
            output,
        }
    }

    /// Waits (60 s at most) until the output has `marker`; returns the output.
    fn wait_for(&self, marker: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = self.output.lock().unwrap().clone();
            if out.contains(marker) {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "no {marker:?} in the terminal after 60 s; it shows:\n{out}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types a line into the terminal.
    fn type_line(&mut self, line: &str) {
        let input = self.input.as_mut().unwrap();
        input.write_all(format!("{line}\n").as_bytes()).unwrap();
        input.flush().unwrap();
    }

    /// The pty's slave device, which the script printed first with `tty`.
    fn device(&self) -> String {
        let out = self.wait_for("/dev/pts/");
        let start = out.find("/dev/pts/").unwrap();
        out[start..].split_whitespace().next().unwrap().to_string()
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        self.input = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The controlling terminal of process `pid` as (major, minor), from its stat.
fn controlling_tty(pid: i32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let tty_nr: u64 = after_comm
        .split_whitespace()
        .nth(4)
        .and_then(|f| f.parse().ok())
        .unwrap_or(0);
    (
        (tty_nr >> 8) & 0xfff,
        (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00),
    )
}

/// Whether process `pid` is a berth of `b`'s that outlives the command the terminal
/// runs (a monitor, an `exec -d` helper): one whose controlling terminal is not
/// `tty` (the command in the foreground legitimately has it).
fn is_background_berth_of(b: &Berth, pid: i32, tty: (u64, u64)) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let argv0 = cmdline.split(|c| *c == 0).next().unwrap_or_default();
    let want = format!("BERTH_ROOT={}", b.root.display());
    argv0.ends_with(b"berth")
        && controlling_tty(pid) != tty
        && std::fs::read(format!("/proc/{pid}/environ"))
            .unwrap_or_default()
            .split(|c| *c == 0)
            .any(|kv| kv == want.as_bytes())
}

/// `pid fd` of each process in `container` (its pid namespace) or of `b`'s berth
/// processes that has the terminal `tty` open.
fn terminal_holders(b: &Berth, container: &str, tty: &str) -> Vec<String> {
    let rdev = std::fs::metadata(tty).expect("stat the pty").rdev();
    let dev = (libc::major(rdev) as u64, libc::minor(rdev) as u64);
    let init = b.ok(&["inspect", "-f", "{{.State.Pid}}", container]);
    let ns = std::fs::read_link(format!("/proc/{init}/ns/pid")).expect("container pid ns");
    let mut holders = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let in_container = std::fs::read_link(e.path().join("ns/pid")).ok() == Some(ns.clone());
        if !in_container && !is_background_berth_of(b, pid, dev) {
            continue;
        }
        for fd in std::fs::read_dir(e.path().join("fd"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(m) = std::fs::metadata(fd.path()) {
                if m.file_type().is_char_device() && m.rdev() == rdev {
                    holders.push(format!("pid {pid} fd {}", fd.file_name().to_string_lossy()));
                }
            }
        }
    }
    holders
}

/// What the container wrote to `file` (empty if nothing).
fn container_file(b: &Berth, container: &str, file: &str) -> String {
    b.ok(&[
        "exec",
        container,
        "sh",
        "-c",
        &format!("cat {file} 2>/dev/null; true"),
    ])
}

/// After an exec in container `c` returned: no process of `c` holds the caller's
/// terminal `tty`, and a line typed there reaches the outer shell (which echoes
/// `outer-got:`), not a reader the exec left behind (which appends to /tmp/stolen).
fn assert_typed_after_exec_stays_out(b: &Berth, pty: &mut Pty, tty: &str) {
    let holders = terminal_holders(b, "c", tty);
    assert!(
        holders.is_empty(),
        "container processes hold the caller's terminal {tty}: {holders:?}"
    );
    pty.type_line("SECRET");
    pty.wait_for("outer-got:SECRET");
    let stolen = container_file(b, "c", "/tmp/stolen");
    assert!(!stolen.contains("SECRET"), "the container read: {stolen:?}");
}

/// The attack: `exec` (no -t) leaves a background reader of the terminal behind it and
/// returns; what the admin types next must not reach the container.
#[test]
fn exec_background_child_cannot_read_the_terminal_afterwards() {
    let Some(b) = env() else { return };
    b.ok(&["run", "-d", "--name", "c", "busybox", "sleep", "300"]);
    let mut pty = Pty::start(
        &b,
        r#"tty; $B exec c sh -c '(for fd in 0 1 2; do (while read l; do echo "$l" >> /tmp/stolen; done <&$fd &); done) & echo reader-started'; echo "exec-returned:$?"; read x; echo "outer-got:$x""#,
    );
    let tty = pty.device();
    pty.wait_for("reader-started");
    pty.wait_for("exec-returned:0");
    assert_typed_after_exec_stays_out(&b, &mut pty, &tty);
}

/// With -i, what is typed while the exec runs reaches it; what is typed after it
/// returned reaches nobody in the container, though a child kept its stdin.
#[test]
fn exec_i_forwards_input_only_while_the_process_runs() {
    let Some(b) = env() else { return };
    b.ok(&["run", "-d", "--name", "c", "busybox", "sleep", "300"]);
    let mut pty = Pty::start(
        &b,
        r#"tty; $B exec -i c sh -c 'echo ready; read first; echo "first:$first"; exec 3<&0; (while read l; do echo "$l" >> /tmp/stolen; done <&3) & exit 3'; echo "exec-returned:$?"; read x; echo "outer-got:$x""#,
    );
    let tty = pty.device();
    pty.wait_for("ready");
    pty.type_line("DURING");
    pty.wait_for("first:DURING");
    pty.wait_for("exec-returned:3");
    assert_typed_after_exec_stays_out(&b, &mut pty, &tty);
}

/// `exec -it` hands the process a pty of the container's own; `exec -d` leaves
/// nothing of the caller's behind; `run` without -t relays through the monitor.
/// None gives the caller's terminal to the container (or to a berth process that
/// outlives the command).
#[test]
fn tty_exec_detached_exec_and_attached_run_hold_no_caller_terminal() {
    let Some(b) = env() else { return };
    b.ok(&["run", "-d", "--name", "c", "busybox", "sleep", "300"]);
    let mut pty = Pty::start(
        &b,
        r#"tty; $B exec -it c sh -c 'sleep 300 & echo bg-started'; echo "exec-returned:$?"; $B exec -d c sleep 300; echo "detached-returned:$?"; read x; $B run --rm --name r busybox sh -c 'sleep 300 & echo run-started; wait'; echo "run-returned:$?""#,
    );
    let tty = pty.device();
    pty.wait_for("exec-returned:0");
    let holders = terminal_holders(&b, "c", &tty);
    assert!(holders.is_empty(), "exec -it left {tty} to: {holders:?}");
    pty.wait_for("detached-returned:0");
    let holders = terminal_holders(&b, "c", &tty);
    assert!(holders.is_empty(), "exec -d left {tty} to: {holders:?}");
    pty.type_line("go");
    pty.wait_for("run-started");
    let holders = terminal_holders(&b, "r", &tty);
    assert!(holders.is_empty(), "run gave {tty} to: {holders:?}");
    b.ok(&["kill", "r"]);
    pty.wait_for("run-returned:137");
}

/// Runs `berth ARGS` with `input` on stdin; gives up (failing) after 60 s.
fn exec_bounded(b: &Berth, args: &[&str], input: &[u8]) -> std::process::Output {
    b.run_bounded(args, input, Duration::from_secs(60))
        .unwrap_or_else(|| panic!("berth {args:?} did not return within 60 s"))
}

#[test]
fn exec_streams_and_exit_codes() {
    let Some(b) = env() else { return };
    b.ok(&["run", "-d", "--name", "c", "busybox", "sleep", "300"]);

    let out = exec_bounded(
        &b,
        &["exec", "c", "sh", "-c", "echo out; echo err >&2; exit 5"],
        b"",
    );
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");

    let out = exec_bounded(&b, &["exec", "c", "no-such-command"], b"");
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    let out = exec_bounded(&b, &["exec", "c", "/etc/passwd"], b"");
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));

    // -i forwards stdin, and its end; without -i the process reads /dev/null.
    let out = exec_bounded(&b, &["exec", "-i", "c", "tr", "a-z", "A-Z"], b"hello\n");
    assert_eq!(
        (out.status.code(), stdout(&out)),
        (Some(0), "HELLO\n".into())
    );
    let out = exec_bounded(&b, &["exec", "c", "sh", "-c", "cat; echo end"], b"hello\n");
    assert_eq!((out.status.code(), stdout(&out)), (Some(0), "end\n".into()));

    // Output larger than any pipe buffer arrives whole.
    let out = exec_bounded(&b, &["exec", "c", "sh", "-c", "yes | head -c 3000000"], b"");
    assert_eq!(out.stdout.len(), 3_000_000);
}

/// A child left in the background with the exec's stdout and stderr does not keep
/// `exec` from returning (docker: containerd stops waiting for the output).
#[test]
fn exec_returns_though_a_background_child_holds_its_output() {
    let Some(b) = env() else { return };
    b.ok(&["run", "-d", "--name", "c", "busybox", "sleep", "300"]);
    let out = exec_bounded(
        &b,
        &["exec", "c", "sh", "-c", "sleep 300 & echo started; exit 4"],
        b"",
    );
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(stdout(&out), "started\n");
    let out = exec_bounded(
        &b,
        &[
            "exec",
            "-i",
            "c",
            "sh",
            "-c",
            "(sleep 300; cat) & echo started",
        ],
        b"",
    );
    assert_eq!(
        (out.status.code(), stdout(&out)),
        (Some(0), "started\n".into())
    );
}

/// Runs `berth ARGS` from a shell that has descriptors 3 and 4 open and the socket
/// activation variables and a canary set.
fn with_extra_fds(b: &Berth, args: &str) -> std::process::Output {
    let script = format!(
        "exec 3</etc/hostname 4</etc/os-release; LISTEN_FDS=2 LISTEN_PID=$$ LISTEN_FDNAMES=a:b BERTH_TEST_CANARY=x {} {args}",
        b.bin.display()
    );
    let mut sh = Command::new("sh");
    sh.args(["-c", &script]);
    berth_env(&mut sh, b);
    sh.stdin(Stdio::null()).output().expect("run sh")
}

/// The open descriptors of process `pid` other than 0/1/2, with their targets.
fn extra_fds(pid: &str) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<i32>().unwrap_or(0) > 2)
        .map(|e| {
            let target = std::fs::read_link(e.path()).unwrap_or_default();
            format!(
                "{} -> {}",
                e.file_name().to_string_lossy(),
                target.display()
            )
        })
        .collect()
}

/// The environment of process `pid`, one variable a line.
fn environ(pid: &str) -> String {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    String::from_utf8_lossy(&environ).replace('\0', "\n")
}

/// Waits (60 s at most) until process `pid` runs `command` (the runtime's init has
/// exec'd it, closing the runtime's own descriptors).
fn wait_exec(pid: &str, command: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let want = format!("{command}\0");
    while !std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .starts_with(&want)
    {
        assert!(Instant::now() < deadline, "{pid} never ran {command}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The attack: a caller with open descriptors and `LISTEN_FDS` (systemd's socket
/// activation) makes the runtime pass its descriptors into the container.
#[test]
fn caller_descriptors_and_environment_stay_out() {
    let Some(b) = env() else { return };
    let out = with_extra_fds(&b, "run -d --name m busybox sleep 300");
    assert!(out.status.success(), "run: {}", stderr(&out));
    let mut problems = Vec::new();

    // The container's init: only 0, 1, 2 and none of the caller's variables.
    let init = b.ok(&["inspect", "-f", "{{.State.Pid}}", "m"]);
    wait_exec(&init, "sleep");
    let fds = extra_fds(&init);
    if !fds.is_empty() {
        problems.push(format!("the container's init has descriptors {fds:?}"));
    }
    let env = environ(&init);
    if env.contains("LISTEN_") || env.contains("CANARY") {
        problems.push(format!("the container's environment has:\n{env}"));
    }

    // The monitor: none of the caller's variables or descriptors.
    let monitors = monitor_processes(&b.root);
    assert_eq!(monitors.len(), 1, "monitors: {monitors:?}");
    let env = environ(&monitors[0].to_string());
    if env.contains("BERTH_TEST_CANARY") || env.contains("LISTEN_") {
        problems.push(format!("the monitor's environment has:\n{env}"));
    }
    let fds = extra_fds(&monitors[0].to_string());
    if fds
        .iter()
        .any(|f| f.contains("/etc/hostname") || f.contains("os-release"))
    {
        problems.push(format!(
            "the monitor holds the caller's descriptors: {fds:?}"
        ));
    }

    // An exec'd process: the same. `ls` lists its parent shell's descriptors.
    let out = with_extra_fds(&b, "exec m sh -c 'ls /proc/$$/fd; env'");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    let fds: Vec<&str> = text
        .lines()
        .take_while(|l| l.parse::<i32>().is_ok())
        .collect();
    if fds != ["0", "1", "2"] || text.contains("LISTEN_") || text.contains("CANARY") {
        problems.push(format!(
            "the exec'd shell has descriptors and environment:\n{text}"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Container processes start with no signals blocked or ignored, whatever berth's own
/// state was (Rust ignores SIGPIPE; the monitor blocks SIGCHLD).
#[test]
fn container_processes_start_with_default_signal_state() {
    let Some(b) = env() else { return };
    let grep = ["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"];
    let defaults = "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000";
    let mut run = vec!["run", "--rm", "busybox"];
    run.extend(grep);
    assert_eq!(b.ok(&run), defaults, "run");
    b.ok(&["run", "-d", "--name", "c", "busybox", "sleep", "300"]);
    let mut exec = vec!["exec", "c"];
    exec.extend(grep);
    assert_eq!(b.ok(&exec), defaults, "exec");
    let mut exec_t = vec!["exec", "-t", "c"];
    exec_t.extend(grep);
    assert_eq!(b.ok(&exec_t).replace('\r', ""), defaults, "exec -t");
}
