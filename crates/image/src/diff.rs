//! `diff`: what a container changed, from its overlay upper directory and the image
//! layers below, in docker's terms: `A` added, `C` changed, `D` deleted, one line
//! per path, the parent directory of an added or deleted path counted as changed.
//!
//! A directory that is in the image too is changed when its mode or owner changed,
//! or (as a parent) when an entry was added to or deleted from it; a directory only
//! copied up because something below it changed is not a change of its own. Docker's
//! overlay2 driver also compares a directory's size and mtime; berth does not,
//! because the runtime's mount points (hidden from `diff`, see the engine's
//! `usecase::snapshot`) touch the mtime of the directories they are made in. So a
//! file replaced in place (`sed -i`) lists the file, not its directory too. And an
//! opaque directory (a path deleted and made again as a directory) is `C`, where
//! docker reports `D` although the path exists.

use crate::fstree::{is_whiteout, kind, DirFd, Entry, Kind};
use nix::sys::stat::FileStat;
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Changed,
    Deleted,
}

impl ChangeKind {
    pub fn letter(&self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Changed => 'C',
            ChangeKind::Deleted => 'D',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    /// Absolute, as the container sees it (`/etc/passwd`).
    pub path: PathBuf,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.letter(), self.path.display())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("comparing {path} with the image: {source}")]
pub struct DiffError {
    pub path: PathBuf,
    pub source: io::Error,
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> DiffError + '_ {
    move |source| DiffError {
        path: Path::new("/").join(path),
        source,
    }
}

/// The changes in `upper` over `lowers` (top-most first), in walk order (a directory
/// before what is in it, names sorted). `hidden` paths are skipped with what is below.
pub fn changes(
    upper: &Path,
    lowers: &[PathBuf],
    hidden: &HashSet<PathBuf>,
) -> Result<Vec<Change>, DiffError> {
    let root = DirFd::open(upper).map_err(at(Path::new("")))?;
    let mut walk = Walk {
        lowers,
        hidden,
        out: Vec::new(),
        changed_dirs: HashSet::new(),
    };
    walk.dir(&root, Path::new(""), false)?;
    // A parent counted as changed only for its child comes after its earlier
    // children; sorting by components puts it back in walk order.
    walk.out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(walk.out)
}

struct Walk<'a> {
    lowers: &'a [PathBuf],
    hidden: &'a HashSet<PathBuf>,
    out: Vec<Change>,
    /// Directories already listed (or recorded as changed) ...
    changed_dirs: HashSet<PathBuf>,
}

impl Walk<'_> {
    /// `below_hidden`: an opaque directory above hides the lower layers here.
    fn dir(&mut self, d: &DirFd, rel: &Path, below_hidden: bool) -> Result<(), DiffError> {
        for e in d.entries().map_err(at(rel))? {
            let path = rel.join(&e.name);
            if self.hidden.contains(&path) {
                continue;
            }
            let is_dir = kind(&e.stat) == Kind::Dir;
            let sub = match is_dir {
                true => Some(d.open_dir(&e).map_err(at(&path))?),
                false => None,
            };
            let opaque = match &sub {
                Some(s) => s.is_opaque().map_err(at(&path))?,
                None => false,
            };
            let below = match below_hidden {
                true => None,
                false => lower_stat(self.lowers, &path).map_err(at(&path))?,
            };
            let change = if is_whiteout(&e.stat) {
                Some(ChangeKind::Deleted)
            } else {
                match &below {
                    None => Some(ChangeKind::Added),
                    Some(b) if is_dir && !opaque && same_dir(&e.stat, b) => None,
                    Some(_) => Some(ChangeKind::Changed),
                }
            };
            if let Some(kind) = change {
                self.record(kind, &path, is_dir);
            }
            if let Some(sub) = sub {
                self.dir(&sub, &path, below_hidden || opaque || below.is_none())?;
            }
        }
        Ok(())
    }

    fn record(&mut self, kind: ChangeKind, path: &Path, is_dir: bool) {
        if matches!(kind, ChangeKind::Added | ChangeKind::Deleted) {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                if self.changed_dirs.insert(parent.to_path_buf()) {
                    self.out.push(Change {
                        kind: ChangeKind::Changed,
                        path: Path::new("/").join(parent),
                    });
                }
            }
        }
        if is_dir {
            self.changed_dirs.insert(path.to_path_buf());
        }
        self.out.push(Change {
            kind,
            path: Path::new("/").join(path),
        });
    }
}

/// A directory copied up with its own metadata unchanged (see the module docs).
fn same_dir(upper: &FileStat, lower: &FileStat) -> bool {
    kind(lower) == Kind::Dir
        && upper.st_mode == lower.st_mode
        && upper.st_uid == lower.st_uid
        && upper.st_gid == lower.st_gid
}

