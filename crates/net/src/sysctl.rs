//! The sysctls berth's network plumbing writes, on the host and inside containers.
//!
//! `/proc/sys/net` shows the network namespace of whoever looks, and a procfs
//! keeps a cached entry for each namespace that ever looked, all under the same
//! name in the same hash chain. berth used to write a container's sysctls through
//! the host's `/proc` from inside the container's namespace, so each running
//! container left an entry for `net/ipv6` there, and every later lookup below
//! `/proc/sys/net/ipv6` on the host, berth's or any host tool's, compared them all
//! (`proc_sys_compare`): 140 µs per open with 1,000 containers running against
//! 9 µs with none (issue 11). Inside a namespace berth now writes through a procfs
//! instance of its own (`fsopen`), whose entries go when it is closed. (Before
//! Linux 5.8 every procfs of a pid namespace is one superblock, so there the
//! writes are right but the entries stay as before.)
//!
//! Failures are ignored, as `sysctl -e` does: a host without IPv6 has no ipv6
//! files, and the settings are hardening, not what makes the network work.

use rustix::fd::OwnedFd;
use rustix::fs::{openat, Mode, OFlags};
use rustix::mount::{fsconfig_create, fsmount, fsopen, FsMountFlags, FsOpenFlags, MountAttrFlags};

/// Writes `value` to `/proc/sys/{path}` through the host's `/proc`: for the
/// host's own network namespace.
pub fn write_host(path: &str, value: &str) {
    let _ = std::fs::write(format!("/proc/sys/{path}"), value);
}

/// The sysctls of the network namespace of the thread that opened it.
pub struct NetnsSysctls {
    /// A detached procfs mount; None where `fsopen` is missing (Linux < 5.2) or
    /// refused, and writes go through the host's `/proc`.
    procfs: Option<OwnedFd>,
}

impl NetnsSysctls {
    /// Call it inside the namespace: the instance shows the namespace of the
    /// thread that looks up its files, so it is written from there too.
    pub fn open() -> Self {
        Self {
            procfs: private_procfs().ok(),
        }
    }

    /// Writes `value` to `sys/{path}` of this namespace. Refused through the
    /// instance (a security module, say), it is written through the host's
    /// `/proc`, which shows this thread's namespace too.
    pub fn write(&self, path: &str, value: &str) {
        if let Some(root) = &self.procfs {
            let written = write_at(root, &format!("sys/{path}"), value);
            if matches!(written, Ok(()) | Err(rustix::io::Errno::NOENT)) {
                return;
            }
        }
        write_host(path, value);
    }

    #[cfg(test)]
    fn read(&self, path: &str) -> Option<String> {
        let root = self.procfs.as_ref()?;
        let fd = openat(
            root,
            format!("sys/{path}"),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let mut buf = [0u8; 64];
        let n = rustix::io::read(&fd, &mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }
}

/// A procfs mounted nowhere, reachable only through the returned descriptor,
/// which is closed on exec: nothing berth runs later inherits it.
fn private_procfs() -> rustix::io::Result<OwnedFd> {
    let fs = fsopen("proc", FsOpenFlags::FSOPEN_CLOEXEC)?;
    fsconfig_create(&fs)?;
    let attrs = MountAttrFlags::MOUNT_ATTR_NOSUID
        | MountAttrFlags::MOUNT_ATTR_NODEV
        | MountAttrFlags::MOUNT_ATTR_NOEXEC;
    fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)
}

fn write_at(root: &OwnedFd, path: &str, value: &str) -> rustix::io::Result<()> {
    let flags = OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let fd = openat(root, path, flags, Mode::empty())?;
    rustix::io::write(&fd, value.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_land_in_the_namespace_of_the_thread_that_opened() {
        // Needs CAP_SYS_ADMIN (the tests run as root); without it there is no
        // namespace of the test's own to write in.
        let ttl = "net/ipv4/ip_default_ttl";
        let hosts = std::fs::read_to_string(format!("/proc/sys/{ttl}")).unwrap();
        let other = if hosts.trim() == "63" { "62" } else { "63" };
        let inside = std::thread::spawn(move || {
            // SAFETY: unshare(2) of this thread's own network namespace; the
            // thread ends with the test.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return None;
            }
            let sysctls = NetnsSysctls::open();
            sysctls.procfs.as_ref()?;
            sysctls.write(ttl, other);
            sysctls.read(ttl)
        })
        .join()
        .unwrap();
        let now = std::fs::read_to_string(format!("/proc/sys/{ttl}")).unwrap();
        if now != hosts {
            std::fs::write(format!("/proc/sys/{ttl}"), hosts.trim()).unwrap();
            panic!("the host's {ttl} was changed to {now:?}");
        }
        match inside {
            Some(value) => assert_eq!(value.trim(), other),
            None => assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "no network namespace or procfs of the test's own"
            ),
        }
    }
}
