//! A file or directory tree inside a root, written as a tar stream.
//!
//! The top is resolved inside the root (`RESOLVE_IN_ROOT`, through `pathrs`); below
//! it every entry is opened relative to its parent directory's descriptor with
//! `O_PATH | O_NOFOLLOW`, and what is archived is what that descriptor holds: a
//! container that swaps a directory for a symlink meanwhile changes nothing (a
//! symlink is archived as a symlink, never descended), and no path is ever
//! resolved twice. Mount points are crossed, so a running container's volumes and
//! tmpfs mounts are copied as docker copies them.

use super::CopyError;
use berth_image::inroot::to_io;
use pathrs::flags::OpenFlags;
use pathrs::{Handle, Root};
use rustix::fs::{FileType, Mode, OFlags, Stat};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Where the source lies and how to reach it.
pub struct Source<'a> {
    pub root: &'a Root,
    /// The path inside the root.
    pub path: &'a str,
    /// Follow a symlink as the last component (`-L`, or a path ending with `/`).
    pub follow: bool,
    /// Shown in errors: "container box" or "the host".
    pub place: &'a str,
}

/// What the source is: a directory or not (after following, if asked).
pub fn is_dir(src: &Source) -> Result<bool, CopyError> {
    let (_, stat) = open_top(src)?;
    Ok(FileType::from_raw_mode(stat.st_mode) == FileType::Directory)
}

/// Writes the source as a tar: its entries under `name`, or, for `None`, the
/// directory's contents at the top of the archive. Returns the bytes written.
pub fn write(src: &Source, name: Option<&str>, out: impl Write) -> Result<u64, CopyError> {
    let (handle, stat) = open_top(src)?;
    let mut counter = Counting { inner: out, n: 0 };
    let mut w = Walker {
        tar: tar::Builder::new(&mut counter),
        links: HashMap::new(),
        place: src.place,
    };
    w.tar.follow_symlinks(false);
    let fd = OwnedFd::from(handle);
    match name {
        Some(name) => w.entry(Path::new(name), fd, &stat)?,
        None => w.children(b"", &fd, Path::new(src.path))?,
    }
    w.tar.finish().map_err(CopyError::Stream)?;
    drop(w);
    Ok(counter.n)
}

fn open_top(src: &Source) -> Result<(Handle, Stat), CopyError> {
    let found = match src.follow {
        true => src.root.resolve(src.path),
        false => src.root.resolve_nofollow(src.path),
    };
    let handle = found.map_err(|e| match to_io(e) {
        e if e.kind() == std::io::ErrorKind::NotFound => CopyError::NotFound {
            path: src.path.to_string(),
            place: src.place.to_string(),
        },
        error => CopyError::Io {
            path: src.path.to_string(),
            place: src.place.to_string(),
            error,
        },
    })?;
    let stat = rustix::fs::fstat(&handle).map_err(|e| CopyError::Io {
        path: src.path.to_string(),
        place: src.place.to_string(),
        error: e.into(),
    })?;
    Ok((handle, stat))
}

struct Walker<'p, W: Write> {
    tar: tar::Builder<W>,
    /// Files with several links already archived: (dev, ino) → their entry name.
    links: HashMap<(u64, u64), PathBuf>,
    place: &'p str,
}

