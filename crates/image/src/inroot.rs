//! Host-side access to files inside a directory tree that an image or a container
//! controls: a container's root filesystem, or a layer being unpacked.
//!
//! Paths are resolved by the kernel with the directory as `/`: `openat2` with
//! `RESOLVE_IN_ROOT`, through the `pathrs` crate (libcontainer uses it too; it falls
//! back to a checked `O_PATH` walk on kernels before 5.6). `..` stops at the root and
//! an absolute symlink lands inside it, so an image whose `/etc` links to the host's
//! `/etc` reads and writes its own, never the host's. A file is first opened as an
//! `O_PATH` handle and checked with `fstat` on that handle: a FIFO is never opened
//! for reading (which would block until some writer came), a device is never opened
//! at all, and a size cap keeps a huge file out of memory. What the checks saw is
//! what gets opened: the handle pins the inode, so a rename in between changes
//! nothing.

use pathrs::flags::OpenFlags;
use pathrs::{Handle, Root};
use rustix::fs::{FileType, Stat};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// io errors are part of the messages, not `source`s: the CLI prints the source
/// chain, which would repeat them.
#[derive(Debug, thiserror::Error)]
pub enum InRootError {
    #[error("opening {root} as a root directory: {error}")]
    OpenRoot { root: PathBuf, error: io::Error },
    #[error("{path} in {root}: {error}")]
    Io {
        root: PathBuf,
        path: String,
        error: io::Error,
    },
    #[error("{path} in {root} is a {kind}, not a regular file; berth neither reads nor writes it (make it a regular file)")]
    NotRegular {
        root: PathBuf,
        path: String,
        kind: &'static str,
    },
    #[error("{path} in {root} is a {kind}, not a directory")]
    NotDirectory {
        root: PathBuf,
        path: String,
        kind: &'static str,
    },
    #[error("{path} in {root} holds more than {max} bytes, the most berth reads from it")]
    TooLarge {
        root: PathBuf,
        path: String,
        max: u64,
    },
}

/// Whether the last component of a path may be a symlink (followed inside the root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    Yes,
    /// A symlink as the last component is reported as such, not followed.
    No,
}

/// A directory treated as `/` for every path given to it.
#[derive(Debug)]
pub struct InRoot {
    root: Root,
    dir: PathBuf,
}

impl InRoot {
    /// Opens `dir` (a path berth chose, so followed as given) as the root.
    pub fn open(dir: &Path) -> Result<Self, InRootError> {
        let root = Root::open(dir).map_err(|e| InRootError::OpenRoot {
            root: dir.to_path_buf(),
            error: to_io(e),
        })?;
        Ok(InRoot {
            root,
            dir: dir.to_path_buf(),
        })
    }

    /// The directory this root stands for on the host.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether `rel` exists (a dangling symlink counts with [`Follow::No`]).
    pub fn exists(&self, rel: &str, follow: Follow) -> Result<bool, InRootError> {
        Ok(self.lookup(rel, follow)?.is_some())
    }

    /// Reads the regular file `rel`, refusing one of more than `max` bytes.
    /// `Ok(None)` when nothing is there.
    pub fn read(
        &self,
        rel: &str,
        follow: Follow,
        max: u64,
    ) -> Result<Option<Vec<u8>>, InRootError> {
        let Some((handle, stat)) = self.lookup(rel, follow)? else {
            return Ok(None);
        };
        self.require_regular(rel, &stat)?;
        if stat.st_size as u64 > max {
            return Err(self.too_large(rel, max));
        }
        let file = handle
            .reopen(OpenFlags::O_RDONLY)
            .map_err(|e| self.io(rel, to_io(e)))?;
        // The file may grow after the fstat: never read past the cap.
        let mut data = Vec::with_capacity(stat.st_size as usize);
        file.take(max + 1)
            .read_to_end(&mut data)
            .map_err(|e| self.io(rel, e))?;
        if data.len() as u64 > max {
            return Err(self.too_large(rel, max));
        }
        Ok(Some(data))
    }

    /// Opens the regular file `rel` for reading, whatever its size. `Ok(None)` when
    /// nothing is there.
    pub fn open_regular(
        &self,
        rel: &str,
        follow: Follow,
    ) -> Result<Option<std::fs::File>, InRootError> {
        let Some((handle, stat)) = self.lookup(rel, follow)? else {
            return Ok(None);
        };
        self.require_regular(rel, &stat)?;
        let file = handle
            .reopen(OpenFlags::O_RDONLY)
            .map_err(|e| self.io(rel, to_io(e)))?;
        Ok(Some(file))
    }

