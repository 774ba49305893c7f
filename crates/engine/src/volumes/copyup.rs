//! docker's copy-up: a volume that is still empty when a container mounts it is
//! first filled with what the container's image has at the mount path, owners,
//! modes and times kept.
//!
//! The path is resolved inside the container's root (`openat2` `RESOLVE_IN_ROOT`
//! via `pathrs`), so an image whose `/data` is a symlink to `/etc` copies its own
//! `/etc`, never the host's. Below it the walk goes by descriptor and follows no
//! link: a directory is opened `O_NOFOLLOW` relative to its parent's descriptor and
//! symlinks are copied as symlinks. Hand-written rather than a copy crate's (fs_extra,
//! walkdir) because those walk by path name from the host's `/`. Hard links stay
//! links, extended attributes (file capabilities, say) are kept where the volume's
//! file system takes them, as docker's copy (continuity's `CopyDir`) does. Devices and
//! sockets are left out: a device node of the image has no business in a host
//! directory.

use super::VolumeError;
use pathrs::flags::OpenFlags;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, Timespec, Timestamps};
use rustix::fs::{Gid, Uid};
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The deepest tree copied; deeper is an error, not a stack overflow.
const MAX_DEPTH: usize = 128;

/// Fills `data` (a volume's `_data`) from `path` inside `rootfs` when `data` is empty
/// and the image has a directory there. Returns whether it copied.
pub fn copy_up(rootfs: &Path, path: &str, data: &Path, name: &str) -> Result<bool, VolumeError> {
    let fail = |why: String| VolumeError::CopyUp {
        name: name.to_string(),
        path: path.to_string(),
        why,
    };
    let dst = rustix::fs::open(
        data,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fail(format!("{}: {e}", data.display())))?;
    if rustix::fs::Dir::read_from(&dst)
        .map_err(|e| fail(e.to_string()))?
        .flatten()
        .any(|e| ![c".", c".."].contains(&e.file_name()))
    {
        return Ok(false);
    }
    let root = pathrs::Root::open(rootfs).map_err(|e| fail(e.to_string()))?;
    let handle = match root.resolve(path) {
        Ok(h) => h,
        Err(_) => return Ok(false), // nothing there: nothing to copy
    };
    let st = rustix::fs::fstat(&handle).map_err(|e| fail(e.to_string()))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Ok(false); // docker copies directories only
    }
    let src: OwnedFd = handle
        .reopen(OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY)
        .map_err(|e| fail(e.to_string()))?
        .into();
    let volume = dst
        .try_clone()
        .map_err(|e| fail(format!("{}: {e}", data.display())))?;
    let mut copier = Copier {
        root: pathrs::Root::from_fd(volume),
        links: HashMap::new(),
    };
    copier
        .copy_dir(src.as_fd(), dst.as_fd(), b"", 0)
        .map_err(|e| fail(e.to_string()))?;
    set_owner_mode(dst.as_fd(), &st).map_err(|e| fail(e.to_string()))?;
    copy_xattrs(src.as_fd(), dst.as_fd());
    Ok(true)
}

/// The walk's state: the volume's root, and where each multiply linked file of the
/// image was first copied (by device and inode), so its other names become links.
struct Copier {
    root: pathrs::Root,
    links: HashMap<(u64, u64), CString>,
}

impl Copier {
    /// Copies the entries of `src` into `dst`, which is `rel` below the root.
    fn copy_dir(
        &mut self,
        src: BorrowedFd,
        dst: BorrowedFd,
        rel: &[u8],
        depth: usize,
    ) -> std::io::Result<()> {
        if depth > MAX_DEPTH {
            return Err(std::io::Error::other(format!(
                "the tree is more than {MAX_DEPTH} directories deep"
            )));
        }
        for entry in rustix::fs::Dir::read_from(src)? {
            let entry = entry?;
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            let st = rustix::fs::statat(src, name, AtFlags::SYMLINK_NOFOLLOW)?;
            let mut path = rel.to_vec();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(name.to_bytes());
            match self.copy_entry(src, dst, name, &path, &st, depth) {
                // Another container filled the volume at the same moment: keep its copy.
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
                other => other?,
            }
            if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
                rustix::fs::utimensat(dst, name, &times(&st), AtFlags::SYMLINK_NOFOLLOW)?;
            }
        }
        Ok(())
    }

    fn copy_entry(
        &mut self,
        src: BorrowedFd,
        dst: BorrowedFd,
        name: &CStr,
        path: &[u8],
        st: &Stat,
        depth: usize,
    ) -> std::io::Result<()> {
        let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let kind = FileType::from_raw_mode(st.st_mode);
        if kind != FileType::Directory && st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key) {
                return self.link(first, dst, name);
            }
            self.links
                .insert(key, CString::new(path).map_err(std::io::Error::other)?);
        }
        match kind {
            FileType::Directory => {
                rustix::fs::mkdirat(dst, name, Mode::from_raw_mode(0o700))?;
                let s = rustix::fs::openat(src, name, dir_flags, Mode::empty())?;
                let d = rustix::fs::openat(dst, name, dir_flags, Mode::empty())?;
                self.copy_dir(s.as_fd(), d.as_fd(), path, depth + 1)?;
                set_owner_mode(d.as_fd(), st)?;
                copy_xattrs(s.as_fd(), d.as_fd());
            }
            FileType::RegularFile => copy_file(src, dst, name, st)?,
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(src, name, Vec::new())?;
                rustix::fs::symlinkat(target.as_c_str(), dst, name)?;
                rustix::fs::chownat(dst, name, uid(st), gid(st), AtFlags::SYMLINK_NOFOLLOW)?;
            }
            FileType::Fifo => copy_fifo(dst, name, st)?,
            _ => {} // devices and sockets: see the module's docs
        }
        Ok(())
    }
}

