//! Reading a source tree (the build context, or a read-only view of another
//! stage) into a list of entries, without leaving it: the source path is
//! resolved inside its root by `pathrs`, directories below it are opened
//! relative to their parent with `O_NOFOLLOW`, and symlinks are recorded as
//! symlinks (their targets are text, never followed).

use crate::ignore::{Ignore, MatchInfo};
use nix::dir::Dir as NixDir;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode, SFlag};
use pathrs::flags::OpenFlags;
use pathrs::Root;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// A source that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}: not found")]
    NotFound(String),
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
}

/// The kinds of entries a tree holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    Fifo,
    Char,
    Block,
    Socket,
}

impl Kind {
    fn of(st: &FileStat) -> Kind {
        match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
            SFlag::S_IFDIR => Kind::Dir,
            SFlag::S_IFLNK => Kind::Symlink,
            SFlag::S_IFIFO => Kind::Fifo,
            SFlag::S_IFCHR => Kind::Char,
            SFlag::S_IFBLK => Kind::Block,
            SFlag::S_IFSOCK => Kind::Socket,
            _ => Kind::File,
        }
    }
}

/// One entry of a scanned source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path below the scanned source (`""` for the source itself).
    pub rel: String,
    pub kind: Kind,
    /// Permission bits with setuid/setgid/sticky.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub rdev: u64,
    /// A symlink's target.
    pub link: Option<OsString>,
}

impl Entry {
    fn new(rel: String, st: &FileStat, link: Option<OsString>) -> Entry {
        Entry {
            rel,
            kind: Kind::of(st),
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            size: st.st_size as u64,
            mtime: (st.st_mtime, st.st_mtime_nsec),
            ctime: (st.st_ctime, st.st_ctime_nsec),
            dev: st.st_dev,
            ino: st.st_ino,
            nlink: st.st_nlink,
            rdev: st.st_rdev,
            link,
        }
    }
}

/// What to leave out of a scan.
pub struct Filter<'a> {
    /// `.dockerignore`, matched against paths from the root of the context.
    pub ignore: Option<&'a Ignore>,
    /// `COPY --exclude`, matched against paths below the source.
    pub exclude: Option<&'a Ignore>,
}

/// Scans `path` (relative to `root`) and, for a directory, everything below
/// it, in name order. With `follow`, a symlink at `path` itself is followed
/// (inside the root).
pub fn scan(
    root: &Root,
    path: &str,
    follow: bool,
    filter: &Filter,
) -> Result<Vec<Entry>, ReadError> {
    let shown = format!("/{path}");
    let path = if path.is_empty() { "." } else { path };
    let handle = match follow {
        true => root.resolve(path),
        false => root.resolve_nofollow(path),
    }
    .map_err(|_| ReadError::NotFound(shown.clone()))?;
    // The handle is an O_PATH descriptor (of the symlink itself when not
    // following), which fstat can read.
    let st = fstat(std::os::fd::AsFd::as_fd(&handle).as_raw_fd()).map_err(io_err(&shown))?;
    let kind = Kind::of(&st);
    let link = match kind {
        Kind::Symlink => Some(
            root.readlink(path)
                .map_err(|_| ReadError::NotFound(shown.clone()))?
                .into_os_string(),
        ),
        _ => None,
    };
    let mut out = vec![Entry::new(String::new(), &st, link)];
    let (ignored, info) = top_match(filter.ignore, path.trim_start_matches('.'));
    let mut kept_below = false;
    if kind == Kind::Dir {
        let dir = handle
            .reopen(OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY)
            .map_err(|_| ReadError::NotFound(shown.clone()))?;
        let base = if path == "." { "" } else { path };
        let mut walk = Walk {
            filter,
            out: &mut out,
            base,
        };
        kept_below = walk.dir(OwnedFd::from(dir), "", &info, &MatchInfo::default())?;
    }
    // An ignored source is not in the context, unless something below it is
    // re-included (then its directory is, as docker sends it).
    if ignored && !kept_below {
        return Err(ReadError::NotFound(shown));
    }
    Ok(out)
}

