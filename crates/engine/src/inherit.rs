//! What a berth process inherits from its caller and must not hand on to containers.
//!
//! * Open descriptors beyond 0/1/2: a shell's `3</etc/x` stays open across exec.
//!   berth opens everything with O_CLOEXEC itself; inherited descriptors are marked
//!   close-on-exec at start, so no monitor, runtime or container gets them.
//! * Socket activation (`LISTEN_FDS`): libcontainer reads it in the process that
//!   creates a container and passes that many descriptors after 0/1/2 into it, with
//!   `LISTEN_FDS`/`LISTEN_PID` in its environment (runc does the same). berth takes no
//!   sockets from systemd, so the variables are dropped at start.
//! * The caller's environment: the monitor outlives the command that started it and
//!   needs only PATH and the berth settings it reads ([`monitor_env`]).

use std::ffi::{OsStr, OsString};

/// Environment variables the monitor reads; everything else of the caller's
/// environment stays behind. (The monitor's own `BERTH_ROOT`, `BERTH_RUNROOT` and
/// `BERTH_SYNC_FD` are set by the spawner.) A setting the monitor starts to read
/// must be added here.
const MONITOR_ENV: &[&str] = &[
    "PATH",
    "BERTH_BRIDGE",
    "BERTH_SUBNET",
    "BERTH_NFT_TABLE",
    "BERTH_NET_LINGER_MS",
];

/// Used when the caller has no PATH: the monitor still finds `nft` and runtimes.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Variables of systemd's socket activation protocol.
const SOCKET_ACTIVATION: &[&str] = &["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"];

/// First thing every berth process does (before any thread exists): inherited
/// descriptors become close-on-exec, socket-activation variables go.
pub fn sanitize_at_start() {
    mark_inherited_cloexec();
    for var in SOCKET_ACTIVATION {
        // Single-threaded at this point, so changing the environment is sound.
        std::env::remove_var(var);
    }
}

/// Sets FD_CLOEXEC on every descriptor from 3 up.
fn mark_inherited_cloexec() {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes descriptor flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return;
    }
    // Kernels before 5.11 lack CLOSE_RANGE_CLOEXEC: walk /proc/self/fd instead.
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: fcntl on a descriptor number; a stale one (the directory's own)
        // just fails with EBADF.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
}

/// The monitor's environment, from the caller's: only [`MONITOR_ENV`], with a
/// default PATH when the caller has none.
pub fn monitor_env(
    caller: impl IntoIterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = caller
        .into_iter()
        .filter(|(k, _)| MONITOR_ENV.iter().any(|m| OsStr::new(m) == k))
        .collect();
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        list.iter().map(|(k, v)| (k.into(), v.into())).collect()
    }

    #[test]
    fn monitor_keeps_only_what_it_reads() {
        let env = monitor_env(vars(&[
            ("PATH", "/bin"),
            ("LISTEN_FDS", "2"),
            ("LISTEN_PID", "1"),
            ("BERTH_TEST_CANARY", "x"),
            ("BERTH_BRIDGE", "br9"),
            ("HOME", "/root"),
            ("SSH_AUTH_SOCK", "/tmp/agent"),
        ]));
        assert_eq!(env, vars(&[("PATH", "/bin"), ("BERTH_BRIDGE", "br9")]));
    }

    #[test]
    fn monitor_gets_a_path_when_the_caller_has_none() {
        assert_eq!(monitor_env(vars(&[])), vars(&[("PATH", DEFAULT_PATH)]));
    }
}
