//! Reading a directory tree someone else controls (a container's overlay upper
//! directory, which the container writes while berth reads it) without ever following
//! a symlink: every open is relative to an already-open directory, names come from
//! `readdir` (no `/`, no `..`), and `O_NOFOLLOW` plus an inode check make a name that
//! was swapped for a symlink, FIFO or another file after it was listed an error
//! instead of a read of the host's file. Overlay's markers (whiteouts, opaque
//! directories) are recognised here too.

use nix::fcntl::{openat, readlinkat, OFlag};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode, SFlag};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Overlay's opaque-directory markers: trusted.* as berth mounts it as root, user.*
/// for overlays mounted with `userxattr`.
const OPAQUE_XATTRS: [&str; 2] = ["trusted.overlay.opaque", "user.overlay.opaque"];
/// Overlay features whose upper directory does not hold the whole change (a renamed
/// directory's content stays in the lower layer; a metadata-only copy-up keeps the
/// data below), so walking it would lose content.
const INCOMPLETE_XATTRS: [&str; 4] = [
    "trusted.overlay.redirect",
    "trusted.overlay.metacopy",
    "user.overlay.redirect",
    "user.overlay.metacopy",
];

/// One directory entry, as `lstat` sees it.
#[derive(Clone)]
pub struct Entry {
    pub name: OsString,
    pub stat: FileStat,
}

/// What an entry is, from its mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    Fifo,
    CharDevice,
    BlockDevice,
    Socket,
}

pub fn kind(stat: &FileStat) -> Kind {
    match SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFDIR => Kind::Dir,
        SFlag::S_IFLNK => Kind::Symlink,
        SFlag::S_IFIFO => Kind::Fifo,
        SFlag::S_IFCHR => Kind::CharDevice,
        SFlag::S_IFBLK => Kind::BlockDevice,
        SFlag::S_IFSOCK => Kind::Socket,
        _ => Kind::File,
    }
}

/// Overlay's whiteout: a character device 0/0 hides the name in lower layers.
pub fn is_whiteout(stat: &FileStat) -> bool {
    kind(stat) == Kind::CharDevice && stat.st_rdev == 0
}

/// An open directory that is known not to be a symlink.
pub struct DirFd(File);

impl DirFd {
    /// Opens a directory berth chose (a layer or upper directory); its last
    /// component must not be a symlink either.
    pub fn open(path: &Path) -> io::Result<DirFd> {
        let fd = openat(None, path, dir_flags(), Mode::empty())?;
        // SAFETY: openat just returned this descriptor and nothing else owns it.
        Ok(DirFd(File::from(unsafe { OwnedFd::from_raw_fd(fd) })))
    }