impl<W: Write> Walker<'_, W> {
    fn io(&self, path: &Path, error: std::io::Error) -> CopyError {
        CopyError::Io {
            path: path.to_string_lossy().into_owned(),
            place: self.place.to_string(),
            error,
        }
    }

    /// One entry (and, for a directory, everything below it) from its `O_PATH`
    /// descriptor.
    fn entry(&mut self, name: &Path, fd: OwnedFd, stat: &Stat) -> Result<(), CopyError> {
        let mut header = header_of(stat);
        let kind = FileType::from_raw_mode(stat.st_mode);
        let stream = CopyError::Stream;
        match kind {
            FileType::RegularFile => {
                if stat.st_nlink > 1 {
                    let key = (stat.st_dev, stat.st_ino);
                    if let Some(first) = self.links.get(&key) {
                        header.set_entry_type(tar::EntryType::Link);
                        header.set_size(0);
                        let first = first.clone();
                        return self
                            .tar
                            .append_link(&mut header, name, first)
                            .map_err(stream);
                    }
                    self.links.insert(key, name.to_path_buf());
                }
                let file = Handle::from_fd(fd)
                    .reopen(OpenFlags::O_RDONLY)
                    .map_err(|e| self.io(name, to_io(e)))?;
                let size = stat.st_size as u64;
                // A file that shrinks while it is read is padded, one that grows is
                // cut: the header's size is what the stream must hold.
                let body = file.take(size).chain(std::io::repeat(0)).take(size);
                self.tar
                    .append_data(&mut header, name, body)
                    .map_err(stream)
            }
            FileType::Directory => {
                header.set_entry_type(tar::EntryType::Directory);
                let mut dir_name = name.as_os_str().as_bytes().to_vec();
                while dir_name.last() == Some(&b'/') {
                    dir_name.pop();
                }
                dir_name.push(b'/');
                let shown = Path::new(OsStr::from_bytes(&dir_name));
                self.tar
                    .append_data(&mut header, shown, std::io::empty())
                    .map_err(stream)?;
                self.children(&dir_name, &fd, name)
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(&fd, "", Vec::new())
                    .map_err(|e| self.io(name, e.into()))?;
                header.set_entry_type(tar::EntryType::Symlink);
                let target = OsStr::from_bytes(target.as_bytes());
                self.tar
                    .append_link(&mut header, name, target)
                    .map_err(stream)
            }
            FileType::Fifo | FileType::CharacterDevice | FileType::BlockDevice => {
                header.set_entry_type(match kind {
                    FileType::Fifo => tar::EntryType::Fifo,
                    FileType::CharacterDevice => tar::EntryType::Char,
                    _ => tar::EntryType::Block,
                });
                let dev = stat.st_rdev;
                let _ = header.set_device_major(rustix::fs::major(dev));
                let _ = header.set_device_minor(rustix::fs::minor(dev));
                self.tar
                    .append_data(&mut header, name, std::io::empty())
                    .map_err(stream)
            }
            // Sockets mean nothing outside their process; tar has no type for them.
            _ => Ok(()),
        }
    }

    /// The entries of the directory `dir` (an `O_PATH` descriptor), named `prefix…`
    /// (bytes: a file name need not be UTF-8, and is archived as it is).
    fn children(&mut self, prefix: &[u8], dir: &OwnedFd, shown: &Path) -> Result<(), CopyError> {
        let listing = Handle::from_fd(dir.try_clone().map_err(|e| self.io(shown, e))?)
            .reopen(OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY)
            .map_err(|e| self.io(shown, to_io(e)))?;
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(&listing).map_err(|e| self.io(shown, e.into()))? {
            let entry = entry.map_err(|e| self.io(shown, e.into()))?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(name.to_vec());
            }
        }
        names.sort();
        for name in names {
            let path = PathBuf::from(OsStr::from_bytes(&[prefix, &name[..]].concat()));
            let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = match rustix::fs::openat(dir.as_fd(), name.as_slice(), flags, Mode::empty()) {
                Ok(fd) => fd,
                // Removed since the listing: as if it had never been there.
                Err(rustix::io::Errno::NOENT) => continue,
                Err(e) => return Err(self.io(&path, e.into())),
            };
            let stat = rustix::fs::fstat(&fd).map_err(|e| self.io(&path, e.into()))?;
            self.entry(&path, fd, &stat)?;
        }
        Ok(())
    }
}

fn header_of(stat: &Stat) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(stat.st_mode & 0o7777);
    h.set_uid(stat.st_uid as u64);
    h.set_gid(stat.st_gid as u64);
    h.set_mtime(stat.st_mtime.max(0) as u64);
    h.set_size(match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => stat.st_size as u64,
        _ => 0,
    });
    h.set_entry_type(tar::EntryType::Regular);
    h
}

/// Counts what passes (docker reports the size it copied).
struct Counting<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
