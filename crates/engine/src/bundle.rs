//! Turns a stored container into an OCI bundle on disk at start: overlay rootfs,
//! generated /etc files, volume directories, config.json. And takes it apart again.

use crate::model::Container;
use crate::networking;
use crate::oci::systemd::{container_uuid, SystemdFiles, JOURNALD_CONSOLE};
use crate::oci::{self, BundleInputs, HostFacts};
use crate::users::resolve_user;
use crate::{Engine, EngineError};
use berth_image::inroot::{Follow, InRoot};
use berth_net::Attachment;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::path::{Path, PathBuf};

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> EngineError + '_ {
    move |source| EngineError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Mounts the rootfs and writes config.json. Undo with [`teardown`].
/// Returns the container's network attachments (its bridge network's first).
pub fn prepare(engine: &Engine, c: &Container) -> Result<Vec<Attachment>, EngineError> {
    let dir = engine.paths.container_dir(&c.id);
    let rootfs = engine.paths.rootfs(&c.id);
    for sub in ["upper", "work", "rootfs"] {
        let p = dir.join(sub);
        std::fs::create_dir_all(&p).map_err(io_at(&p))?;
    }
    mount_overlay(engine, c, &dir, &rootfs)?;
    let result = write_bundle(engine, c, &dir, &rootfs);
    if result.is_err() {
        teardown(engine, &c.id);
        networking::disconnect(engine, c);
    }
    result
}

pub(crate) fn mount_overlay(
    engine: &Engine,
    c: &Container,
    dir: &Path,
    rootfs: &Path,
) -> Result<(), EngineError> {
    if is_mountpoint(rootfs) {
        return Ok(()); // left by a crashed monitor; reuse it
    }
    let lowers = engine.images.lower_dirs(&c.image_id)?;
    let lower: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        dir.join("upper").display(),
        dir.join("work").display()
    );
    let mount_with = |data: &str| {
        mount(
            Some("overlay"),
            rootfs,
            Some("overlay"),
            MsFlags::empty(),
            Some(data),
        )
    };
    // A `--rm` container's upper directory is deleted when it exits, so nothing in
    // it needs to reach the disk: overlayfs's `volatile` (Linux 5.10) skips the
    // sync of the upper filesystem at unmount, which otherwise waits for the disk
    // on every `run --rm` (podman does the same for `--rm`). A volatile mount
    // leaves `$workdir/work/incompat/volatile` behind, which makes overlayfs
    // refuse a later mount of the same directories; a restarted `--rm` container
    // gets that marker cleared first, since its upper directory is disposable.
    let result = if c.spec.auto_remove {
        let _ = std::fs::remove_dir_all(dir.join("work/work/incompat"));
        match mount_with(&format!("{data},volatile")) {
            Err(nix::errno::Errno::EINVAL) => mount_with(&data), // kernel before 5.10
            other => other,
        }
    } else {
        mount_with(&data)
    };
    result.map_err(|e| EngineError::Mount {
        path: rootfs.to_path_buf(),
        why: e.to_string(),
    })
}

fn write_bundle(
    engine: &Engine,
    c: &Container,
    dir: &Path,
    rootfs: &Path,
) -> Result<Vec<Attachment>, EngineError> {
    let att = networking::reserve(engine, c)?;
    write_etc_files(engine, c, dir, &att)?;
    let netns = networking::shared_netns(engine, c)?;
    let bind_sources = bind_sources(engine, c, rootfs)?;
    let user = resolve_user(rootfs, &c.spec.user)?;
    ensure_workdir(rootfs, &c.spec.workdir, &user)?;
    let host = HostFacts::from_host(c.spec.privileged);
    let resolved = crate::hostresolve::resolve(engine, c, rootfs)?;
    let notify = notify_socket_path(engine, &c.id);
    let (manager, os_release, journald) = (
        dir.join("container-manager"),
        dir.join("os-release"),
        dir.join("journald-console.conf"),
    );
    if c.spec.systemd {
        prepare_systemd_files(c, dir, rootfs)?;
    }
    let systemd = c.spec.systemd.then(|| SystemdFiles {
        container_manager: &manager,
        os_release: &os_release,
        notify_socket: &notify,
        journald_dropin: &journald,
    });
    let config = oci::build_config(&BundleInputs {
        id: &c.id,
        spec: &c.spec,
        container_dir: dir,
        user: &user,
        bind_sources: &bind_sources,
        host: &host,
        systemd,
        netns: netns.as_deref(),
        resolved: &resolved,
    })?;
    // It holds the container's environment (-e values): root's alone. Compact, as
    // docker and podman write it: with docker's seccomp profile a pretty one is
    // three times the size, and the runtime reads it back at every start.
    let path = dir.join("config.json");
    crate::paths::write_private(&path, &serde_json::to_vec(&config).unwrap_or_default())
        .map_err(io_at(&path))?;
    Ok(att)
}

