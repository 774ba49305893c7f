//! The field report's command lines (issue 13, item 6), each as the user typed it,
//! with a systemd image tagged `centos-stream-8-systemd` (the testkit's Debian
//! systemd + sshd rootfs under that name). Each boots to `running`, or is refused
//! with a message that says why and what to drop. The `-it` lines run under a real
//! pty (util-linux `script`). Host ports are per test (the report used 1122) so the
//! tests can run in parallel. Item 7: `ps` follows the system's state after boot.

use berth_testkit::{require_root_and, stderr, stdout, Berth, SshKey};
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berth");
const IMG: &str = "centos-stream-8-systemd";
const NAME: &str = "centos-stream-8";

fn env(tools: &[&str]) -> Option<Berth> {
    let mut need = vec!["tar", "debootstrap"];
    need.extend_from_slice(tools);
    if !require_root_and(&need) {
        return None;
    }
    let b = Berth::new(BIN);
    b.import_systemd(IMG);
    Some(b)
}

/// A host port for test `k` of this process (the report's 1122 would collide
/// between tests running at once).
fn port(k: u16) -> u16 {
    30000 + (std::process::id() % 3000) as u16 * 8 + k
}

/// `systemctl is-system-running --wait` in the container.
fn system_state(b: &Berth, name: &str) -> String {
    let out = b.run(&["exec", name, "systemctl", "is-system-running", "--wait"]);
    stdout(&out).trim().to_string()
}