    /// Replaces the contents of the existing regular file `rel`.
    pub fn overwrite(&self, rel: &str, follow: Follow, data: &[u8]) -> Result<(), InRootError> {
        let Some((handle, stat)) = self.lookup(rel, follow)? else {
            return Err(self.io(rel, io::ErrorKind::NotFound.into()));
        };
        self.require_regular(rel, &stat)?;
        let mut file = handle
            .reopen(OpenFlags::O_WRONLY | OpenFlags::O_TRUNC)
            .map_err(|e| self.io(rel, to_io(e)))?;
        file.write_all(data).map_err(|e| self.io(rel, e))
    }

    /// Makes the directory `rel` and any missing parents (mode `mode`); a directory
    /// made here is given to `owner`. Returns whether the directory was made.
    pub fn create_dir_all(
        &self,
        rel: &str,
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> Result<bool, InRootError> {
        if let Some((_, stat)) = self.lookup(rel, Follow::Yes)? {
            return match FileType::from_raw_mode(stat.st_mode) {
                FileType::Directory => Ok(false),
                other => Err(InRootError::NotDirectory {
                    root: self.dir.clone(),
                    path: shown(rel),
                    kind: kind_name(other),
                }),
            };
        }
        let perm = std::fs::Permissions::from_mode(mode);
        let dir = self
            .root
            .mkdir_all(rel, &perm)
            .map_err(|e| self.io(rel, to_io(e)))?;
        if let Some((uid, gid)) = owner {
            rustix::fs::fchown(
                &dir,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
            )
            .map_err(|e| self.io(rel, e.into()))?;
        }
        Ok(true)
    }

    /// An `O_PATH` handle on `rel` and what fstat says of it; `None` when absent.
    fn lookup(&self, rel: &str, follow: Follow) -> Result<Option<(Handle, Stat)>, InRootError> {
        let found = match follow {
            Follow::Yes => self.root.resolve(rel),
            Follow::No => self.root.resolve_nofollow(rel),
        };
        let handle = match found {
            Ok(h) => h,
            Err(e) if errno(&e) == Some(libc::ENOENT) => return Ok(None),
            Err(e) => return Err(self.io(rel, to_io(e))),
        };
        let stat = rustix::fs::fstat(&handle).map_err(|e| self.io(rel, e.into()))?;
        Ok(Some((handle, stat)))
    }

    fn require_regular(&self, rel: &str, stat: &Stat) -> Result<(), InRootError> {
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => Ok(()),
            other => Err(InRootError::NotRegular {
                root: self.dir.clone(),
                path: shown(rel),
                kind: kind_name(other),
            }),
        }
    }

    fn io(&self, rel: &str, error: io::Error) -> InRootError {
        InRootError::Io {
            root: self.dir.clone(),
            path: shown(rel),
            error,
        }
    }

    fn too_large(&self, rel: &str, max: u64) -> InRootError {
        InRootError::TooLarge {
            root: self.dir.clone(),
            path: shown(rel),
            max,
        }
    }
}

/// `rel` as the container sees it.
fn shown(rel: &str) -> String {
    format!("/{}", rel.trim_start_matches('/'))
}

pub(crate) fn kind_name(t: FileType) -> &'static str {
    match t {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symbolic link",
        FileType::Fifo => "FIFO",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Unknown => "file of unknown type",
    }
}

fn errno(e: &pathrs::error::Error) -> Option<i32> {
    match e.kind() {
        pathrs::error::ErrorKind::OsError(n) => n,
        _ => None,
    }
}

