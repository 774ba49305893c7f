//! Test fixtures and helpers for berth's integration tests: requirement gates, a
//! busybox rootfs tarball built from the host's busybox-static, an isolated berth
//! environment per test (own BERTH_ROOT/BERTH_RUNROOT) that runs the real binary, and
//! checks that a test left no mounts, cgroups or processes behind.

pub mod fixtures;
pub mod host;
pub mod peers;
pub mod registry;
pub mod wait;

pub use fixtures::{busybox_variant, compile_static_c, tar_of, Extra, Scratch};
pub use host::{HostFileGuard, KillOnDrop};
pub use wait::{http_get, wait_http, SshKey};

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// True when the test may run. Without a requirement it is skipped with the reason
/// when run by hand, and fails under `CI=true`.
pub fn require(what: &str, ok: bool) -> bool {
    if ok {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("requirement missing under CI: {what}");
    }
    eprintln!("SKIPPED: requirement missing: {what}");
    false
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

pub fn have_tool(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
}

/// Root plus the given tools; the usual gate for an integration test.
pub fn require_root_and(tools: &[&str]) -> bool {
    if !require("root (integration tests start real containers)", is_root()) {
        return false;
    }
    tools
        .iter()
        .all(|t| require(&format!("{t} in PATH"), have_tool(t)))
}

/// Fixtures are cached across runs: /var/cache/berth-testkit as root (so the
/// debootstrap happens once per machine), or BERTH_TEST_CACHE.
fn cache_dir() -> PathBuf {
    let default = if is_root() {
        PathBuf::from("/var/cache/berth-testkit")
    } else {
        std::env::temp_dir().join("berth-testkit")
    };
    let dir = std::env::var_os("BERTH_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or(default);
    std::fs::create_dir_all(&dir).expect("create test cache dir");
    dir
}

/// A tarball of a minimal busybox root filesystem (from Debian's busybox-static),
/// built once and shared by all tests.
pub fn busybox_tar() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(build_busybox_tar).clone()
}

fn build_busybox_tar() -> PathBuf {
    let dir = cache_dir();
    let tar = dir.join("busybox-rootfs.tar");
    if tar.exists() {
        return tar;
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("busybox-static is installed (apt-get install busybox-static)");
    let tmp = dir.join(format!("build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let rootfs = tmp.join("rootfs");
    for d in ["bin", "etc", "tmp", "root", "proc", "sys", "dev", "var/www"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy(&busybox, rootfs.join("bin/busybox")).unwrap();
    let list = Command::new(&busybox).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
        }
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    fixtures::compile_static_c(UDP_ECHO_C, &rootfs.join("bin/udp-echo"));
    tar_into_place(&rootfs, &tmp.join("rootfs.tar"), &tar);
    let _ = std::fs::remove_dir_all(&tmp);
    tar
}

/// Tars `dir` (numeric owners) into `partial`, then renames it to `tar`: rename is
/// atomic, so parallel test binaries see the whole tarball or none.
fn tar_into_place(dir: &Path, partial: &Path, tar: &Path) {
    let st = Command::new("tar")
        .arg("--numeric-owner")
        .arg("-C")
        .arg(dir)
        .arg("-cf")
        .arg(partial)
        .arg(".")
        .status()
        .expect("run tar");
    assert!(st.success(), "tar of {} failed", dir.display());
    std::fs::rename(partial, tar).unwrap();
}

/// A Debian bookworm root filesystem with systemd and openssh-server, made by
/// debootstrap (about a minute) and cached. Import it with `CMD ["/sbin/init"]`.
pub fn systemd_rootfs_tar() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(build_systemd_rootfs_tar).clone()
}

pub const DEBOOTSTRAP_PACKAGES: &str = "systemd,systemd-sysv,dbus,openssh-server,iproute2,procps";

fn build_systemd_rootfs_tar() -> PathBuf {
    let dir = cache_dir();
    let tar = dir.join("debian-systemd.tar");
    if tar.exists() {
        return tar;
    }
    let build = dir.join(format!("debian-systemd.build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&build);
    let mirror = std::env::var("BERTH_DEBIAN_MIRROR")
        .unwrap_or_else(|_| "http://deb.debian.org/debian".into());
    let st = Command::new("debootstrap")
        .args([
            "--variant=minbase",
            &format!("--include={DEBOOTSTRAP_PACKAGES}"),
            "bookworm",
        ])
        .arg(&build)
        .arg(&mirror)
        .stdout(Stdio::null())
        .status()
        .expect("run debootstrap (apt-get install debootstrap)");
    assert!(st.success(), "debootstrap of the systemd rootfs failed");
    let partial = dir.join(format!("debian-systemd.tar.{}", std::process::id()));
    tar_into_place(&build, &partial, &tar);
    let _ = std::fs::remove_dir_all(&build);
    tar
}

/// busybox-static has no UDP server; tests of UDP publishing use this one.
const UDP_ECHO_C: &str = r#"
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(argc > 1 ? atoi(argv[1]) : 5353);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) return 1;
    for (;;) {
        char buf[512];
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(s, buf, sizeof buf - 6, 0, (struct sockaddr *)&from, &len);
        if (n < 0) return 2;
        memcpy(buf + n, "-echo", 5);
        sendto(s, buf, n + 5, 0, (struct sockaddr *)&from, len);
    }
}
"#;

/// Another host on this machine: a network namespace joined to the host by a veth
/// pair, host side `10.253.N.1/30`, namespace side `10.253.N.2/30`. Removed on drop.
pub struct TestHost {
    pub ns: String,
    pub host_side: String,
    pub host_ip: String,
    pub ip: String,
}

impl TestHost {
    pub fn new() -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}{n}", std::process::id() % 10000);
        let octet = (std::process::id() as usize * 7 + n * 13) % 250 + 1;
        let h = TestHost {
            ns: format!("bth{tag}"),
            host_side: format!("bthv{tag}"),
            host_ip: format!("10.253.{octet}.1"),
            ip: format!("10.253.{octet}.2"),
        };
        let peer = format!("bthp{tag}");
        let sh = |cmd: String| {
            let st = Command::new("sh").arg("-c").arg(&cmd).status().unwrap();
            assert!(st.success(), "test host setup failed: {cmd}");
        };
        sh(format!("ip netns add {}", h.ns));
        sh(format!(
            "ip link add {} type veth peer name {peer}",
            h.host_side
        ));
        sh(format!("ip link set {peer} netns {}", h.ns));
        sh(format!(
            "ip addr add {}/30 dev {} && ip link set {} up",
            h.host_ip, h.host_side, h.host_side
        ));
        sh(format!(
            "ip -n {ns} addr add {ip}/30 dev {peer} && ip -n {ns} link set {peer} up && ip -n {ns} link set lo up && ip -n {ns} route add default via {gw}",
            ns = h.ns,
            ip = h.ip,
            gw = h.host_ip
        ));
        h
    }

    /// Runs a command inside the test host.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Serves `page` as `/index.html` with busybox httpd on `port` of the test
    /// host, until the returned value is dropped (server stopped, directory removed).
    pub fn serve(&self, page: &str, port: u16) -> Served {
        let dir = Scratch::new(&format!("{}-www", self.ns));
        dir.write("index.html", page);
        let port = port.to_string();
        let server = self.spawn(&["busybox", "httpd", "-f", "-p", &port, "-h", dir.as_str()]);
        Served {
            _server: KillOnDrop(server),
            _dir: dir,
        }
    }

    /// Starts a long-running command inside the test host.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }
}

/// A page a `TestHost` serves; the server stops (before its directory goes) on drop.
pub struct Served {
    _server: KillOnDrop,
    _dir: Scratch,
}

impl Default for TestHost {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_side])
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// An isolated berth: its own state directories, removed (after checking for
/// leftovers) when dropped.
pub struct Berth {
    pub bin: PathBuf,
    pub root: PathBuf,
    pub runroot: PathBuf,
    /// This berth's default bridge, subnet and nft table: tests never share them.
    pub bridge: String,
    pub subnet: String,
    pub nft_table: String,
    base: PathBuf,
}

