//! Writing one layer entry into its parent directory, by file descriptor.
//!
//! Every call here is an `*at()` call on the parent directory's descriptor with a
//! single path component, and none follows a symlink in that component (`O_NOFOLLOW`,
//! `O_EXCL`, `AT_SYMLINK_NOFOLLOW`, `mknodat`/`symlinkat`/`mkdirat` never follow),
//! so nothing an earlier entry left at that name can redirect a write. Whatever is
//! there is removed first unless both it and the entry are directories, as docker
//! does. Owners, modes, mtimes and extended attributes are set on the open
//! descriptor where there is one.

use super::{clean_relative, UnpackError};
use crate::inroot::to_io;
use pathrs::flags::OpenFlags;
use pathrs::{Root, RootRef};
use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid, XattrFlags};
use std::ffi::OsStr;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Sparse entries expand holes to zeros as they are read; a few header bytes could
/// claim exabytes. Holes are kept as holes on disk, and the expansion is capped.
const MAX_SPARSE_SIZE: u64 = 64 << 30;

/// What the header says about an entry besides its type and content.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<(String, Vec<u8>)>,
}

/// Writes one entry named `name` into `dir`; returns the mtime to set on it at the
/// end when it is a directory.
pub(super) fn entry(
    root: &Root,
    dir: &OwnedFd,
    name: &OsStr,
    entry: &mut tar::Entry<impl Read>,
    shown: &str,
) -> Result<Option<i64>, UnpackError> {
    let kind = entry.header().entry_type();
    let meta = meta(entry, shown)?;
    let err = |error: io::Error| UnpackError::Entry {
        entry: shown.into(),
        error,
    };
    use tar::EntryType as T;
    match kind {
        T::Directory => {
            directory(dir, name, &meta).map_err(err)?;
            return Ok(Some(meta.mtime));
        }
        T::Regular | T::Continuous | T::GNUSparse => regular(dir, name, entry, &meta, shown)?,
        T::Symlink => {
            let target = entry.link_name_bytes().unwrap_or_default().into_owned();
            symlink(dir, name, OsStr::from_bytes(&target), &meta).map_err(err)?
        }
        T::Link => hardlink(root, dir, name, entry, shown)?,
        T::Char | T::Block | T::Fifo => node(dir, name, entry, &meta).map_err(err)?,
        // pax global headers carry comments (git archive puts its commit there).
        T::XGlobalHeader => {}
        other => {
            return Err(UnpackError::Unsupported {
                entry: shown.into(),
                kind: other.as_byte() as char,
            })
        }
    }
    Ok(None)
}

/// A numeric header field left empty (NULs or spaces, as some tar writers leave
/// uid, gid or mtime) reads as 0, as Go's archive/tar (docker) reads it; the tar
/// crate calls it "not a number".
fn or_blank<T: Default>(field: &[u8], parsed: io::Result<T>) -> io::Result<T> {
    match parsed {
        Err(_) if field.iter().all(|&b| b == 0 || b == b' ') => Ok(T::default()),
        other => other,
    }
}

fn meta(entry: &mut tar::Entry<impl Read>, shown: &str) -> Result<Meta, UnpackError> {
    let read = |e: io::Error| UnpackError::Entry {
        entry: shown.into(),
        error: e,
    };
    let h = entry.header();
    let old = h.as_old();
    let mode = or_blank(&old.mode, h.mode()).map_err(read)?;
    let mtime = or_blank(&old.mtime, h.mtime()).map_err(read)?;
    let mut uid = or_blank(&old.uid, h.uid()).map_err(read)?;
    let mut gid = or_blank(&old.gid, h.gid()).map_err(read)?;
    let mut xattrs = Vec::new();
    if let Some(exts) = entry.pax_extensions().map_err(read)? {
        for ext in exts {
            let ext = ext.map_err(read)?;
            let Ok(key) = ext.key() else { continue };
            let number = || std::str::from_utf8(ext.value_bytes()).ok()?.parse().ok();
            match key {
                "uid" => uid = number().unwrap_or(uid),
                "gid" => gid = number().unwrap_or(gid),
                _ => {
                    if let Some(attr) = key.strip_prefix("SCHILY.xattr.") {
                        xattrs.push((attr.to_string(), ext.value_bytes().to_vec()));
                    }
                }
            }
        }
    }
    // u32::MAX is chown's "leave unchanged": the file would stay root's.
    let id = |v: u64| match u32::try_from(v) {
        Ok(n) if n != u32::MAX => Ok(n),
        _ => Err(UnpackError::BadOwner {
            entry: shown.into(),
            id: v,
        }),
    };
    Ok(Meta {
        mode: mode & 0o7777,
        uid: id(uid)?,
        gid: id(gid)?,
        mtime: i64::try_from(mtime).unwrap_or(i64::MAX),
        xattrs,
    })
}