    /// The entries, sorted by name bytes (so archives come out the same every time),
    /// with `lstat` data; `.` and `..` left out.
    pub fn entries(&self) -> io::Result<Vec<Entry>> {
        let mut dir = nix::dir::Dir::openat(
            Some(self.0.as_raw_fd()),
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let mut out = Vec::new();
        for e in dir.iter() {
            let name = OsStr::from_bytes(e?.file_name().to_bytes()).to_os_string();
            if name == "." || name == ".." {
                continue;
            }
            match self.stat(&name)? {
                Some(stat) => out.push(Entry { name, stat }),
                None => continue, // removed since it was listed
            }
        }
        out.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        Ok(out)
    }

    /// `lstat` of a name in this directory; `None` when there is no such entry.
    pub fn stat(&self, name: &OsStr) -> io::Result<Option<FileStat>> {
        match fstatat(
            Some(self.0.as_raw_fd()),
            name,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) => Ok(Some(st)),
            Err(nix::errno::Errno::ENOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens the subdirectory `entry` named, refusing anything that is no longer
    /// that same directory.
    pub fn open_dir(&self, entry: &Entry) -> io::Result<DirFd> {
        let file = self.open_checked(entry, dir_flags())?;
        Ok(DirFd(file))
    }

    /// Opens the regular file `entry` named for reading, refusing anything that is no
    /// longer that same file (never blocks on a FIFO put there meanwhile).
    pub fn open_file(&self, entry: &Entry) -> io::Result<File> {
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        self.open_checked(entry, flags)
    }

    fn open_checked(&self, entry: &Entry, flags: OFlag) -> io::Result<File> {
        let fd = openat(
            Some(self.0.as_raw_fd()),
            entry.name.as_os_str(),
            flags,
            Mode::empty(),
        )?;
        // SAFETY: openat just returned this descriptor and nothing else owns it.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        let now = fstat(file.as_raw_fd())?;
        let same = now.st_dev == entry.stat.st_dev
            && now.st_ino == entry.stat.st_ino
            && kind(&now) == kind(&entry.stat);
        if !same {
            return Err(io::Error::other(format!(
                "{:?} changed while it was being read",
                entry.name
            )));
        }
        Ok(file)
    }

    /// A symlink's target, as text (never followed).
    pub fn read_link(&self, name: &OsStr) -> io::Result<OsString> {
        Ok(readlinkat(Some(self.0.as_raw_fd()), name)?)
    }

    /// Whether overlay marked this directory opaque (nothing below shows through).
    pub fn is_opaque(&self) -> io::Result<bool> {
        is_opaque(&self.0)
    }

    pub fn file(&self) -> &File {
        &self.0
    }
}

fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

fn is_opaque(f: &File) -> io::Result<bool> {
    use xattr::FileExt;
    for name in OPAQUE_XATTRS {
        if f.get_xattr(name)?.as_deref() == Some(b"y") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The extended attributes an archive carries for an open file or directory: all
/// but overlay's own and SELinux labels (which belong to the host that set them),
/// sorted by name. Fails on overlay features an archive cannot represent.
pub fn archived_xattrs(f: &File) -> io::Result<Vec<(String, Vec<u8>)>> {
    use xattr::FileExt;
    let mut out = Vec::new();
    for name in f.list_xattr()? {
        let name = name.to_string_lossy().into_owned();
        if INCOMPLETE_XATTRS.contains(&name.as_str()) {
            return Err(io::Error::other(format!(
                "overlay {name} is set: this host's overlayfs keeps part of the change in the lower layer (redirect_dir or metacopy is on), which berth cannot archive; mount options redirect_dir=off,metacopy=off are needed"
            )));
        }
        if name.starts_with("trusted.overlay.")
            || name.starts_with("user.overlay.")
            || name == "security.selinux"
        {
            continue;
        }
        if let Some(value) = f.get_xattr(&name)? {
            out.push((name, value));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn entries_are_sorted_lstat_data() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b"), "x").unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        symlink("/etc/shadow", dir.path().join("c")).unwrap();
        let d = DirFd::open(dir.path()).unwrap();
        let e = d.entries().unwrap();
        let names: Vec<_> = e.iter().map(|e| e.name.to_str().unwrap()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(kind(&e[0].stat), Kind::Dir);
        assert_eq!(kind(&e[1].stat), Kind::File);
        assert_eq!(
            kind(&e[2].stat),
            Kind::Symlink,
            "lstat, not the host's shadow"
        );
        assert_eq!(d.read_link(&e[2].name).unwrap(), "/etc/shadow");
    }

    #[test]
    fn a_name_swapped_for_a_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "host").unwrap();
        std::fs::write(dir.path().join("f"), "mine").unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        let d = DirFd::open(dir.path()).unwrap();
        let e = d.entries().unwrap();
        // The container swaps both after berth listed them.
        std::fs::remove_file(dir.path().join("f")).unwrap();
        symlink(outside.path().join("secret"), dir.path().join("f")).unwrap();
        std::fs::remove_dir(dir.path().join("d")).unwrap();
        symlink(outside.path(), dir.path().join("d")).unwrap();
        assert!(d.open_file(&e[1]).is_err());
        assert!(d.open_dir(&e[0]).is_err());
        assert!(DirFd::open(&dir.path().join("d")).is_err());
    }

    #[test]
    fn a_file_replaced_by_another_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "one").unwrap();
        let d = DirFd::open(dir.path()).unwrap();
        let e = d.entries().unwrap();
        std::fs::remove_file(dir.path().join("f")).unwrap();
        nix::unistd::mkfifo(&dir.path().join("f"), Mode::from_bits_truncate(0o644)).unwrap();
        let err = d.open_file(&e[0]).unwrap_err();
        assert!(err.to_string().contains("changed"), "{err}");
    }

    #[test]
    fn user_xattrs_are_kept_overlay_ones_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "x").unwrap();
        if xattr::set(&p, "user.keep", b"1").is_err() {
            eprintln!("SKIPPED: the temp filesystem has no user xattrs");
            return;
        }
        xattr::set(&p, "user.overlay.opaque", b"y").unwrap();
        let f = File::open(&p).unwrap();
        assert_eq!(
            archived_xattrs(&f).unwrap(),
            vec![("user.keep".to_string(), b"1".to_vec())]
        );
        assert!(is_opaque(&f).unwrap());
        xattr::set(&p, "user.overlay.redirect", b"/x").unwrap();
        assert!(archived_xattrs(&f).is_err());
    }
}
