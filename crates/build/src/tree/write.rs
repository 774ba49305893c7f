//! Writing into a snapshot root without ever leaving it. Every directory is
//! held as a file descriptor and entries are made relative to it with
//! `O_NOFOLLOW`; a symlink met on the way (a base image's `/etc -> /host/etc`,
//! usrmerge's `/lib -> usr/lib`) is resolved by `pathrs` *inside* the root,
//! as the kernel would inside the container, never on the host.

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{
    fchmod, fchmodat, fstatat, mkdirat, mknodat, utimensat, FchmodatFlags, Mode, SFlag,
    UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use pathrs::flags::OpenFlags;
use pathrs::Root;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A write into the root that failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("/{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("cannot copy to /{0}: it is not a directory in the image")]
    NotADirectory(String),
    #[error("cannot replace the directory /{0} with a file")]
    IsADirectory(String),
    #[error("opening the snapshot root {path}: {source}")]
    Root {
        path: String,
        source: pathrs::error::Error,
    },
}

/// Ownership, permission and time of a written entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits with setuid/setgid/sticky.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Modification time (seconds, nanoseconds); `None`: now.
    pub mtime: Option<(i64, i64)>,
}

/// A snapshot root being written.
pub struct Tree {
    root: Root,
    top: OwnedFd,
    /// Only root can give files away; a builder running unprivileged (unit
    /// tests) leaves them owned by itself.
    chown: bool,
}

/// A directory of the tree, held open.
pub struct Dir {
    fd: OwnedFd,
    /// Its path from the root, without a leading `/` (`""` is the root).
    pub rel: String,
}

fn sys(path: &str) -> impl FnOnce(Errno) -> WriteError + '_ {
    move |e| WriteError::Io {
        path: path.to_string(),
        source: io::Error::from(e),
    }
}

fn join(dir: &str, name: &OsStr) -> String {
    let name = String::from_utf8_lossy(name.as_bytes());
    match dir {
        "" => name.into_owned(),
        d => format!("{d}/{name}"),
    }
}

/// Symlinks followed in a row before giving up (the kernel's limit).
const MAX_LINK_DEPTH: usize = 40;

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

impl Tree {
    /// Opens the root at `path` (a host path the host gave the builder).
    pub fn open(path: &Path) -> Result<Tree, WriteError> {
        let root = Root::open(path).map_err(|source| WriteError::Root {
            path: path.display().to_string(),
            source,
        })?;
        let top = openat(None, path, DIR_FLAGS, Mode::empty()).map_err(|e| WriteError::Io {
            path: String::new(),
            source: io::Error::from(e),
        })?;
        let top = unsafe_owned(top);
        Ok(Tree {
            root,
            top,
            chown: nix::unistd::geteuid().is_root(),
        })
    }