/// A pathrs error as an io::Error: the errno when there is one (its message is the
/// clearest), else pathrs' whole explanation.
pub fn to_io(e: pathrs::error::Error) -> io::Error {
    if let Some(n) = errno(&e) {
        return io::Error::from_raw_os_error(n);
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    io::Error::other(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A root with /etc/passwd, next to a "host" directory with its own passwd.
    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        let host = t.path().join("host");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(root.join("etc/passwd"), "inside\n").unwrap();
        std::fs::write(host.join("passwd"), "host\n").unwrap();
        (t, root, host)
    }

    #[test]
    fn reads_stay_inside_whatever_the_links_say() {
        let (_t, root, host) = setup();
        let r = InRoot::open(&root).unwrap();
        assert_eq!(
            r.read("/etc/passwd", Follow::Yes, 64).unwrap().unwrap(),
            b"inside\n"
        );
        // Absolute, climbing and relative links to the host all land inside.
        let climbing = format!("../../../../..{}", host.join("passwd").display());
        for (name, target) in [
            ("abs", host.join("passwd").display().to_string()),
            ("climb", climbing),
            ("up", "../../../etc/passwd".to_string()),
        ] {
            symlink(&target, root.join("etc").join(name)).unwrap();
            let got = r.read(&format!("etc/{name}"), Follow::Yes, 64).unwrap();
            assert_ne!(got.as_deref(), Some(&b"host\n"[..]), "{name} -> {target}");
        }
        assert_eq!(
            r.read("etc/up", Follow::Yes, 64).unwrap().unwrap(),
            b"inside\n"
        );
        assert_eq!(r.read("etc/abs", Follow::Yes, 64).unwrap(), None);
        // A directory symlink on the way, too.
        symlink(&host, root.join("hostdir")).unwrap();
        assert_eq!(r.read("hostdir/passwd", Follow::Yes, 64).unwrap(), None);
        assert_eq!(r.read("../../host/passwd", Follow::Yes, 64).unwrap(), None);
    }

    #[test]
    fn writes_stay_inside_and_never_follow_a_final_link_with_follow_no() {
        let (_t, root, host) = setup();
        let r = InRoot::open(&root).unwrap();
        std::fs::remove_dir_all(root.join("etc")).unwrap();
        symlink(&host, root.join("etc")).unwrap(); // /etc -> the host dir
        let err = r
            .overwrite("etc/passwd", Follow::Yes, b"pwned\n")
            .unwrap_err();
        assert!(matches!(err, InRootError::Io { .. }), "{err}");
        assert_eq!(std::fs::read(host.join("passwd")).unwrap(), b"host\n");
        std::fs::remove_file(root.join("etc")).unwrap();
        std::fs::create_dir(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/real"), "r\n").unwrap();
        symlink("real", root.join("etc/machine-id")).unwrap();
        let err = r.overwrite("etc/machine-id", Follow::No, b"x").unwrap_err();
        assert!(
            matches!(
                err,
                InRootError::NotRegular {
                    kind: "symbolic link",
                    ..
                }
            ),
            "{err}"
        );
        r.overwrite("etc/real", Follow::No, b"new\n").unwrap();
        assert_eq!(std::fs::read(root.join("etc/real")).unwrap(), b"new\n");
    }

    #[test]
    fn fifos_devices_and_big_files_are_refused_without_blocking() {
        let (_t, root, _host) = setup();
        let r = InRoot::open(&root).unwrap();
        rustix::fs::mkfifoat(rustix::fs::CWD, root.join("etc/group"), 0o644.into()).unwrap();
        // A FIFO with no writer: opening it for reading would block forever.
        let err = r.read("etc/group", Follow::Yes, 1 << 20).unwrap_err();
        assert!(
            err.to_string().contains("/etc/group") && err.to_string().contains("FIFO"),
            "{err}"
        );
        symlink("/etc/group", root.join("etc/g2")).unwrap();
        assert!(matches!(
            r.read("etc/g2", Follow::Yes, 64),
            Err(InRootError::NotRegular { .. })
        ));
        assert!(matches!(
            r.overwrite("etc/group", Follow::Yes, b"x"),
            Err(InRootError::NotRegular { .. })
        ));
        assert!(matches!(
            r.read("etc", Follow::Yes, 64),
            Err(InRootError::NotRegular {
                kind: "directory",
                ..
            })
        ));
        std::fs::write(root.join("etc/big"), vec![b'x'; 100]).unwrap();
        assert!(matches!(
            r.read("etc/big", Follow::Yes, 99),
            Err(InRootError::TooLarge { max: 99, .. })
        ));
        assert_eq!(
            r.read("etc/big", Follow::Yes, 100).unwrap().unwrap().len(),
            100
        );
        assert_eq!(r.read("etc/missing", Follow::Yes, 100).unwrap(), None);
    }

    #[test]
    fn create_dir_all_stays_inside() {
        let (_t, root, host) = setup();
        let r = InRoot::open(&root).unwrap();
        symlink(&host, root.join("work")).unwrap();
        // /work points at the host dir: the directory is made inside the root.
        let made = r.create_dir_all("/work/sub", 0o755, None);
        assert!(made.is_err(), "{made:?}");
        assert!(!host.join("sub").exists());
        assert!(r.create_dir_all("a/b/c", 0o755, None).unwrap());
        assert!(root.join("a/b/c").is_dir());
        assert!(!r.create_dir_all("a/b/c", 0o755, None).unwrap());
        assert!(matches!(
            r.create_dir_all("etc/passwd", 0o755, None),
            Err(InRootError::NotDirectory { .. })
        ));
        assert!(r.create_dir_all("../../x", 0o755, None).unwrap());
        assert!(root.join("x").is_dir());
    }
}
