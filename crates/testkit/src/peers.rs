//! Other engines beside berth, for interop tests and benches: podman and Debian's
//! dockerd, each with state of its own under one temporary directory, so a test
//! neither sees nor disturbs the host's images, containers or daemons.
//!
//! This host mounts cgroup v1 in the hybrid layout, which crun refuses: podman runs
//! with runc and the cgroupfs manager (its own `containers.conf` says so, as
//! bench/lib.sh does). dockerd gets its own data and exec roots, socket, pid file
//! and config file, no bridge and no iptables rules. Containers of either engine go
//! under a cgroup parent named for the test, so what they leave in the cgroup tree
//! is known and removed. On drop: containers removed, the daemon stopped by its PID
//! (and its managed containerd, should it outlive it), mounts under the state
//! directory detached, the directory and cgroups removed, and the few directories
//! they make at fixed host paths removed when they were new and are empty.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh state directory `$TMPDIR/berth-TAG-PID-N` and the cgroup parent name
/// `berth-TAG-PID-N` that goes with it.
fn state_dir(tag: &str) -> (PathBuf, String) {
    let name = format!(
        "berth-{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let dir = std::env::temp_dir().join(&name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    (dir, name)
}

/// Runs `cmd`, asserts success, returns trimmed stdout.
fn ok(what: &str, mut cmd: Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} {:?} failed with {:?}\nstdout: {}\nstderr: {}",
        cmd.get_args().collect::<Vec<_>>(),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// podman with private storage and settings.
pub struct Podman {
    dir: PathBuf,
    cgroup_parent: String,
    host_dirs: HostDirs,
}

impl Podman {
    pub fn new() -> Self {
        let (dir, cgroup_parent) = state_dir("podman");
        // podman raises a root container's open-files and process limits to
        // 1048576, above the hard limits this host gives its processes (no
        // CAP_SYS_RESOURCE to raise them): runc then fails with EPERM. Containers
        // get the test's own limits, the process limit at most 32768: more is
        // refused the same way here, though the test's own limit is higher (the
        // limit podman hands conmon, seen in its /proc/PID/limits, is what runc
        // gets; bench/run-latency.sh uses the same figure).
        let conf = format!(
            "[containers]\ndefault_ulimits = [\"nofile={}\", \"nproc={}\"]\n\
             [engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"none\"\n\
             tmp_dir = \"{d}/tmp\"\nvolume_path = \"{d}/volumes\"\nstatic_dir = \"{d}/static\"\n\
             [network]\nnetwork_config_dir = \"{d}/networks\"\n",
            own_limit(libc::RLIMIT_NOFILE, libc::RLIM_INFINITY),
            own_limit(libc::RLIMIT_NPROC, 32768),
            d = dir.display()
        );
        std::fs::write(dir.join("containers.conf"), conf).unwrap();
        // Made whatever the settings: netavark's run directory and runc's default
        // state root (podman gives rootful runc no --root).
        let host_dirs = HostDirs::note(&["/run/containers/networks", "/run/runc"]);
        Podman {
            dir,
            cgroup_parent,
            host_dirs,
        }
    }

    /// `podman ARGS` on this podman's state; stdin closed.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("runroot"))
            .args(args)
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run podman")
    }

    /// Runs and asserts success; returns trimmed stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        ok("podman", self.command(args))
    }

    /// `podman run --rm` with what a container needs on this host (no network,
    /// this podman's cgroup parent), then `args` (image and command).
    pub fn run_rm(&self, args: &[&str]) -> String {
        let parent = format!("/{}", self.cgroup_parent);
        let mut all = vec![
            "run",
            "--rm",
            "--network",
            "none",
            "--cgroup-parent",
            &parent,
        ];
        all.extend(args);
        self.ok(&all)
    }

    /// A path inside this podman's state directory (for archives).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Default for Podman {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "-af", "-t", "0"]);
        let _ = self.run(&["rmi", "-af"]);
        remove_state(&self.dir, &self.cgroup_parent);
        self.host_dirs.remove_new_empty();
    }
}

/// Debian's dockerd (package docker.io) on a private socket.
pub struct Dockerd {
    dir: PathBuf,
    cgroup_parent: String,
    sock: String,
    child: Child,
    host_dirs: HostDirs,
}

impl Dockerd {
    /// Starts the daemon and waits (60 s at most) until it answers.
    pub fn start() -> Self {
        let (dir, cgroup_parent) = state_dir("dockerd");
        let sock = format!("unix://{}", dir.join("docker.sock").display());
        // Without this, dockerd 20.10 writes its trust key to /etc/docker/key.json.
        let config = format!(
            r#"{{"deprecated-key-path": "{}"}}"#,
            dir.join("key.json").display()
        );
        std::fs::write(dir.join("daemon.json"), config).unwrap();
        // Fixed paths no flag moves: the plugin socket directory, and the
        // directory of containerd's shim sockets.
        let host_dirs = HostDirs::note(&["/run/docker/plugins", "/run/containerd/s"]);
        let log = std::fs::File::create(dir.join("log")).unwrap();
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .args(["-H", &sock])
            .args(["--bridge=none", "--iptables=false", "--ip6tables=false"])
            .args(["--exec-opt", "native.cgroupdriver=cgroupfs"])
            .arg(format!("--cgroup-parent=/{cgroup_parent}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start dockerd (apt-get install docker.io)");
        let d = Dockerd {
            dir,
            cgroup_parent,
            sock,
            child,
            host_dirs,
        };
        d.wait_ready();
        d
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let out = self.command(&["version"]).output();
            if out.is_ok_and(|o| o.status.success()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("dockerd did not answer on {}: {}", self.sock, self.log());
    }

    /// `docker -H SOCKET ARGS`; stdin closed.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.args(["-H", &self.sock]).args(args).stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run docker")
    }

    /// Runs and asserts success; returns trimmed stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        ok("docker", self.command(args))
    }