impl Berth {
    pub fn new(bin: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base = std::env::temp_dir().join(format!("berth-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let pid = std::process::id() as usize;
        Berth {
            bin: PathBuf::from(bin),
            root: base.join("root"),
            runroot: base.join("run"),
            bridge: format!("bt{}x{n}", pid % 100000),
            subnet: format!("10.{}.{}.0/24", 200 + n % 50, pid % 250),
            nft_table: format!("berth_t{pid}_{n}"),
            base,
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args)
            .env("BERTH_ROOT", &self.root)
            .env("BERTH_RUNROOT", &self.runroot)
            .env("BERTH_BRIDGE", &self.bridge)
            .env("BERTH_SUBNET", &self.subnet)
            .env("BERTH_NFT_TABLE", &self.nft_table)
            // An idle bridge lingers 2 s by default; short here, so each test's
            // leftover check does not wait that long. The same path is taken.
            .env("BERTH_NET_LINGER_MS", "300")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run berth")
    }

    /// Runs and asserts success; returns trimmed stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed with {:?}\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `run --rm FLAGS busybox sh -c SCRIPT`, as is.
    pub fn sh_output(&self, flags: &[&str], script: &str) -> Output {
        self.run(&Self::sh_args(flags, script))
    }

    /// `run --rm FLAGS busybox sh -c SCRIPT`; asserts success, returns trimmed stdout.
    pub fn sh(&self, flags: &[&str], script: &str) -> String {
        self.ok(&Self::sh_args(flags, script))
    }

    fn sh_args<'a>(flags: &[&'a str], script: &'a str) -> Vec<&'a str> {
        let mut args = vec!["run", "--rm"];
        args.extend(flags);
        args.extend(["busybox", "sh", "-c", script]);
        args
    }

    /// Runs berth with `input` on its stdin; if it has not finished after `limit`,
    /// kills it and this berth's monitors by PID and returns None (a hang).
    pub fn run_bounded(&self, args: &[&str], input: &[u8], limit: Duration) -> Option<Output> {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run berth");
        let mut stdin = child.stdin.take().expect("stdin");
        // A berth that never reads its stdin must not block the test here.
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let pid = child.id() as i32;
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(limit) {
            Ok(out) => Some(out.expect("wait for berth")),
            Err(_) => {
                // SAFETY: kill(2) on the berth this test started, not reaped yet
                // (the waiter thread reaps it), and on this berth's monitors.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                for m in monitor_processes(&self.root) {
                    unsafe { libc::kill(m, libc::SIGKILL) };
                }
                let _ = waiter.join();
                None
            }
        }
    }