/// Where the monitor serves sd_notify for this container.
pub fn notify_socket_path(engine: &Engine, id: &str) -> PathBuf {
    engine.paths.run_dir(id).join("notify.sock")
}

/// The files systemd mode binds into the container, and a machine-id of its own.
fn prepare_systemd_files(c: &Container, dir: &Path, rootfs: &Path) -> Result<(), EngineError> {
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(io_at(&p))
    };
    write("container-manager", "berth\n")?;
    let os_release = ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    write("os-release", &os_release)?;
    write("journald-console.conf", JOURNALD_CONSOLE)?;
    fresh_machine_id(c, dir, rootfs)
}

/// An image that ships a machine-id would give every container the same one; the
/// first start writes the container's own (from its uuid) into its upper layer.
/// Both places are reached inside their own roots ([`InRoot`]): an image whose /etc
/// links to the host's /etc writes nothing on the host. A machine-id that is not a
/// plain file, or that cannot be read safely, is left for systemd to judge.
fn fresh_machine_id(c: &Container, dir: &Path, rootfs: &Path) -> Result<(), EngineError> {
    const MACHINE_ID: &str = "etc/machine-id";
    let upper = InRoot::open(&dir.join("upper"))?;
    if upper.exists(MACHINE_ID, Follow::No).unwrap_or(true) {
        return Ok(()); // set on an earlier start, or by the container itself
    }
    let root = InRoot::open(rootfs)?;
    let Ok(Some(shipped)) = root.read(MACHINE_ID, Follow::No, 4096) else {
        return Ok(());
    };
    let shipped = String::from_utf8_lossy(&shipped);
    let shipped = shipped.trim();
    if shipped.is_empty() || shipped == "uninitialized" {
        return Ok(()); // systemd derives one from container_uuid
    }
    let own = format!("{}\n", container_uuid(&c.id));
    root.overwrite(MACHINE_ID, Follow::No, own.as_bytes())?;
    Ok(())
}

/// Docker creates a missing WORKDIR owned by the container's user; it is made
/// inside the rootfs whatever links the image has on the way.
fn ensure_workdir(
    rootfs: &Path,
    workdir: &str,
    user: &crate::users::ResolvedUser,
) -> Result<(), EngineError> {
    if workdir.is_empty() || workdir == "/" {
        return Ok(());
    }
    let workdir_err = |error| EngineError::Workdir {
        workdir: workdir.to_string(),
        error,
    };
    InRoot::open(rootfs)
        .and_then(|root| root.create_dir_all(workdir, 0o755, Some((user.uid, user.gid))))
        .map_err(workdir_err)?;
    Ok(())
}

fn write_etc_files(
    engine: &Engine,
    c: &Container,
    dir: &Path,
    att: &[Attachment],
) -> Result<(), EngineError> {
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(io_at(&p))
    };
    write("hostname", format!("{}\n", c.spec.hostname))?;
    write("hosts", networking::hosts_text(engine, c, att))?;
    write("resolv.conf", networking::resolv_text(c))
}