/// Whether `path` is ignored, and the ignore results to hand to its children,
/// computed from the top of the context.
fn top_match(ignore: Option<&Ignore>, path: &str) -> (bool, MatchInfo) {
    let mut info = MatchInfo::default();
    let mut matched = false;
    if let Some(ig) = ignore {
        let mut prefix = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            (matched, info) = ig.matches(&prefix, &info);
        }
    }
    (matched, info)
}

struct Walk<'a, 'b> {
    filter: &'a Filter<'a>,
    out: &'b mut Vec<Entry>,
    base: &'a str,
}

impl Walk<'_, '_> {
    /// Adds the entries of directory `fd` (at `rel` below the source); returns
    /// whether any was added.
    fn dir(
        &mut self,
        fd: OwnedFd,
        rel: &str,
        ig_info: &MatchInfo,
        ex_info: &MatchInfo,
    ) -> Result<bool, ReadError> {
        let shown = format!("/{}", join(self.base, rel));
        let mut names: Vec<OsString> = list(&fd).map_err(io_err(&shown))?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut any = false;
        for name in names {
            let child = join(rel, &String::from_utf8_lossy(name.as_bytes()));
            let from_root = join(self.base, &child);
            let (ignored, ig_child) = match self.filter.ignore {
                Some(ig) => ig.matches(&from_root, ig_info),
                None => (false, MatchInfo::default()),
            };
            let (excluded, ex_child) = match self.filter.exclude {
                Some(ex) => ex.matches(&child, ex_info),
                None => (false, MatchInfo::default()),
            };
            let st = fstatat(
                Some(fd.as_raw_fd()),
                name.as_os_str(),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(io_err(&format!("/{from_root}")))?;
            let kind = Kind::of(&st);
            let skip = ignored || excluded;
            if kind == Kind::Dir {
                let may_reinclude = self.filter.ignore.is_some_and(Ignore::has_exclusions)
                    || self.filter.exclude.is_some_and(Ignore::has_exclusions);
                if skip && !may_reinclude {
                    continue;
                }
                let at = self.out.len();
                self.out.push(Entry::new(child.clone(), &st, None));
                let sub = nix::fcntl::openat(
                    Some(fd.as_raw_fd()),
                    name.as_os_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(io_err(&format!("/{from_root}")))?;
                // SAFETY: just opened, owned by no one else.
                let sub = unsafe { OwnedFd::from_raw_fd(sub) };
                let kept_below = self.dir(sub, &child, &ig_child, &ex_child)?;
                if skip && !kept_below {
                    self.out.truncate(at);
                    continue;
                }
                any = true;
            } else if !skip {
                let link = match kind {
                    Kind::Symlink => Some(
                        nix::fcntl::readlinkat(Some(fd.as_raw_fd()), name.as_os_str())
                            .map_err(io_err(&format!("/{from_root}")))?,
                    ),
                    _ => None,
                };
                self.out.push(Entry::new(child, &st, link));
                any = true;
            }
        }
        Ok(any)
    }
}

fn list(fd: &OwnedFd) -> nix::Result<Vec<OsString>> {
    let dup = nix::unistd::dup(fd.as_raw_fd())?;
    let mut dir = NixDir::from_fd(dup)?;
    let mut names = Vec::new();
    for e in dir.iter() {
        let e = e?;
        let name = OsStr::from_bytes(e.file_name().to_bytes());
        if name != "." && name != ".." {
            names.push(name.to_os_string());
        }
    }
    Ok(names)
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

fn io_err(path: &str) -> impl FnOnce(nix::errno::Errno) -> ReadError + '_ {
    move |e| ReadError::Io {
        path: path.to_string(),
        source: io::Error::from(e),
    }
}

/// Opens a regular file of a scanned source for reading. Symlinks resolve
/// inside the root, the last component's too: a scan records links below the
/// source as links, so the only link a file entry can name is the source path
/// itself, which `scan` followed (inside the root) to find that file.
pub fn open_file(root: &Root, path: &str) -> Result<File, ReadError> {
    let shown = format!("/{path}");
    let handle = root
        .resolve(path)
        .map_err(|_| ReadError::NotFound(shown.clone()))?;
    let f = handle
        .reopen(OpenFlags::O_RDONLY | OpenFlags::O_NONBLOCK)
        .map_err(|e| ReadError::Io {
            path: shown.clone(),
            source: io::Error::other(e.to_string()),
        })?;
    if !f.metadata().map(|m| m.is_file()).unwrap_or(false) {
        return Err(ReadError::Io {
            path: shown,
            source: io::Error::other("changed while the build read it: no longer a regular file"),
        });
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        std::fs::create_dir_all(p.join("src/sub")).unwrap();
        std::fs::create_dir_all(p.join("docs/keep")).unwrap();
        std::fs::write(p.join("src/a.rs"), "a").unwrap();
        std::fs::write(p.join("src/a.tmp"), "t").unwrap();
        std::fs::write(p.join("src/sub/b.rs"), "b").unwrap();
        std::fs::write(p.join("docs/x.md"), "x").unwrap();
        std::fs::write(p.join("docs/keep/k.md"), "k").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", p.join("src/out")).unwrap();
        t
    }

    fn rels(e: &[Entry]) -> Vec<&str> {
        e.iter().map(|e| e.rel.as_str()).collect()
    }

    #[test]
    fn scans_in_name_order_and_keeps_symlinks_as_links() {
        let t = tree();
        let root = Root::open(t.path()).unwrap();
        let none = Filter {
            ignore: None,
            exclude: None,
        };
        let e = scan(&root, "src", false, &none).unwrap();
        assert_eq!(
            rels(&e),
            vec!["", "a.rs", "a.tmp", "out", "sub", "sub/b.rs"]
        );
        let out = &e[3];
        assert_eq!(out.kind, Kind::Symlink);
        assert_eq!(out.link.as_deref(), Some(OsStr::new("/etc/passwd")));
    }

    #[test]
    fn ignore_and_exclude_apply_with_reinclusion() {
        let t = tree();
        let root = Root::open(t.path()).unwrap();
        let ig = Ignore::new(
            &["docs".into(), "!docs/keep".into(), "**/*.tmp".into()],
            &[],
        )
        .unwrap();
        let ex = Ignore::new(&["sub".into()], &[]).unwrap();
        let f = Filter {
            ignore: Some(&ig),
            exclude: None,
        };
        let all = scan(&root, "", false, &f).unwrap();
        assert_eq!(
            rels(&all),
            vec![
                "",
                "docs",
                "docs/keep",
                "docs/keep/k.md",
                "src",
                "src/a.rs",
                "src/out",
                "src/sub",
                "src/sub/b.rs"
            ]
        );
        let f = Filter {
            ignore: Some(&ig),
            exclude: Some(&ex),
        };
        let src = scan(&root, "src", false, &f).unwrap();
        assert_eq!(rels(&src), vec!["", "a.rs", "out"]);
        // A source below an ignored directory is not there.
        let f = Filter {
            ignore: Some(&ig),
            exclude: None,
        };
        let docs = scan(&root, "docs", false, &f).unwrap();
        assert_eq!(rels(&docs), vec!["", "keep", "keep/k.md"]);
    }

    #[test]
    fn missing_sources_and_escapes_are_not_found() {
        let t = tree();
        let root = Root::open(t.path()).unwrap();
        let none = Filter {
            ignore: None,
            exclude: None,
        };
        assert!(matches!(
            scan(&root, "nope", false, &none),
            Err(ReadError::NotFound(_))
        ));
        // Following the link resolves /etc/passwd inside the context: absent.
        assert!(matches!(
            scan(&root, "src/out", true, &none),
            Err(ReadError::NotFound(_))
        ));
        assert!(open_file(&root, "src/out").is_err());
        assert_eq!(
            std::io::read_to_string(open_file(&root, "src/a.rs").unwrap()).unwrap(),
            "a"
        );
    }
}