    /// `docker run --rm --network none ARGS` (the daemon has no bridge).
    pub fn run_rm(&self, args: &[&str]) -> String {
        let mut all = vec!["run", "--rm", "--network", "none"];
        all.extend(args);
        self.ok(&all)
    }

    /// A path inside this daemon's state directory (for archives).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// What the daemon logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// The containerd that dockerd started for itself (it stops it on SIGTERM;
    /// this is for the case it did not).
    fn containerd_pid(&self) -> Option<i32> {
        let p = self.dir.join("exec/containerd/containerd.pid");
        std::fs::read_to_string(p).ok()?.trim().parse().ok()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let ids = self.run(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.run(&["rm", "-f", id]);
        }
        let containerd = self.containerd_pid();
        stop_by_pid(&mut self.child, Duration::from_secs(30));
        if let Some(pid) = containerd {
            // SAFETY: kill(2) with signal 0 only probes; SIGKILL goes to the
            // containerd whose pid this daemon's own state recorded.
            if unsafe { libc::kill(pid, 0) } == 0 {
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        remove_state(&self.dir, &self.cgroup_parent);
        self.host_dirs.remove_new_empty();
    }
}

/// Host directories an engine makes at fixed paths. Each one (and each parent up
/// to the first that existed) that was not there when the engine started is
/// removed on drop, but only while empty: another engine on this host may be
/// using it by then.
struct HostDirs(Vec<PathBuf>);

impl HostDirs {
    fn note(paths: &[&str]) -> Self {
        let mut new = Vec::new();
        for p in paths {
            let mut cur = Some(Path::new(p));
            while let Some(dir) = cur.filter(|d| !d.exists()) {
                new.push(dir.to_path_buf());
                cur = dir.parent();
            }
        }
        HostDirs(new)
    }

    fn remove_new_empty(&self) {
        // Listed deepest first for each path: a child goes before its parent.
        for d in &self.0 {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// This process's `soft:hard` limit, each at most `cap`, as podman's `--ulimit`
/// spells it.
fn own_limit(resource: libc::__rlimit_resource_t, cap: libc::rlim_t) -> String {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    unsafe { libc::getrlimit(resource, &mut l) };
    let show = |v: libc::rlim_t| match v.min(cap) {
        libc::RLIM_INFINITY => "-1".to_string(),
        v => v.to_string(),
    };
    format!("{}:{}", show(l.rlim_cur), show(l.rlim_max))
}

/// SIGTERM, then SIGKILL after `grace`; reaps the child.
fn stop_by_pid(child: &mut Child, grace: Duration) {
    // SAFETY: kill(2) on a child this process started and has not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Detaches every mount under `dir` (deepest first), removes `dir`, and removes
/// the cgroup `parent` (children first) from every hierarchy.
fn remove_state(dir: &Path, cgroup_parent: &str) {
    for m in mounts_under(dir) {
        let c = std::ffi::CString::new(m.into_os_string().into_encoded_bytes()).unwrap();
        // SAFETY: umount2 of a path under this engine's own state directory.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
    let _ = std::fs::remove_dir_all(dir);
    for h in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        remove_cgroup_tree(&h.path().join(cgroup_parent));
    }
}

/// Mount points at or below `dir`, deepest first.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> PathBuf {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// rmdir of a cgroup directory and its children (a cgroup's files go with it).
fn remove_cgroup_tree(cg: &Path) {
    let Ok(entries) = std::fs::read_dir(cg) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup_tree(&e.path());
        }
    }
    let _ = std::fs::remove_dir(cg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_read_back() {
        assert_eq!(
            unescape_mountinfo(r"/tmp/a\040b\134c"),
            PathBuf::from("/tmp/a b\\c")
        );
        assert_eq!(unescape_mountinfo("/plain"), PathBuf::from("/plain"));
        assert_eq!(unescape_mountinfo(r"/end\04"), PathBuf::from(r"/end\04"));
    }

    #[test]
    fn only_new_empty_host_dirs_are_removed() {
        let base = crate::Scratch::new("hostdirs-unit");
        let old = base.path().join("old");
        std::fs::create_dir(&old).unwrap();
        let (a, b) = (old.join("a/b"), old.join("kept"));
        let dirs = HostDirs::note(&[a.to_str().unwrap(), b.to_str().unwrap()]);
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(b.join("busy")).unwrap();
        dirs.remove_new_empty();
        assert!(!old.join("a").exists(), "new and empty: removed");
        assert!(b.join("busy").exists(), "not empty: kept");
        assert!(old.exists(), "there before: kept");
    }
}
