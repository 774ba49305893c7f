//! A tar stream extracted into a directory that is treated as `/` for every entry.
//!
//! Entry names are cleaned lexically first (one that climbs above the destination
//! is refused, as docker's untar refuses it); then each entry's parent is resolved
//! inside the destination (`RESOLVE_IN_ROOT`, through `pathrs`) and the entry is
//! made with `*at` calls that never follow its last component. A symlink in the
//! archive, or one the container puts there while the copy runs, can send a later
//! entry elsewhere inside the destination, never out of it.

use super::plan::clean_entry;
use super::CopyError;
use berth_image::inroot::to_io;
use pathrs::flags::OpenFlags;
use pathrs::{Handle, InodeType, Root};
use rustix::fs::{AtFlags, FileType, Gid, Mode, Timestamps, Uid, CWD};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

#[derive(Debug, Clone, Copy)]
pub struct ExtractOptions {
    /// Every entry's owner; `None` keeps the archive's (`cp -a`).
    pub owner: Option<(u32, u32)>,
    /// Make device nodes (into a container, as docker does); otherwise they are
    /// skipped, so a container's device node never lands on the host.
    pub devices: bool,
}

/// Extracts `input` into `dest` (the destination directory as a root). `place`
/// names the destination in errors.
pub fn extract(
    dest: &Root,
    input: impl Read,
    opts: ExtractOptions,
    place: &str,
) -> Result<(), CopyError> {
    let x = Extractor { dest, opts, place };
    let mut archive = tar::Archive::new(input);
    let mut dir_times = Vec::new();
    for entry in archive.entries().map_err(CopyError::Stream)? {
        let mut entry = entry.map_err(CopyError::Stream)?;
        let name = clean_entry(&entry.path_bytes())?;
        if name.as_os_str().is_empty() {
            continue; // the archive's `./`: the destination itself
        }
        if let Some(mtime) = x.entry(&name, &mut entry)? {
            dir_times.push((name, mtime));
        }
    }
    // Directories last, deepest first: their entries changed their times meanwhile.
    for (name, mtime) in dir_times.iter().rev() {
        if let Ok(h) = dest.resolve_nofollow(name) {
            let _ = set_times(&h, *mtime);
        }
    }
    Ok(())
}

/// What an entry says of its inode beside its kind.
struct Meta {
    mode: u32,
    owner: (u32, u32),
    mtime: u64,
}

/// Until the entry's own mode is set, nobody else may use what is being made.
fn private() -> std::fs::Permissions {
    std::fs::Permissions::from_mode(0o700)
}

struct Extractor<'a> {
    dest: &'a Root,
    opts: ExtractOptions,
    place: &'a str,
}