/// `lstat` of `rel` in the merged view of overlay layers (top-most first): `None` when
/// no layer has it, a whiteout deleted it, a non-directory stands where a parent
/// should be, or an opaque directory above hides the layers that have it. Every
/// component is opened without following symlinks.
pub fn lower_stat(layers: &[PathBuf], rel: &Path) -> io::Result<Option<FileStat>> {
    let parts: Vec<&std::ffi::OsStr> = rel.iter().collect();
    let Some((last, parents)) = parts.split_last() else {
        return Ok(None);
    };
    'layers: for layer in layers {
        let mut d = DirFd::open(layer)?;
        let mut opaque_above = d.is_opaque()?;
        for name in parents {
            match d.stat(name)? {
                None if opaque_above => return Ok(None),
                None => continue 'layers,
                Some(stat) if kind(&stat) == Kind::Dir => {
                    let entry = Entry {
                        name: name.to_os_string(),
                        stat,
                    };
                    d = d.open_dir(&entry)?;
                    opaque_above |= d.is_opaque()?;
                }
                Some(_) => return Ok(None), // a whiteout or a file ends the path here
            }
        }
        match d.stat(last)? {
            Some(stat) if is_whiteout(&stat) => return Ok(None),
            Some(stat) => return Ok(Some(stat)),
            None if opaque_above => return Ok(None),
            None => {}
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn lines(c: &[Change]) -> Vec<String> {
        c.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn added_and_changed_without_whiteouts() {
        let dir = tempfile::tempdir().unwrap();
        let (up, low) = (dir.path().join("up"), dir.path().join("low"));
        std::fs::create_dir_all(low.join("etc")).unwrap();
        std::fs::write(low.join("etc/passwd"), "root").unwrap();
        std::fs::create_dir_all(up.join("etc")).unwrap();
        std::fs::create_dir_all(up.join("new/deep")).unwrap();
        std::fs::write(up.join("etc/passwd"), "root\nme").unwrap();
        std::fs::write(up.join("etc/added"), "x").unwrap();
        std::fs::write(up.join("hidden"), "x").unwrap();
        // /etc is changed as the parent of an added file.
        let hidden: HashSet<PathBuf> = ["hidden".into()].into();
        let got = changes(&up, &[low], &hidden).unwrap();
        assert_eq!(
            lines(&got),
            [
                "C /etc",
                "A /etc/added",
                "C /etc/passwd",
                "A /new",
                "A /new/deep"
            ]
        );
    }

    #[test]
    fn a_directory_only_copied_up_is_no_change() {
        let dir = tempfile::tempdir().unwrap();
        let (up, low) = (dir.path().join("up"), dir.path().join("low"));
        for root in [&up, &low] {
            std::fs::create_dir_all(root.join("etc")).unwrap();
            std::fs::write(root.join("etc/passwd"), "root").unwrap();
        }
        // A new mtime, as a mount point made in the directory gives it.
        let f = std::fs::File::open(up.join("etc")).unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        let got = changes(&up, &[low], &HashSet::new()).unwrap();
        assert_eq!(lines(&got), ["C /etc/passwd"]);
    }

    #[test]
    fn lower_lookups_do_not_follow_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let low = dir.path().join("low");
        std::fs::create_dir_all(&low).unwrap();
        std::os::unix::fs::symlink("/etc", low.join("etc")).unwrap();
        assert!(
            lower_stat(std::slice::from_ref(&low), Path::new("etc/passwd"))
                .unwrap()
                .is_none()
        );
        let st = lower_stat(&[low], Path::new("etc")).unwrap().unwrap();
        assert_eq!(kind(&st), Kind::Symlink);
    }

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    fn a_parent_counted_for_its_child_is_listed_in_walk_order() {
        let dir = tempfile::tempdir().unwrap();
        let (up, low) = (dir.path().join("up"), dir.path().join("low"));
        for root in [&up, &low] {
            std::fs::create_dir_all(root.join("etc/a")).unwrap();
        }
        std::fs::create_dir_all(up.join("etc/b")).unwrap();
        std::fs::write(up.join("etc/a/f"), "x").unwrap();
        std::fs::write(up.join("etc-x"), "x").unwrap();
        for d in ["etc", "etc/a"] {
            let m = std::fs::metadata(low.join(d)).unwrap();
            std::fs::set_permissions(up.join(d), m.permissions()).unwrap();
        }
        let got = changes(&up, &[low], &HashSet::new()).unwrap();
        assert_eq!(
            lines(&got),
            ["C /etc", "C /etc/a", "A /etc/a/f", "A /etc/b", "A /etc-x"]
        );
    }

    #[test]
    fn deletions_and_replacements() {
        if !is_root() {
            eprintln!("SKIPPED: making whiteout device nodes needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (up, mid, low) = (
            dir.path().join("up"),
            dir.path().join("mid"),
            dir.path().join("low"),
        );
        std::fs::create_dir_all(low.join("etc/old")).unwrap();
        std::fs::write(low.join("etc/old/f"), "x").unwrap();
        std::fs::write(low.join("etc/file"), "x").unwrap();
        std::fs::write(low.join("etc/gone-below"), "x").unwrap();
        std::fs::create_dir_all(mid.join("etc")).unwrap();
        let wh = |p: &Path| {
            nix::sys::stat::mknod(
                p,
                nix::sys::stat::SFlag::S_IFCHR,
                nix::sys::stat::Mode::empty(),
                0,
            )
            .unwrap()
        };
        wh(&mid.join("etc/gone-below"));
        std::fs::create_dir_all(up.join("etc/file")).unwrap();
        std::fs::write(up.join("etc/file/inner"), "x").unwrap();
        xattr::set(up.join("etc/file"), "trusted.overlay.opaque", b"y").unwrap();
        wh(&up.join("etc/old"));
        // Its own metadata changed.
        std::fs::set_permissions(up.join("etc"), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(up.join("etc/gone-below"), "back").unwrap();
        let layers = [mid, low];
        let got = changes(&up, &layers, &HashSet::new()).unwrap();
        assert_eq!(
            lines(&got),
            [
                "C /etc",
                "C /etc/file",
                "A /etc/file/inner",
                "A /etc/gone-below",
                "D /etc/old"
            ]
        );
        assert!(lower_stat(&layers, Path::new("etc/gone-below"))
            .unwrap()
            .is_none());
        assert!(lower_stat(&layers, Path::new("etc/old/f"))
            .unwrap()
            .is_some());
    }
}