/// Host paths for the binds: a volume's mount point (made if a container created
/// before volumes had metadata lost it), filled from the image while it is empty
/// (docker's copy-up); host paths must exist (docker creates them; we refuse, so a
/// typo does not silently create an empty directory on the host).
fn bind_sources(
    engine: &Engine,
    c: &Container,
    rootfs: &Path,
) -> Result<Vec<PathBuf>, EngineError> {
    use crate::volumes;
    // Shared, like create's: a prune's sweep of half-made volumes waits for us.
    let _volumes = match c.spec.binds.iter().any(|b| b.volume) {
        true => Some(volumes::lock_shared(&engine.paths)?),
        false => None,
    };
    c.spec
        .binds
        .iter()
        .map(|b| {
            if b.volume {
                let (vol, _) = volumes::create(
                    &engine.paths,
                    &b.source,
                    &volumes::VolumeRequest::default(),
                    false,
                )?;
                let data = vol.mountpoint(&engine.paths);
                if !vol.owns_data() && !data.is_dir() {
                    return Err(volumes::VolumeError::DeviceGone {
                        name: vol.name,
                        device: data,
                    }
                    .into());
                }
                if vol.owns_data() && !b.no_copy {
                    std::fs::create_dir_all(&data).map_err(io_at(&data))?;
                    volumes::copy_up(rootfs, &b.destination, &data, &vol.name)?;
                }
                Ok(data)
            } else {
                let p = PathBuf::from(&b.source);
                if !p.exists() {
                    return Err(EngineError::Invalid(format!(
                        "bind source path {} does not exist on the host; create it first",
                        b.source
                    )));
                }
                Ok(p)
            }
        })
        .collect()
}

/// The container's rootfs as the host reaches it: its overlay is mounted only in
/// its monitor's mount namespace ([`crate::mountns`]), so while the monitor runs
/// the path goes through the monitor's root; otherwise it is the bare directory
/// (nothing mounted there).
pub fn host_view(engine: &Engine, c: &Container) -> PathBuf {
    let rootfs = engine.paths.rootfs(&c.id);
    match c.state.monitor.filter(|m| m.is_alive()) {
        Some(m) => crate::mountns::path_in(m.pid, &rootfs),
        None => rootfs,
    }
}

/// Unmounts the rootfs. Safe to call when nothing is mounted.
pub fn teardown(engine: &Engine, id: &str) {
    let rootfs = engine.paths.rootfs(id);
    if is_mountpoint(&rootfs) {
        let _ = umount2(&rootfs, MntFlags::MNT_DETACH);
    }
}

/// Whether something is mounted on `path` (not followed if it is a symlink). One
/// `statx` (Linux 5.8 reports the root of a mount), not a read of the whole mount
/// table, which this runs on at every start and exit; the table is read only
/// where the kernel does not say.
pub fn is_mountpoint(path: &Path) -> bool {
    match mount_root_attribute(path) {
        Some(is_root) => is_root,
        None => listed_in_mountinfo(path),
    }
}

/// `STATX_ATTR_MOUNT_ROOT` of `path`; `None` when the kernel does not report it.
fn mount_root_attribute(path: &Path) -> Option<bool> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: a zeroed statx is valid; the kernel fills it for a NUL-terminated path.
    let mut buf: libc::statx = unsafe { std::mem::zeroed() };
    let flags = libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT;
    // SAFETY: as above; `buf` outlives the call.
    if unsafe { libc::statx(libc::AT_FDCWD, c_path.as_ptr(), flags, 0, &mut buf) } != 0 {
        return Some(false); // nothing there, nothing mounted there
    }
    let known = buf.stx_attributes_mask & libc::STATX_ATTR_MOUNT_ROOT as u64 != 0;
    known.then_some(buf.stx_attributes & libc::STATX_ATTR_MOUNT_ROOT as u64 != 0)
}

fn listed_in_mountinfo(path: &Path) -> bool {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let target = path.display().to_string();
    mounts
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(target.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_roots_are_told_from_plain_directories_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("to-root");
        std::os::unix::fs::symlink("/", &link).unwrap();
        for (path, want) in [
            (Path::new("/"), true),
            (Path::new("/proc"), true),
            (dir.path(), false),
            (&dir.path().join("missing"), false),
            (&link, false), // not followed
        ] {
            assert_eq!(is_mountpoint(path), want, "{}", path.display());
        }
        // The mount table agrees where both can tell.
        for path in [Path::new("/proc"), dir.path()] {
            assert_eq!(is_mountpoint(path), listed_in_mountinfo(path));
        }
    }
}
