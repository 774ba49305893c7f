//! The container's root directory as a `pathrs` root, for the length of a copy.

use super::CopyError;
use crate::lock::{self, ContainerLock, LockError};
use crate::model::Container;
use crate::store::StoreError;
use crate::{bundle, lifecycle, Engine, EngineError};
use nix::mount::MsFlags;
use pathrs::Root;
use rustix::fs::{Mode, OFlags, CWD};
use std::os::fd::{AsFd, AsRawFd};

pub(super) struct ContainerFs {
    pub root: Root,
    /// "container NAME", for messages.
    pub place: String,
    /// A stopped container's root: its overlay, mounted here (read-only for a
    /// `--read-only` container, as it runs).
    pub stopped: bool,
    /// A stopped container's overlay mount point, unmounted when the copy ends.
    mounted: Option<std::path::PathBuf>,
    /// Held while a stopped container's overlay is mounted for the copy; dropped
    /// after the mount is gone (fields drop in order), so that a start waiting
    /// for it never mounts the same upper directory while this copy's mount lives.
    _lock: Option<ContainerLock>,
}

impl Drop for ContainerFs {
    fn drop(&mut self) {
        if let Some(at) = &self.mounted {
            // Detached now; the overlay itself goes when `root` closes, before
            // the lock does.
            let _ = nix::mount::umount2(at, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// Opens `c`'s root: a running container's through its init's `/proc/PID/root`,
/// a stopped one's overlay mounted in a private mount namespace.
pub(super) fn open(engine: &Engine, c: &Container) -> Result<ContainerFs, EngineError> {
    let dir = engine.paths.container_dir(&c.id);
    let gone = || EngineError::from(StoreError::NotFound(c.name.clone()));
    let held = match lock::lock(&c.id, &dir) {
        Err(LockError::Gone(_)) => return Err(gone()),
        other => other?,
    };
    let now = match engine.container(&c.id) {
        Err(EngineError::Store(StoreError::NotFound(_))) => return Err(gone()),
        other => lifecycle::reconcile_locked(engine, other?)?,
    };
    let place = format!("container {}", now.name);
    if now.is_running() {
        if let Some(root) = running_root(&now) {
            // The handle keeps the container's mounts reachable; a stop or rm
            // meanwhile need not wait for the copy.
            return Ok(ContainerFs {
                root,
                place,
                stopped: false,
                mounted: None,
                _lock: None,
            });
        }
    }
    private_mounts()?;
    let rootfs = engine.paths.rootfs(&now.id);
    for sub in ["upper", "work", "rootfs"] {
        let p = dir.join(sub);
        std::fs::create_dir_all(&p).map_err(|source| EngineError::Io { path: p, source })?;
    }
    bundle::mount_overlay(engine, &now, &dir, &rootfs)?;
    let root = Root::open(&rootfs).map_err(|e| EngineError::Io {
        path: rootfs.clone(),
        source: super::to_io(e),
    })?;
    mount_binds(engine, &now, &root)?;
    if now.spec.read_only {
        read_only(&rootfs)?;
    }
    Ok(ContainerFs {
        root,
        place,
        stopped: true,
        mounted: Some(rootfs),
        _lock: Some(held),
    })
}

/// A stopped container's volumes and bind mounts, at their places in its root (as
/// docker mounts them for a copy), in this process's private namespace. Each
/// destination is resolved inside the root and mounted on through its handle's
/// magic link, so a container's symlink there cannot move a mount onto the host's
/// tree. A destination the container never got (it never started) is made first.
fn mount_binds(engine: &Engine, c: &Container, root: &Root) -> Result<(), EngineError> {
    for b in &c.spec.binds {
        // A volume's own answer: a `device=` volume is its host directory.
        let source = match b.volume {
            true => crate::volumes::get(&engine.paths, &b.source)?.mountpoint(&engine.paths),
            false => std::path::PathBuf::from(&b.source),
        };
        let Some(target) = mount_point(root, &b.destination, source.is_dir()) else {
            continue;
        };
        let target = format!("/proc/self/fd/{}", target.as_fd().as_raw_fd());
        let mount_err = |e: nix::errno::Errno| EngineError::Mount {
            path: b.destination.clone().into(),
            why: format!("binding {} for the copy: {e}", source.display()),
        };
        let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
        nix::mount::mount(
            Some(&source),
            target.as_str(),
            None::<&str>,
            bind,
            None::<&str>,
        )
        .map_err(mount_err)?;
        if b.read_only {
            // The old handle holds the directory under the new mount; the remount
            // needs the mount's own root, found by resolving the path again.
            let on_top = root
                .resolve(&b.destination)
                .map_err(|e| mount_err(nix::errno::Errno::from_raw(errno_of(e))))?;
            let target = format!("/proc/self/fd/{}", on_top.as_fd().as_raw_fd());
            let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
            nix::mount::mount(
                None::<&str>,
                target.as_str(),
                None::<&str>,
                ro,
                None::<&str>,
            )
            .map_err(mount_err)?;
        }
    }
    Ok(())
}

/// Where a bind goes: `dest` inside the root, made (a directory, or an empty file
/// for a file's bind, as the runtime makes it at start) when the container never
/// got it, which is the case until it first starts. `None` when it cannot be
/// there (the image has a file on the way, say): that mount is left out.
fn mount_point(root: &Root, dest: &str, dir: bool) -> Option<pathrs::Handle> {
    use std::os::unix::fs::PermissionsExt;
    match root.resolve(dest).map_err(super::to_io) {
        Ok(h) => return Some(h),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return None,
        Err(_) => {}
    }
    let perm = std::fs::Permissions::from_mode(0o755);
    if dir {
        return root.mkdir_all(dest, &perm).ok();
    }
    let parent = std::path::Path::new(dest).parent()?;
    root.mkdir_all(parent, &perm).ok()?;
    let flags = pathrs::flags::OpenFlags::O_WRONLY | pathrs::flags::OpenFlags::O_NOFOLLOW;
    let file_perm = std::fs::Permissions::from_mode(0o644);
    root.create_file(dest, flags, &file_perm).ok()?;
    root.resolve(dest).ok()
}

fn errno_of(e: pathrs::error::Error) -> i32 {
    super::to_io(e).raw_os_error().unwrap_or(libc::EIO)
}

/// A `--read-only` container's root as it runs: the overlay's own mount made
/// read-only, after its volumes and binds were mounted on it (they keep theirs).
fn read_only(rootfs: &std::path::Path) -> Result<(), EngineError> {
    let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    nix::mount::mount(None::<&str>, rootfs, None::<&str>, ro, None::<&str>).map_err(|e| {
        EngineError::Mount {
            path: rootfs.to_path_buf(),
            why: format!("making the read-only root read-only for the copy: {e}"),
        }
    })
}

/// The root of the container's init, if it is still the process the state names
/// (checked after the open: a pid reused meanwhile is refused). The magic link
/// is followed on purpose (`Root::open` would refuse it as a symlink): it leads
/// to the container's root in the container's mount namespace.
fn running_root(c: &Container) -> Option<Root> {
    let init = c.state.init?;
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(
        CWD,
        format!("/proc/{}/root", init.pid),
        flags,
        Mode::empty(),
    );
    let root = Root::from_fd(fd.ok()?);
    init.is_alive().then_some(root)
}

/// Moves this process into a mount namespace of its own whose mounts never
/// propagate back: the stopped container's overlay, mounted there, is seen by
/// nobody else and goes when the process exits, whatever way it exits.
fn private_mounts() -> Result<(), CopyError> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(CopyError::Namespace)?;
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(CopyError::Namespace)
}