    /// Imports the busybox rootfs as `name` with the given `--change`s.
    pub fn import_busybox(&self, name: &str, changes: &[&str]) -> String {
        let tar = busybox_tar();
        let mut args = vec!["import"];
        for c in changes {
            args.push("--change");
            args.push(c);
        }
        let tar = tar.to_string_lossy().into_owned();
        args.push(&tar);
        args.push(name);
        self.ok(&args)
    }

    /// Imports the Debian systemd rootfs as `name` with `CMD ["/sbin/init"]`.
    pub fn import_systemd(&self, name: &str) -> String {
        let tar = systemd_rootfs_tar().to_string_lossy().into_owned();
        self.ok(&["import", "--change", r#"CMD ["/sbin/init"]"#, &tar, name])
    }

    /// Ids of all containers this berth knows.
    pub fn all_ids(&self) -> Vec<String> {
        let out = self.run(&["ps", "-a", "-q", "--no-trunc"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Waits (10 s at most) until no monitor of this berth runs. A monitor finishes
    /// unplugging the network after its CLI returned, and the last one leaves an
    /// idle bridge and nft table for the linger time before removing them.
    /// SIGKILLs this berth's monitors and waits until each has exited (see
    /// [`has_exited`]); returns their PIDs.
    pub fn kill_monitors(&self) -> Vec<i32> {
        let monitors = monitor_processes(&self.root);
        for &pid in &monitors {
            // SAFETY: kill(2) on this berth's own monitors.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        for &pid in &monitors {
            wait_for(&format!("killed monitor {pid} to exit"), || {
                has_exited(pid).then_some(())
            });
        }
        monitors
    }

    /// Waits (10 s at most) until no monitor of this berth is left, the ones still
    /// exiting included (see [`has_exited`]: a monitor drops out of
    /// [`monitor_processes`] before its exit is over, while berth still counts it
    /// as alive).
    pub fn wait_monitors_gone(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        loop {
            let now = monitor_processes(&self.root);
            seen.extend(now.iter().copied());
            seen.retain(|&pid| !has_exited(pid));
            if (now.is_empty() && seen.is_empty()) || Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls `inspect -f format name` until it prints `want` (60 s at most): for
    /// states the monitor reaches in its own time (restarts, health). A wait that
    /// fails shows the container's error and the end of its monitor's log.
    pub fn wait_inspect(&self, name: &str, format: &str, want: &str) {
        let probe = format!("{format}\u{1f}{{{{.State.Error}}}}\u{1f}{{{{.Id}}}}");
        wait_for_last(&format!("{name}: {format} to become {want:?}"), || {
            let out = self.ok(&["inspect", "-f", &probe, name]);
            let mut parts = out.split('\u{1f}');
            let (got, error, id) = (parts.next(), parts.next(), parts.next());
            if got == Some(want) {
                return Ok(());
            }
            let log = self
                .root
                .join("containers")
                .join(id.unwrap_or(""))
                .join("monitor.log");
            let log = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(3).collect();
            Err(format!(
                "{got:?} (error {error:?}; monitor.log ends {tail:?})"
            ))
        });
    }

    /// Starts `name`, a busybox container that fails at once and is restarted for
    /// ever (`--restart=always`): after a few runs it spends most of its time in
    /// the policy's back-off, waiting to be started again.
    pub fn run_crash_loop(&self, name: &str) {
        self.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--restart=always",
            "busybox",
            "sh",
            "-c",
            "exit 1",
        ]);
    }

    /// Mount table lines naming this berth's directory.
    fn mounts_left(&self) -> Vec<String> {
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let base = self.base.to_string_lossy();
        mounts
            .lines()
            .filter(|l| l.contains(base.as_ref()))
            .map(str::to_string)
            .collect()
    }

    /// Asserts nothing of this berth's remains on the host: no mounts under its root,
    /// no container cgroups, no monitor processes.
    pub fn assert_no_leftovers(&self) {
        self.wait_monitors_gone();
        let procs = monitor_processes(&self.root);
        assert!(procs.is_empty(), "monitor processes left behind: {procs:?}");
        let left = self.mounts_left();
        assert!(left.is_empty(), "mounts left behind: {left:#?}");
        let orphans = orphan_cgroups();
        assert!(orphans.is_empty(), "cgroups left behind: {orphans:?}");
        let links = host_links();
        assert!(
            !links.contains(&format!(" {}:", self.bridge)),
            "bridge {} left behind",
            self.bridge
        );
        let tables = Command::new("nft")
            .args(["list", "tables"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        assert!(
            !tables.contains(&self.nft_table),
            "nft table {} left behind",
            self.nft_table
        );
    }
}

/// The host's network interfaces, one per line (`ip -o link`).
pub fn host_links() -> String {
    Command::new("ip")
        .args(["-o", "link"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Container cgroups that neither a live container nor a known container directory
/// accounts for. A container's cgroups live inside its monitor's lifetime (the
/// monitor creates them and removes them before it exits), so a cgroup whose id a
/// running `berth monitor` names belongs to a live container of some berth, whatever
/// its state root (other helpers run berths with roots of their own). Beyond that,
/// berth removes a container's cgroups before its directory and creates the
/// directory before the cgroups, so a cgroup with neither a monitor nor a directory
/// in a known root is a leftover even while other tests run containers in parallel.
pub fn orphan_cgroups() -> Vec<PathBuf> {
    // Cgroups first, then the monitors, then whether each cgroup is still there:
    // another berth's container that starts or ends meanwhile (its monitor creates
    // the cgroup after it starts and removes it before it exits) is never taken
    // for a leftover.
    let cgroups = container_cgroups();
    let live = monitored_ids();
    let mut roots: Vec<PathBuf> = vec![PathBuf::from("/var/lib/berth")];
    for e in std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.file_name().to_string_lossy().starts_with("berth-test-") {
            roots.push(e.path().join("root"));
        }
    }
    if let Some(r) = std::env::var_os("BERTH_ROOT") {
        roots.push(PathBuf::from(r));
    }
    cgroups
        .into_iter()
        .filter(|cg| {
            let id = cg.file_name().map(|f| f.to_os_string()).unwrap_or_default();
            !live.contains(&id)
                && !roots
                    .iter()
                    .any(|r| r.join("containers").join(&id).exists())
        })
        .filter(|cg| cg.exists())
        .collect()
}

impl Drop for Berth {
    fn drop(&mut self) {
        // A test that stopped monitors (SIGSTOP) and then failed would leave them
        // stopped for good, holding the database against the `rm -f` below.
        for pid in monitor_processes(&self.root) {
            // SAFETY: kill(2) on this berth's own monitors.
            unsafe { libc::kill(pid, libc::SIGCONT) };
        }
        for id in self.all_ids() {
            let _ = self.run(&["rm", "-f", &id]);
        }
        let check = if std::thread::panicking() {
            // Lingering monitors still need the state to remove their bridges.
            self.wait_monitors_gone();
            Ok(())
        } else {
            // Caught, so a failed check still removes the directory below; re-raised
            // after that.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.assert_no_leftovers()))
        };
        // Kept while something is mounted under it (removing would delete through the
        // mount) or a monitor still uses it; the check reports either.
        if self.mounts_left().is_empty() && monitor_processes(&self.root).is_empty() {
            let _ = std::fs::remove_dir_all(&self.base);
        }
        if let Err(failed) = check {
            std::panic::resume_unwind(failed);
        }
    }
}

/// Calls `probe` every 50 ms until it returns a value (60 s at most; then the
/// test fails saying it waited for `what`): for what berth reaches in its own
/// time.
pub fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    wait_for_last(what, || probe().ok_or_else(String::new))
}

/// [`wait_for`] with a probe that says what it found instead (shown when the
/// wait fails).
pub fn wait_for_last<T>(what: &str, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let last = match probe() {
            Ok(v) => return v,
            Err(last) => last,
        };
        if Instant::now() >= deadline {
            match last.is_empty() {
                true => panic!("waited 60 s for {what}"),
                false => panic!("waited 60 s for {what}; last seen: {last}"),
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether process `pid` has exited: gone, or a zombie. (Not the same as gone
/// from [`monitor_processes`]: a killed process loses its memory, and with it the
/// command line that list reads, before it closes its files and becomes a zombie.)
pub fn has_exited(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z"))
}

/// PIDs of `berth monitor` processes whose BERTH_ROOT is `root`.
pub fn monitor_processes(root: &Path) -> Vec<i32> {
    let want = format!("BERTH_ROOT={}", root.display());
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // The subcommand, not a substring of the whole line: the binary's path may
        // contain "monitor" too (a checkout in .../rv-monitor/), and the torture's
        // monitor killer then killed berth commands.
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if cmd.split(|b| *b == 0).nth(1) != Some(b"monitor".as_slice()) {
            continue;
        }
        let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
        if env.split(|b| *b == 0).any(|kv| kv == want.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

/// The container ids named by running `berth monitor <id>` processes, of any berth.
fn monitored_ids() -> std::collections::HashSet<std::ffi::OsString> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| monitor_id(&std::fs::read(e.path().join("cmdline")).ok()?))
        .collect()
}

/// The id in a `/proc/PID/cmdline` of `.../berth monitor <id> [...]`.
fn monitor_id(cmdline: &[u8]) -> Option<std::ffi::OsString> {
    use std::os::unix::ffi::OsStrExt;
    let mut argv = cmdline.split(|b| *b == 0);
    let exe = Path::new(std::ffi::OsStr::from_bytes(argv.next()?));
    if !exe.ends_with("berth") || argv.next()? != b"monitor" {
        return None;
    }
    let id = argv.next().filter(|id| !id.is_empty())?;
    Some(std::ffi::OsStr::from_bytes(id).to_os_string())
}

/// Every `berth/<id>` cgroup directory in every hierarchy.
pub fn container_cgroups() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for h in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let parent = h.path().join("berth");
        for c in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
            if c.path().is_dir() {
                out.push(c.path());
            }
        }
    }
    out
}

/// Runs `cmd` with `input` on its stdin; returns what it printed.
pub fn output_with_input(mut cmd: Command, input: impl AsRef<[u8]>) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start command");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_ref())
        .expect("write stdin");
    child.wait_with_output().expect("wait for command")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The usual start of an integration test: root and `tools` present (else skip, or
/// fail under CI), an isolated berth, and the busybox image imported as `busybox`.
pub fn busybox_berth(bin: &str, tools: &[&str]) -> Option<Berth> {
    if !require_root_and(tools) {
        return None;
    }
    let b = Berth::new(bin);
    b.import_busybox("busybox", &[r#"CMD ["/bin/sh"]"#]);
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_id_reads_only_berth_monitor_command_lines() {
        let id = |c: &[u8]| monitor_id(c).map(|s| s.to_string_lossy().into_owned());
        assert_eq!(
            id(b"/x/target/debug/berth\0monitor\0abc123\0--attach\0").as_deref(),
            Some("abc123")
        );
        assert_eq!(id(b"berth\0monitor\0abc123\0").as_deref(), Some("abc123"));
        assert_eq!(id(b"/usr/bin/berth\0run\0monitor\0"), None);
        assert_eq!(id(b"/usr/bin/notberth\0monitor\0abc\0"), None);
        assert_eq!(id(b"sh\0-c\0berth monitor abc\0"), None);
        assert_eq!(id(b"/usr/bin/berth\0monitor\0"), None);
        assert_eq!(id(b""), None);
    }
}