    /// What `rel` is, following symlinks inside the root; `None` if missing.
    pub fn kind(&self, rel: &str) -> Option<SFlag> {
        if rel.is_empty() {
            return Some(SFlag::S_IFDIR);
        }
        let handle = self.root.resolve(rel).ok()?;
        let f = handle.reopen(OpenFlags::O_PATH).ok()?;
        let st = nix::sys::stat::fstat(f.as_raw_fd()).ok()?;
        Some(SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()))
    }

    /// Makes the directory `rel` exist (creating missing parents with mode
    /// 0755 owned by `owner`, as docker does) and opens it.
    pub fn mkdir_all(&self, rel: &str, owner: (u32, u32)) -> Result<Dir, WriteError> {
        self.mkdir_all_at(rel, owner, 0)
    }

    fn mkdir_all_at(&self, rel: &str, owner: (u32, u32), depth: usize) -> Result<Dir, WriteError> {
        let mut dir = Dir {
            fd: self.top.try_clone().map_err(|source| WriteError::Io {
                path: String::new(),
                source,
            })?,
            rel: String::new(),
        };
        for name in rel.split('/').filter(|n| !n.is_empty()) {
            let meta = Meta {
                mode: 0o755,
                uid: owner.0,
                gid: owner.1,
                mtime: None,
            };
            dir = self.child_dir_at(&dir, OsStr::new(name), &meta, depth)?.0;
        }
        Ok(dir)
    }

    /// Opens (or makes, with `meta`) the directory `name` in `parent`.
    /// Returns whether it was made. A symlink there is followed inside the root.
    pub fn child_dir(
        &self,
        parent: &Dir,
        name: &OsStr,
        meta: &Meta,
    ) -> Result<(Dir, bool), WriteError> {
        self.child_dir_at(parent, name, meta, 0)
    }

    fn child_dir_at(
        &self,
        parent: &Dir,
        name: &OsStr,
        meta: &Meta,
        depth: usize,
    ) -> Result<(Dir, bool), WriteError> {
        let rel = join(&parent.rel, name);
        match fstatat(
            Some(parent.fd.as_raw_fd()),
            name,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) => {
                let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
                let fd = match kind {
                    SFlag::S_IFDIR => {
                        openat(Some(parent.fd.as_raw_fd()), name, DIR_FLAGS, Mode::empty())
                            .map(unsafe_owned)
                            .map_err(sys(&rel))?
                    }
                    SFlag::S_IFLNK => self.follow_dir(&rel, (meta.uid, meta.gid), depth)?,
                    _ => return Err(WriteError::NotADirectory(rel)),
                };
                Ok((Dir { fd, rel }, false))
            }
            Err(Errno::ENOENT) => {
                mkdirat(
                    Some(parent.fd.as_raw_fd()),
                    name,
                    Mode::from_bits_truncate(0o700),
                )
                .map_err(sys(&rel))?;
                let fd = openat(Some(parent.fd.as_raw_fd()), name, DIR_FLAGS, Mode::empty())
                    .map(unsafe_owned)
                    .map_err(sys(&rel))?;
                let dir = Dir { fd, rel };
                self.set_dir_meta(&dir, meta)?;
                Ok((dir, true))
            }
            Err(e) => Err(sys(&rel)(e)),
        }
    }

    /// A symlink where a directory is wanted: followed inside the root; when
    /// its target is missing the target is made (docker's `MkdirAll` on the
    /// root-resolved path does the same).
    fn follow_dir(
        &self,
        rel: &str,
        owner: (u32, u32),
        depth: usize,
    ) -> Result<OwnedFd, WriteError> {
        let not_dir = || WriteError::NotADirectory(rel.to_string());
        let handle = match self.root.resolve(rel) {
            Ok(h) => h,
            Err(_) if depth < MAX_LINK_DEPTH => {
                let target = self.root.readlink(rel).map_err(|_| not_dir())?;
                let target = target.to_string_lossy();
                let parent = rel.rsplit_once('/').map_or("", |(p, _)| p);
                let in_root = match target.starts_with('/') {
                    true => crate::paths::in_root(&target),
                    false => crate::paths::in_root(&format!("{parent}/{target}")),
                };
                return Ok(self.mkdir_all_at(&in_root, owner, depth + 1)?.fd);
            }
            Err(_) => return Err(not_dir()),
        };
        let f = handle
            .reopen(OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY)
            .map_err(|_| WriteError::NotADirectory(rel.to_string()))?;
        Ok(OwnedFd::from(f))
    }

    /// Applies owner, mode and time to a directory (after its entries are
    /// written, so their creation does not change its time again).
    pub fn set_dir_meta(&self, dir: &Dir, meta: &Meta) -> Result<(), WriteError> {
        let fd = dir.fd.as_raw_fd();
        if self.chown {
            nix::unistd::fchown(
                fd,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
            )
            .map_err(sys(&dir.rel))?;
        }
        fchmod(fd, Mode::from_bits_truncate(meta.mode)).map_err(sys(&dir.rel))?;
        if let Some(t) = meta.mtime {
            let ts = TimeSpec::new(t.0, t.1);
            nix::sys::stat::futimens(fd, &ts, &ts).map_err(sys(&dir.rel))?;
        }
        Ok(())
    }

    /// Removes a non-directory `name` of `dir` if there is one, so a new
    /// entry can take its place (a symlink is replaced, never followed).
    fn clear(&self, dir: &Dir, name: &OsStr) -> Result<(), WriteError> {
        let rel = join(&dir.rel, name);
        match fstatat(
            Some(dir.fd.as_raw_fd()),
            name,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) if st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFDIR.bits() => {
                Err(WriteError::IsADirectory(rel))
            }
            Ok(_) => unlinkat(Some(dir.fd.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir)
                .map_err(sys(&rel)),
            Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(sys(&rel)(e)),
        }
    }

    /// Writes a regular file.
    pub fn file(
        &self,
        dir: &Dir,
        name: &OsStr,
        content: &mut dyn Read,
        meta: &Meta,
    ) -> Result<(), WriteError> {
        let rel = join(&dir.rel, name);
        self.clear(dir, name)?;
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(
            Some(dir.fd.as_raw_fd()),
            name,
            flags,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(sys(&rel))?;
        let mut file = File::from(unsafe_owned(fd));
        io::copy(content, &mut file).map_err(|source| WriteError::Io {
            path: rel.clone(),
            source,
        })?;
        let fd = file.as_fd().as_raw_fd();
        if self.chown {
            nix::unistd::fchown(
                fd,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
            )
            .map_err(sys(&rel))?;
        }
        fchmod(fd, Mode::from_bits_truncate(meta.mode)).map_err(sys(&rel))?;
        let now = TimeSpec::UTIME_NOW;
        let ts = meta.mtime.map_or(now, |t| TimeSpec::new(t.0, t.1));
        nix::sys::stat::futimens(fd, &ts, &ts).map_err(sys(&rel))
    }

    /// Makes a symlink (its target is text; nothing is resolved).
    pub fn symlink(
        &self,
        dir: &Dir,
        name: &OsStr,
        target: &OsStr,
        meta: &Meta,
    ) -> Result<(), WriteError> {
        let rel = join(&dir.rel, name);
        self.clear(dir, name)?;
        symlinkat(target, Some(dir.fd.as_raw_fd()), name).map_err(sys(&rel))?;
        self.link_meta(dir, name, &rel, meta)
    }

    /// Makes a FIFO or device node.
    pub fn node(
        &self,
        dir: &Dir,
        name: &OsStr,
        kind: SFlag,
        rdev: u64,
        meta: &Meta,
    ) -> Result<(), WriteError> {
        let rel = join(&dir.rel, name);
        self.clear(dir, name)?;
        mknodat(
            Some(dir.fd.as_raw_fd()),
            name,
            kind,
            Mode::from_bits_truncate(0o600),
            rdev,
        )
        .map_err(sys(&rel))?;
        self.link_meta(dir, name, &rel, meta)?;
        fchmodat(
            Some(dir.fd.as_raw_fd()),
            name,
            Mode::from_bits_truncate(meta.mode),
            FchmodatFlags::FollowSymlink,
        )
        .map_err(sys(&rel))
    }

    /// Hard-links `name` in `dir` to `from_name` in `from` (both already in the tree).
    pub fn hardlink(
        &self,
        dir: &Dir,
        name: &OsStr,
        from: &Dir,
        from_name: &OsStr,
    ) -> Result<(), WriteError> {
        let rel = join(&dir.rel, name);
        self.clear(dir, name)?;
        linkat(
            Some(from.fd.as_raw_fd()),
            from_name,
            Some(dir.fd.as_raw_fd()),
            name,
            AtFlags::empty(),
        )
        .map_err(sys(&rel))
    }

    /// Owner and time of an entry, without following it.
    fn link_meta(&self, dir: &Dir, name: &OsStr, rel: &str, meta: &Meta) -> Result<(), WriteError> {
        let fd = Some(dir.fd.as_raw_fd());
        if self.chown {
            fchownat(
                fd,
                name,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(sys(rel))?;
        }
        let ts = meta
            .mtime
            .map_or(TimeSpec::UTIME_NOW, |t| TimeSpec::new(t.0, t.1));
        utimensat(fd, name, &ts, &ts, UtimensatFlags::NoFollowSymlink).map_err(sys(rel))
    }
}

fn unsafe_owned(fd: std::os::fd::RawFd) -> OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: `fd` was just returned by a successful open and is owned by no one else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn meta(mode: u32) -> Meta {
        let (uid, gid) = (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
        Meta {
            mode,
            uid,
            gid,
            mtime: Some((1_000_000, 5)),
        }
    }

    #[test]
    fn writes_files_dirs_and_links_with_their_metadata() {
        let t = tempfile::tempdir().unwrap();
        let tree = Tree::open(t.path()).unwrap();
        let me = (meta(0).uid, meta(0).gid);
        let dir = tree.mkdir_all("a/b", me).unwrap();
        tree.file(&dir, OsStr::new("f"), &mut &b"data"[..], &meta(0o640))
            .unwrap();
        tree.symlink(&dir, OsStr::new("l"), OsStr::new("/nowhere"), &meta(0o777))
            .unwrap();
        tree.hardlink(&dir, OsStr::new("h"), &dir, OsStr::new("f"))
            .unwrap();
        let f = t.path().join("a/b/f");
        assert_eq!(std::fs::read(&f).unwrap(), b"data");
        let m = std::fs::metadata(&f).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o640);
        assert_eq!(m.mtime(), 1_000_000);
        assert_eq!(m.nlink(), 2);
        assert_eq!(
            std::fs::read_link(t.path().join("a/b/l")).unwrap(),
            Path::new("/nowhere")
        );
        assert_eq!(
            std::fs::metadata(t.path().join("a")).unwrap().mode() & 0o7777,
            0o755
        );
    }

    #[test]
    fn a_symlinked_directory_resolves_inside_the_root() {
        let host = tempfile::tempdir().unwrap();
        let t = tempfile::tempdir().unwrap();
        // /etc in the image points at a host directory by absolute path.
        std::os::unix::fs::symlink(host.path(), t.path().join("etc")).unwrap();
        let tree = Tree::open(t.path()).unwrap();
        let me = (meta(0).uid, meta(0).gid);
        let dir = tree.mkdir_all("etc", me).unwrap();
        tree.file(&dir, OsStr::new("x"), &mut &b"evil"[..], &meta(0o644))
            .unwrap();
        assert!(!host.path().join("x").exists(), "wrote through to the host");
        let inside = t
            .path()
            .join(host.path().strip_prefix("/").unwrap())
            .join("x");
        assert_eq!(std::fs::read(inside).unwrap(), b"evil");
    }

    #[test]
    fn a_file_replaces_a_symlink_instead_of_following_it() {
        let host = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("victim"), "safe").unwrap();
        let t = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(host.path().join("victim"), t.path().join("f")).unwrap();
        let tree = Tree::open(t.path()).unwrap();
        let dir = tree.mkdir_all("", (0, 0)).unwrap();
        tree.file(&dir, OsStr::new("f"), &mut &b"new"[..], &meta(0o644))
            .unwrap();
        assert_eq!(std::fs::read(host.path().join("victim")).unwrap(), b"safe");
        assert_eq!(std::fs::read(t.path().join("f")).unwrap(), b"new");
    }

    #[test]
    fn a_directory_is_not_replaced_by_a_file() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        let tree = Tree::open(t.path()).unwrap();
        let dir = tree.mkdir_all("", (0, 0)).unwrap();
        let err = tree
            .file(&dir, OsStr::new("d"), &mut &b""[..], &meta(0o644))
            .unwrap_err();
        assert!(matches!(err, WriteError::IsADirectory(_)), "{err}");
        std::fs::write(t.path().join("file"), "").unwrap();
        assert!(matches!(
            tree.mkdir_all("file/x", (0, 0)),
            Err(WriteError::NotADirectory(_))
        ));
    }
}