/// Removes what is at `name` unless it is a directory and `keep_dir` is set.
fn clear(dir: &OwnedFd, name: &OsStr, keep_dir: bool) -> io::Result<bool> {
    let stat = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(s) => s,
        Err(rustix::io::Errno::NOENT) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    if FileType::from_raw_mode(stat.st_mode) == FileType::Directory {
        if keep_dir {
            return Ok(true);
        }
        // pathrs removes the tree by descriptor, never following a symlink inside.
        RootRef::from_fd(dir.as_fd())
            .remove_all(name)
            .map_err(to_io)?;
    } else {
        rustix::fs::unlinkat(dir, name, AtFlags::empty())?;
    }
    Ok(false)
}

fn directory(dir: &OwnedFd, name: &OsStr, meta: &Meta) -> io::Result<()> {
    if !clear(dir, name, true)? {
        rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o700))?;
    }
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    finish_fd(&fd, meta)
}

fn regular(
    dir: &OwnedFd,
    name: &OsStr,
    entry: &mut tar::Entry<impl Read>,
    meta: &Meta,
    shown: &str,
) -> Result<(), UnpackError> {
    let sparse = entry.header().entry_type().is_gnu_sparse();
    if sparse && entry.size() > MAX_SPARSE_SIZE {
        return Err(UnpackError::SparseTooLarge {
            entry: shown.into(),
            size: entry.size(),
            max: MAX_SPARSE_SIZE,
        });
    }
    write_regular(dir, name, entry, meta, sparse).map_err(|error| UnpackError::Entry {
        entry: shown.into(),
        error,
    })
}

fn write_regular(
    dir: &OwnedFd,
    name: &OsStr,
    entry: &mut tar::Entry<impl Read>,
    meta: &Meta,
    sparse: bool,
) -> io::Result<()> {
    clear(dir, name, false)?;
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    let mut file = std::fs::File::from(fd);
    if sparse {
        copy_keeping_holes(entry, &mut file)?;
    } else {
        io::copy(entry, &mut file)?;
    }
    finish_fd(&file, meta)?;
    rustix::fs::futimens(&file, &times(meta.mtime))?;
    Ok(())
}

/// Copies, seeking over all-zero blocks instead of writing them.
fn copy_keeping_holes(from: &mut impl Read, to: &mut std::fs::File) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0u64;
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().all(|b| *b == 0) {
            to.seek(SeekFrom::Current(n as i64))?;
        } else {
            to.write_all(&buf[..n])?;
        }
        len += n as u64;
    }
    to.set_len(len)
}