/// `ps`'s boot state of `name` ("ready", "degraded", …) once it equals `want`;
/// fails with the last status after 60 s.
fn wait_ps_boot(b: &Berth, name: &str, want: &str) {
    let filter = format!("name={name}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = b.ok(&["ps", "-f", &filter, "--format", "{{.Status}}"]);
        if status.ends_with(&format!("({want})")) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "ps never showed ({want}) for {name}; last: {status:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A shell command line running in a fresh pty (util-linux `script`), which the
/// test types into and whose output it watches. `B` in the line is the berth binary.
struct Pty {
    child: Child,
    input: Option<ChildStdin>,
    output: Arc<Mutex<String>>,
}

impl Pty {
    fn start(b: &Berth, line: &str) -> Pty {
        let line = format!("stty rows 40 cols 120; B={}; {line}", b.bin.display());
        let mut cmd = Command::new("script");
        for (k, v) in b.command(&[]).get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        let mut child = cmd
            .args(["-eqc", &line, "/dev/null"])
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

    /// Waits (120 s at most) until the output has `marker`; returns the output.
    fn wait_for(&self, marker: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let out = self.output.lock().unwrap().clone();
            if out.contains(marker) {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "no {marker:?} in the terminal after 120 s; it shows:\n{out}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn type_line(&mut self, line: &str) {
        let input = self.input.as_mut().unwrap();
        input.write_all(format!("{line}\n").as_bytes()).unwrap();
        input.flush().unwrap();
    }

    /// Waits (120 s at most) for the command line to end; its exit code.
    fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            assert!(
                Instant::now() < deadline,
                "the terminal's command did not end; it shows:\n{}",
                self.output.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        self.input = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `run -d -p 1122:22 --hostname centos-stream-8 --name centos-stream-8 IMG`, then
/// right away `exec -it centos-stream-8 /bin/bash`, `systemctl start ssh` in it, and
/// `ssh -p 1122` from the host.
#[test]
fn run_d_then_exec_it_bash_start_ssh_and_log_in() {
    let Some(b) = env(&["script", "ssh", "ssh-keygen"]) else {
        return;
    };
    let p = port(0);
    let publish = format!("{p}:22");
    b.ok(&[
        "run",
        "-d",
        "-p",
        &publish,
        "--hostname",
        NAME,
        "--name",
        NAME,
        IMG,
    ]);
    // Right after run -d: exec waits for the boot instead of racing it.
    let mut term = Pty::start(&b, &format!("$B exec -it {NAME} /bin/bash"));
    let key = SshKey::new("field-ssh");
    let public = std::fs::read_to_string(key.public()).unwrap();
    term.type_line(&format!(
        "mkdir -p /root/.ssh && echo '{}' > /root/.ssh/authorized_keys && echo key-in-place",
        public.trim()
    ));
    term.wait_for("key-in-place\r\n");
    term.type_line("systemctl start ssh && systemctl is-active ssh && echo ssh-started");
    term.wait_for("ssh-started\r\n");
    term.type_line("exit 3");
    assert_eq!(term.wait_exit(), Some(3), "bash's exit code comes back");
    let last = key.login(p, "hostname; systemctl is-system-running --wait");
    assert_eq!(last.trim(), format!("{NAME}\nrunning"));
    wait_ps_boot(&b, NAME, "ready");
    b.ok(&["stop", NAME]);
    assert_eq!(b.ok(&["inspect", "-f", "{{.State.ExitCode}}", NAME]), "0");
}

/// The same line with `--privileged` and with `--privileged=true`.
#[test]
fn run_d_privileged_both_spellings_boot() {
    let Some(b) = env(&[]) else { return };
    for (k, flag) in [(1, "--privileged"), (2, "--privileged=true")] {
        let name = format!("{NAME}-{k}");
        let publish = format!("{}:22", port(k));
        b.ok(&[
            "run",
            "-d",
            flag,
            "-p",
            &publish,
            "--hostname",
            NAME,
            "--name",
            &name,
            IMG,
        ]);
        assert_eq!(system_state(&b, &name), "running", "{flag}");
        assert_eq!(
            b.ok(&["inspect", "-f", "{{.HostConfig.Privileged}}", &name]),
            "true",
            "{flag}"
        );
        b.ok(&["stop", &name]);
        assert_eq!(b.ok(&["inspect", "-f", "{{.State.ExitCode}}", &name]), "0");
    }
}

/// `run -it --tmpfs /tmp --tmpfs /run -v /sys/fs/cgroup:/sys/fs/cgroup:ro -p 1122:22 …`:
/// the host's cgroup tree is refused in systemd mode with what to drop; without that
/// `-v` the user's tmpfs on /run still gets /run/lock (and berth's /run/host files),
/// and systemd boots.
#[test]
fn run_it_with_user_tmpfs_run_and_host_cgroup_bind() {
    let Some(b) = env(&["script"]) else { return };
    let p = port(3);
    let line = format!(
        "$B run -it --tmpfs /tmp --tmpfs /run -v /sys/fs/cgroup:/sys/fs/cgroup:ro -p {p}:22 \
         --hostname {NAME} --name {NAME} {IMG}"
    );
    let mut term = Pty::start(&b, &line);
    let code = term.wait_exit();
    let out = term.output.lock().unwrap().clone();
    assert_eq!(code, Some(125), "{out}");
    assert!(
        out.contains("/sys/fs/cgroup")
            && out.contains("Drop -v /sys/fs/cgroup:/sys/fs/cgroup:ro")
            && out.contains("systemd mode"),
        "the refusal says why and what to drop: {out}"
    );
    assert_eq!(b.ok(&["ps", "-a", "-q"]), "", "nothing was created");
    drop(term);

    let line = format!(
        "$B run -it --tmpfs /tmp --tmpfs /run -p {p}:22 --hostname {NAME} --name {NAME} {IMG}"
    );
    let mut term = Pty::start(&b, &line);
    term.wait_for("Welcome to");
    assert_eq!(
        system_state(&b, NAME),
        "running",
        "{}",
        b.ok(&["logs", NAME])
    );
    assert_eq!(
        b.ok(&["exec", NAME, "stat", "-f", "-c", "%T", "/run", "/run/lock"]),
        "tmpfs\ntmpfs"
    );
    assert_eq!(
        b.ok(&["exec", NAME, "cat", "/run/host/container-manager"]),
        "berth"
    );
    let d = b.run(&["doctor", NAME]);
    assert_eq!(d.status.code(), Some(0), "{}", stdout(&d));
    b.ok(&["stop", NAME]);
    assert_eq!(term.wait_exit(), Some(0));
    assert_eq!(b.ok(&["inspect", "-f", "{{.State.ExitCode}}", NAME]), "0");
}

/// `run … local:centos-stream-8-systemd` (repository `local`, tag
/// `centos-stream-8-systemd`) and `run … local/centos-stream-8-systemd` (a docker.io
/// repository, pulled and not found): both name the local image the user meant.
#[test]
fn image_name_typos_suggest_the_local_image() {
    let Some(b) = env(&[]) else { return };
    for typo in [
        "local:centos-stream-8-systemd",
        "local/centos-stream-8-systemd",
    ] {
        for pull in ["--pull=missing", "--pull=never"] {
            let out = b.run(&["run", "-d", pull, "--name", NAME, typo]);
            assert_eq!(out.status.code(), Some(125), "{typo} {pull}");
            assert!(
                stderr(&out).contains("did you mean centos-stream-8-systemd:latest?"),
                "{typo} {pull}: {}",
                stderr(&out)
            );
        }
    }
    // A name nothing resembles gets no guess.
    let out = b.run(&["run", "-d", "--pull=never", "nginx"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(!stderr(&out).contains("did you mean"), "{}", stderr(&out));
}

/// An image with `VOLUME ["/sys/fs/cgroup", "/run", "/tmp"]` (the report's
/// Dockerfile, like most systemd Dockerfiles) boots in systemd mode; `inspect` shows
/// systemd mode's own file systems there and no volume is made.
#[test]
fn image_volumes_at_systemd_mounts_boot() {
    let Some(b) = env(&[]) else { return };
    let tar = berth_testkit::systemd_rootfs_tar();
    b.ok(&[
        "import",
        "--change",
        r#"CMD ["/usr/sbin/init"]"#,
        "--change",
        r#"VOLUME ["/sys/fs/cgroup", "/run", "/tmp"]"#,
        tar.to_str().unwrap(),
        "volumes-systemd",
    ]);
    b.ok(&["run", "-d", "--name", NAME, "volumes-systemd"]);
    assert_eq!(system_state(&b, NAME), "running");
    let mounts = b.ok(&["inspect", "-f", "{{json .Mounts}}", NAME]);
    let mounts: serde_json::Value = serde_json::from_str(&mounts).unwrap();
    let kind = |dest: &str| {
        mounts
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["Destination"] == dest)
            .map(|m| (m["Type"].clone(), m["Source"].clone()))
    };
    assert_eq!(
        kind("/sys/fs/cgroup"),
        Some(("cgroup".into(), "systemd mode".into()))
    );
    assert_eq!(kind("/run"), Some(("tmpfs".into(), "systemd mode".into())));
    assert_eq!(kind("/tmp"), Some(("tmpfs".into(), "systemd mode".into())));
    b.ok(&["rm", "-f", NAME]);
    let volumes = std::fs::read_dir(b.root.join("volumes"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(volumes, 0, "no volume was made for the systemd paths");
}

/// Item 7: a unit that fails after the boot turns `ps` to `(degraded)`, and
/// `systemctl reset-failed` turns it back.
#[test]
fn ps_follows_units_failing_and_reset_after_boot() {
    let Some(b) = env(&[]) else { return };
    b.ok(&["run", "-d", "--wait=ready", "--name", NAME, IMG]);
    wait_ps_boot(&b, NAME, "ready");
    b.ok(&[
        "exec",
        NAME,
        "sh",
        "-c",
        "printf '[Service]\\nType=oneshot\\nExecStart=/bin/sh -c \"exit 1\"\\n' > /etc/systemd/system/broken.service",
    ]);
    let started = b.run(&["exec", NAME, "systemctl", "start", "broken.service"]);
    assert_eq!(started.status.code(), Some(1), "{}", stderr(&started));
    wait_ps_boot(&b, NAME, "degraded");
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.State.Boot}}", NAME]),
        "degraded"
    );
    b.ok(&["exec", NAME, "systemctl", "reset-failed"]);
    wait_ps_boot(&b, NAME, "ready");
    assert_eq!(b.ok(&["inspect", "-f", "{{.State.Boot}}", NAME]), "ready");
    b.ok(&["stop", NAME]);
}

/// Asking systemd over its bus is host-side code reaching into a container: a
/// container that turns /run/systemd/private into a symlink to a host socket
/// gets no connection to it (the path is resolved inside the container's root),
/// and `ps` just keeps the recorded state.
#[test]
fn a_bus_socket_symlinked_out_never_reaches_the_host() {
    let Some(b) = env(&[]) else { return };
    let dir = berth_testkit::Scratch::new("field-bus");
    let host_socket = dir.path().join("host.sock");
    let listener = std::os::unix::net::UnixListener::bind(&host_socket).unwrap();
    listener.set_nonblocking(true).unwrap();
    b.ok(&["run", "-d", "--wait=ready", "--name", NAME, IMG]);
    wait_ps_boot(&b, NAME, "ready");
    let link = format!(
        "rm -f /run/systemd/private && ln -s {} /run/systemd/private",
        host_socket.display()
    );
    b.ok(&["exec", NAME, "sh", "-c", &link]);
    for _ in 0..3 {
        let status = b.ok(&[
            "ps",
            "-f",
            &format!("name={NAME}"),
            "--format",
            "{{.Status}}",
        ]);
        assert!(status.ends_with("(ready)"), "{status}");
        assert_eq!(b.ok(&["inspect", "-f", "{{.State.Boot}}", NAME]), "ready");
    }
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("ps connected to the host's socket: {other:?}"),
    }
    b.ok(&["rm", "-f", NAME]);
}