impl Extractor<'_> {
    fn io(&self, path: &Path, error: std::io::Error) -> CopyError {
        CopyError::Io {
            path: Path::new("/").join(path).to_string_lossy().into_owned(),
            place: self.place.to_string(),
            error,
        }
    }

    /// Makes one entry; returns a directory's mtime, applied at the end.
    fn entry<R: Read>(
        &self,
        name: &Path,
        entry: &mut tar::Entry<R>,
    ) -> Result<Option<u64>, CopyError> {
        let h = entry.header();
        let meta = Meta {
            mode: h.mode().map_err(CopyError::Stream)? & 0o7777,
            owner: match self.opts.owner {
                Some(o) => o,
                None => (
                    h.uid().map_err(CopyError::Stream)? as u32,
                    h.gid().map_err(CopyError::Stream)? as u32,
                ),
            },
            mtime: h.mtime().unwrap_or(0),
        };
        let parent = name.parent().unwrap_or(Path::new(""));
        let perm = std::fs::Permissions::from_mode(0o755);
        self.dest
            .mkdir_all(parent, &perm)
            .map_err(|e| self.io(parent, to_io(e)))?;
        let existing = self.existing(name)?;
        if h.entry_type() == tar::EntryType::Directory {
            if existing != Some(FileType::Directory) {
                self.remove(name, existing)?;
                self.create(name, &InodeType::Directory(private()))?;
            }
            let h = self.handle(name)?;
            self.set_meta(name, &h, meta.owner, meta.mode)?;
            return Ok(Some(meta.mtime));
        }
        if existing == Some(FileType::Directory) {
            return Err(CopyError::OverwriteDirectory {
                path: Path::new("/").join(name).to_string_lossy().into_owned(),
                place: self.place.to_string(),
            });
        }
        self.remove(name, existing)?;
        self.non_directory(name, entry, &meta)?;
        Ok(None)
    }

    /// Makes a file, link, FIFO or device where nothing is now.
    fn non_directory<R: Read>(
        &self,
        name: &Path,
        entry: &mut tar::Entry<R>,
        meta: &Meta,
    ) -> Result<(), CopyError> {
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => self.file(name, entry, meta),
            tar::EntryType::Symlink => {
                let target = link_name(entry)?;
                let target = std::ffi::OsStr::from_bytes(&target);
                self.create(name, &InodeType::Symlink(target.into()))?;
                let h = self.handle(name)?;
                let flags = AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW;
                rustix::fs::chownat(&h, "", uid(meta.owner), gid(meta.owner), flags)
                    .map_err(|e| self.io(name, e.into()))
            }
            tar::EntryType::Link => {
                // Relative to the destination, like every other name in the archive.
                let target = clean_entry(&link_name(entry)?)?;
                self.create(name, &InodeType::Hardlink(target))
            }
            tar::EntryType::Fifo => {
                self.create(name, &InodeType::Fifo(private()))?;
                let h = self.handle(name)?;
                self.set_meta(name, &h, meta.owner, meta.mode)?;
                set_times(&h, meta.mtime).map_err(|e| self.io(name, e))
            }
            tar::EntryType::Char | tar::EntryType::Block if self.opts.devices => {
                let h = entry.header();
                let dev = rustix::fs::makedev(
                    h.device_major().ok().flatten().unwrap_or(0),
                    h.device_minor().ok().flatten().unwrap_or(0),
                );
                let node = match kind {
                    tar::EntryType::Char => InodeType::CharacterDevice(private(), dev),
                    _ => InodeType::BlockDevice(private(), dev),
                };
                self.create(name, &node)?;
                let h = self.handle(name)?;
                self.set_meta(name, &h, meta.owner, meta.mode)
            }
            _ => Ok(()), // devices onto the host, sockets, unknown kinds: skipped
        }
    }

    /// A regular file, made with `O_EXCL | O_NOFOLLOW`: the descriptor written to
    /// is the file just made, whatever is swapped in around it.
    fn file<R: Read>(
        &self,
        name: &Path,
        entry: &mut tar::Entry<R>,
        meta: &Meta,
    ) -> Result<(), CopyError> {
        let flags = OpenFlags::O_WRONLY | OpenFlags::O_EXCL | OpenFlags::O_NOFOLLOW;
        let mut file = self
            .dest
            .create_file(name, flags, &private())
            .map_err(|e| self.io(name, to_io(e)))?;
        std::io::copy(entry, &mut file).map_err(CopyError::Stream)?;
        rustix::fs::fchown(&file, uid(meta.owner), gid(meta.owner))
            .and_then(|()| rustix::fs::fchmod(&file, Mode::from_raw_mode(meta.mode)))
            .and_then(|()| rustix::fs::futimens(&file, &times(meta.mtime)))
            .map_err(|e| self.io(name, e.into()))
    }

    /// What is at `name` now (not following a symlink there).
    fn existing(&self, name: &Path) -> Result<Option<FileType>, CopyError> {
        match self.dest.resolve_nofollow(name) {
            Ok(h) => {
                let stat = rustix::fs::fstat(&h).map_err(|e| self.io(name, e.into()))?;
                Ok(Some(FileType::from_raw_mode(stat.st_mode)))
            }
            Err(e) => match to_io(e) {
                e if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                e => Err(self.io(name, e)),
            },
        }
    }

    fn remove(&self, name: &Path, existing: Option<FileType>) -> Result<(), CopyError> {
        let removed = match existing {
            None => return Ok(()),
            Some(FileType::Directory) => self.dest.remove_all(name),
            Some(_) => self.dest.remove_file(name),
        };
        removed.map_err(|e| self.io(name, to_io(e)))
    }

    fn create(&self, name: &Path, node: &InodeType) -> Result<(), CopyError> {
        self.dest
            .create(name, node)
            .map_err(|e| self.io(name, to_io(e)))
    }

    fn handle(&self, name: &Path) -> Result<Handle, CopyError> {
        self.dest
            .resolve_nofollow(name)
            .map_err(|e| self.io(name, to_io(e)))
    }

    /// Owner, then mode (a chown clears set-id bits), on the inode `h` holds.
    fn set_meta(
        &self,
        name: &Path,
        h: &Handle,
        owner: (u32, u32),
        mode: u32,
    ) -> Result<(), CopyError> {
        refuse_symlink(h).map_err(|e| self.io(name, e))?;
        let flags = AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW;
        rustix::fs::chownat(h, "", uid(owner), gid(owner), flags)
            .and_then(|()| {
                rustix::fs::chmodat(CWD, proc_fd(h), Mode::from_raw_mode(mode), AtFlags::empty())
            })
            .map_err(|e| self.io(name, e.into()))
    }
}

/// The inode an `O_PATH` descriptor holds, by its magic link: chmod and utimens
/// need a path (or a descriptor opened for I/O, which a FIFO would block on).
fn proc_fd(h: &impl AsFd) -> String {
    format!("/proc/self/fd/{}", h.as_fd().as_raw_fd())
}

/// The magic link of a symlink's `O_PATH` descriptor would lead on to wherever
/// the link points, outside the root: something swapped in a symlink where the
/// entry was just made. Nothing is changed through it.
fn refuse_symlink(h: &Handle) -> std::io::Result<()> {
    let stat = rustix::fs::fstat(h)?;
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::Symlink => Err(std::io::Error::other(
            "replaced by a symbolic link while it was copied; left alone",
        )),
        _ => Ok(()),
    }
}

fn set_times(h: &Handle, mtime: u64) -> std::io::Result<()> {
    refuse_symlink(h)?;
    rustix::fs::utimensat(CWD, proc_fd(h), &times(mtime), AtFlags::empty())?;
    Ok(())
}

fn times(mtime: u64) -> Timestamps {
    let t = rustix::fs::Timespec {
        tv_sec: mtime as i64,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

fn uid(owner: (u32, u32)) -> Option<Uid> {
    Some(Uid::from_raw(owner.0))
}

fn gid(owner: (u32, u32)) -> Option<Gid> {
    Some(Gid::from_raw(owner.1))
}

fn link_name<R: Read>(entry: &tar::Entry<R>) -> Result<Vec<u8>, CopyError> {
    let bytes = entry
        .link_name_bytes()
        .ok_or_else(|| CopyError::Stream(std::io::Error::other("a link entry without a target")))?;
    Ok(bytes.into_owned())
}