fn symlink(dir: &OwnedFd, name: &OsStr, target: &OsStr, meta: &Meta) -> io::Result<()> {
    clear(dir, name, false)?;
    rustix::fs::symlinkat(target, dir, name)?;
    chown_at(dir, name, meta)?;
    rustix::fs::utimensat(dir, name, &times(meta.mtime), AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
}

fn node(dir: &OwnedFd, name: &OsStr, entry: &tar::Entry<impl Read>, meta: &Meta) -> io::Result<()> {
    let h = entry.header();
    let kind = match h.entry_type() {
        tar::EntryType::Char => FileType::CharacterDevice,
        tar::EntryType::Block => FileType::BlockDevice,
        _ => FileType::Fifo,
    };
    let dev = match kind {
        FileType::Fifo => 0,
        _ => rustix::fs::makedev(
            h.device_major()?.unwrap_or(0),
            h.device_minor()?.unwrap_or(0),
        ),
    };
    clear(dir, name, false)?;
    rustix::fs::mknodat(dir, name, kind, Mode::from_raw_mode(0o600), dev)?;
    chown_at(dir, name, meta)?;
    // The node was made just now by mknodat, which never makes a symlink.
    rustix::fs::chmodat(dir, name, Mode::from_raw_mode(meta.mode), AtFlags::empty())?;
    rustix::fs::utimensat(dir, name, &times(meta.mtime), AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
}

/// A hardlink's target is resolved inside the layer, must exist there and may not be
/// a directory; the link itself is made by `linkat` between two descriptors.
fn hardlink(
    root: &Root,
    dir: &OwnedFd,
    name: &OsStr,
    entry: &tar::Entry<impl Read>,
    shown: &str,
) -> Result<(), UnpackError> {
    let link = entry.link_name_bytes().unwrap_or_default().into_owned();
    let bad = || UnpackError::BadHardlink {
        entry: shown.into(),
        target: String::from_utf8_lossy(&link).into_owned(),
    };
    let rel = clean_relative(&link).map_err(|_| bad())?;
    let target_name = rel.file_name().ok_or_else(bad)?;
    let target_parent = rel.parent().unwrap_or(Path::new(""));
    let target_parent = if target_parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        target_parent
    };
    let target_dir = root
        .open_subpath(target_parent, OpenFlags::O_PATH | OpenFlags::O_DIRECTORY)
        .map_err(|_| bad())?;
    let stat = rustix::fs::statat(&target_dir, target_name, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|_| bad())?;
    if FileType::from_raw_mode(stat.st_mode) == FileType::Directory {
        return Err(bad());
    }
    let make = || -> io::Result<()> {
        clear(dir, name, false)?;
        rustix::fs::linkat(&target_dir, target_name, dir, name, AtFlags::empty())?;
        Ok(())
    };
    make().map_err(|error| UnpackError::Entry {
        entry: shown.into(),
        error,
    })
}

/// A `.wh.NAME` entry: whatever NAME holds in this layer goes, and a 0/0 character
/// device hides NAME in the layers below.
pub(super) fn whiteout(dir: &OwnedFd, hidden: &OsStr) -> io::Result<()> {
    clear(dir, hidden, false)?;
    let dev = rustix::fs::makedev(0, 0);
    rustix::fs::mknodat(dir, hidden, FileType::CharacterDevice, Mode::empty(), dev)?;
    Ok(())
}

pub(super) fn set_opaque(dir: &OwnedFd) -> io::Result<()> {
    rustix::fs::fsetxattr(dir, "trusted.overlay.opaque", b"y", XattrFlags::empty())?;
    Ok(())
}

pub(super) fn set_dir_mtime(root: &Root, rel: &Path, mtime: i64) {
    // A later entry may have replaced the directory by something else: then the
    // open fails (O_NOFOLLOW, O_DIRECTORY) and there is nothing to do.
    let flags = OpenFlags::O_DIRECTORY | OpenFlags::O_NOFOLLOW | OpenFlags::O_RDONLY;
    if let Ok(d) = root.open_subpath(rel, flags) {
        let _ = rustix::fs::futimens(&d, &times(mtime));
    }
}

/// Owner, then mode (a chown clears set-id bits), then extended attributes.
fn finish_fd(fd: &impl AsFd, meta: &Meta) -> io::Result<()> {
    let owner = rustix::fs::fchown(
        fd,
        Some(Uid::from_raw(meta.uid)),
        Some(Gid::from_raw(meta.gid)),
    );
    tolerate_unprivileged(owner)?;
    rustix::fs::fchmod(fd, Mode::from_raw_mode(meta.mode))?;
    for (name, value) in &meta.xattrs {
        // overlayfs reads trusted.overlay.* (redirect, origin, metacopy) to find
        // files in other layers; a layer must not steer that. berth sets the opaque
        // marker itself, from `.wh..wh..opq`.
        if name.starts_with("trusted.overlay.") {
            continue;
        }
        rustix::fs::fsetxattr(fd, name.as_str(), value, XattrFlags::empty())?;
    }
    Ok(())
}

fn chown_at(dir: &OwnedFd, name: &OsStr, meta: &Meta) -> io::Result<()> {
    tolerate_unprivileged(rustix::fs::chownat(
        dir,
        name,
        Some(Uid::from_raw(meta.uid)),
        Some(Gid::from_raw(meta.gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    ))
}

/// Without root (unit tests), files keep the unpacking user as owner.
fn tolerate_unprivileged(r: rustix::io::Result<()>) -> io::Result<()> {
    match r {
        Err(rustix::io::Errno::PERM) if !rustix::process::geteuid().is_root() => Ok(()),
        other => other.map_err(Into::into),
    }
}

fn times(mtime: i64) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}