impl Copier {
    /// `name` in `dst` as another name of the first copy, `first`. The volume may be
    /// a running container's too, which can swap a directory on the way for a
    /// symlink meanwhile: `first` is resolved inside the volume, no link followed
    /// at its end, and the inode that handle holds is linked (by its magic link).
    fn link(&self, first: &CStr, dst: BorrowedFd, name: &CStr) -> std::io::Result<()> {
        let first = std::ffi::OsStr::from_bytes(first.to_bytes());
        let h = self
            .root
            .resolve_nofollow(first)
            .map_err(berth_image::inroot::to_io)?;
        let at = format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&h.as_fd())
        );
        rustix::fs::linkat(
            rustix::fs::CWD,
            at.as_str(),
            dst,
            name,
            AtFlags::SYMLINK_FOLLOW,
        )?;
        Ok(())
    }
}

fn copy_file(src: BorrowedFd, dst: BorrowedFd, name: &CStr, st: &Stat) -> std::io::Result<()> {
    let s = rustix::fs::openat(
        src,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let d = rustix::fs::openat(
        dst,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    let (mut sf, mut df) = (std::fs::File::from(s), std::fs::File::from(d));
    std::io::copy(&mut sf, &mut df)?;
    set_owner_mode(df.as_fd(), st)?;
    // After the chown, which would drop a file capability.
    copy_xattrs(sf.as_fd(), df.as_fd());
    Ok(())
}

fn copy_fifo(dst: BorrowedFd, name: &CStr, st: &Stat) -> std::io::Result<()> {
    rustix::fs::mknodat(dst, name, FileType::Fifo, Mode::from_raw_mode(0o600), 0)?;
    rustix::fs::chownat(dst, name, uid(st), gid(st), AtFlags::SYMLINK_NOFOLLOW)?;
    let f = rustix::fs::openat(
        dst,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    // fchmod does not work on O_PATH; the /proc path of the handle does.
    let proc = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&f));
    rustix::fs::chmod(proc.as_str(), Mode::from_raw_mode(st.st_mode & 0o7777))?;
    Ok(())
}

/// Best effort, as docker's copy: a volume on a file system without extended
/// attributes (or without a namespace of them) still gets the files.
fn copy_xattrs(src: BorrowedFd, dst: BorrowedFd) {
    let Ok(len) = rustix::fs::flistxattr_query(src) else {
        return;
    };
    let mut names = vec![0u8; len];
    let Ok(len) = rustix::fs::flistxattr(src, &mut names[..]) else {
        return;
    };
    for name in names[..len].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let Ok(name) = CString::new(name) else {
            continue;
        };
        let Ok(size) = rustix::fs::fgetxattr_query(src, name.as_c_str()) else {
            continue;
        };
        let mut value = vec![0u8; size];
        if let Ok(n) = rustix::fs::fgetxattr(src, name.as_c_str(), &mut value[..]) {
            let flags = rustix::fs::XattrFlags::empty();
            let _ = rustix::fs::fsetxattr(dst, name.as_c_str(), &value[..n], flags);
        }
    }
}

/// Owner first: chown clears the set-id bits that the mode then puts back.
fn set_owner_mode(fd: BorrowedFd, st: &Stat) -> std::io::Result<()> {
    rustix::fs::fchown(fd, uid(st), gid(st))?;
    rustix::fs::fchmod(fd, Mode::from_raw_mode(st.st_mode & 0o7777))?;
    Ok(())
}

fn uid(st: &Stat) -> Option<Uid> {
    Some(Uid::from_raw(st.st_uid))
}

fn gid(st: &Stat) -> Option<Gid> {
    Some(Gid::from_raw(st.st_gid))
}

fn times(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: st.st_atime as _,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: Timespec {
            tv_sec: st.st_mtime as _,
            tv_nsec: st.st_mtime_nsec as _,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt};

    /// The volume may be another running container's too: what the walk made
    /// (here `d`, holding the first copy of a hard-linked file) can be swapped
    /// for a symlink to the host before the second name is linked to it. The
    /// link is then made inside the volume or not at all, never to the host's file.
    #[test]
    fn a_hard_link_never_reaches_through_a_swapped_in_symlink() {
        let t = tempfile::tempdir().unwrap();
        let (img, vol, host) = (
            t.path().join("img"),
            t.path().join("vol"),
            t.path().join("host"),
        );
        for d in [&img, &vol, &host] {
            std::fs::create_dir(d).unwrap();
        }
        std::fs::write(img.join("f"), "image\n").unwrap();
        std::fs::hard_link(img.join("f"), img.join("g")).unwrap();
        std::fs::write(host.join("f"), "host\n").unwrap();
        symlink(&host, vol.join("d")).unwrap();
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let src = rustix::fs::open(&img, flags, Mode::empty()).unwrap();
        let dst = rustix::fs::open(&vol, flags, Mode::empty()).unwrap();
        let st = rustix::fs::statat(&src, "g", AtFlags::SYMLINK_NOFOLLOW).unwrap();
        let mut copier = Copier {
            root: pathrs::Root::from_fd(dst.try_clone().unwrap()),
            links: HashMap::from([((st.st_dev, st.st_ino), CString::new("d/f").unwrap())]),
        };
        let _ = copier.copy_entry(src.as_fd(), dst.as_fd(), c"g", b"g", &st, 0);
        assert_eq!(
            std::fs::metadata(host.join("f")).unwrap().nlink(),
            1,
            "the host's file got a second name in the volume"
        );
    }
}
