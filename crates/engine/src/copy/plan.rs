//! docker's `cp` path rules, as pure functions: what a source path asks for
//! (`dir/.` copies the contents, a trailing `/` asserts a directory) and where the
//! copy lands given what the destination is (docker's `container cp` reference:
//! file to file, file into a directory, directory to a new name, directory into an
//! existing directory).

use super::CopyError;
use std::path::PathBuf;

/// A source path as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrcPath {
    /// The path of the file or directory to copy (`dir` for `dir/.`).
    pub path: String,
    /// The name the copy gets by default (the last component; empty for `/`).
    pub base: String,
    /// `dir/.`: the directory's contents, not the directory itself.
    pub contents: bool,
    /// Ends with `/` (or `/.`): the source must be a directory, and a symlink
    /// there is followed.
    pub asserts_dir: bool,
}

impl SrcPath {
    pub fn parse(path: &str) -> SrcPath {
        let contents = path == "." || path.ends_with("/.");
        let asserts_dir = contents || path.ends_with('/');
        let trimmed = match contents {
            true => &path[..path.len() - 1],
            false => path,
        };
        let stripped = trimmed.trim_end_matches('/');
        let path = match (stripped.is_empty(), trimmed.starts_with('/')) {
            (true, true) => "/".to_string(),
            (true, false) => ".".to_string(),
            (false, _) => stripped.to_string(),
        };
        let base = match path.as_str() {
            "/" | "." => String::new(),
            p => p.rsplit('/').next().unwrap_or(p).to_string(),
        };
        SrcPath {
            contents: contents || base.is_empty(),
            path,
            base,
            asserts_dir,
        }
    }
}

/// What the destination path names now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestState {
    Missing,
    Directory,
    /// Anything but a directory (a symlink to a directory counts as one).
    Other,
}

/// Where an archive of the source is extracted, and under what top name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The directory the archive is extracted into.
    pub dir: String,
    /// The archive's top-level name: the copy's name in `dir`; `None` puts the
    /// source directory's contents straight into `dir`.
    pub name: Option<String>,
}

/// docker's rules, for a source that is a directory or not.
pub fn place(
    src: &SrcPath,
    src_is_dir: bool,
    dest: &str,
    state: DestState,
) -> Result<Placement, CopyError> {
    if src.asserts_dir && !src_is_dir {
        return Err(CopyError::SourceNotDirectory {
            path: src.path.clone(),
        });
    }
    let into = |name: Option<String>| Placement {
        dir: dest.to_string(),
        name,
    };
    match state {
        DestState::Directory if src.contents => Ok(into(None)),
        DestState::Directory => Ok(into(Some(src.base.clone()))),
        DestState::Other if src_is_dir => Err(CopyError::DirectoryToFile {
            dest: dest.to_string(),
        }),
        DestState::Missing if dest.ends_with('/') && !src_is_dir => {
            Err(CopyError::DestinationDirMissing {
                dest: dest.to_string(),
            })
        }
        DestState::Missing | DestState::Other => {
            let (parent, name) = split_last(dest);
            if name.is_empty() || name == "." || name == ".." {
                return Err(CopyError::DestinationDirMissing {
                    dest: dest.to_string(),
                });
            }
            Ok(Placement {
                dir: parent,
                name: Some(name),
            })
        }
    }
}

/// `a/b/c/` → (`a/b`, `c`); `c` → (`.`, `c`); `/c` → (`/`, `c`).
pub fn split_last(path: &str) -> (String, String) {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some(("", name)) => ("/".into(), name.into()),
        Some((parent, name)) => (parent.into(), name.into()),
        None => (".".into(), trimmed.into()),
    }
}

/// An archive entry's name (its bytes: a file name need not be UTF-8) as a clean
/// relative path, `..` resolved lexically, by the layer unpacker's own cleaner; an
/// entry that climbs above the destination is refused (as docker's untar does),
/// whatever the in-root resolution would make of it.
pub fn clean_entry(name: &[u8]) -> Result<PathBuf, CopyError> {
    berth_image::unpack::clean_relative(name).map_err(|_| CopyError::EntryOutside {
        entry: String::from_utf8_lossy(name).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn dest(dir: &str, name: Option<&str>) -> Placement {
        Placement {
            dir: dir.into(),
            name: name.map(String::from),
        }
    }

    #[test]
    fn source_paths() {
        let s = SrcPath::parse("/etc/hostname");
        assert_eq!(
            (s.path.as_str(), s.base.as_str()),
            ("/etc/hostname", "hostname")
        );
        assert!(!s.contents && !s.asserts_dir);
        let s = SrcPath::parse("/data/.");
        assert_eq!((s.path.as_str(), s.base.as_str()), ("/data", "data"));
        assert!(s.contents && s.asserts_dir);
        let s = SrcPath::parse("/data/");
        assert!(!s.contents && s.asserts_dir);
        assert_eq!(s.path, "/data");
        let s = SrcPath::parse("/");
        assert!(s.contents && s.path == "/");
        let s = SrcPath::parse(".");
        assert!(s.contents && s.path == ".");
        assert_eq!(SrcPath::parse("a").base, "a");
    }

    #[test]
    fn dockers_destination_rules() {
        let file = SrcPath::parse("/f");
        let dir = SrcPath::parse("/d");
        let contents = SrcPath::parse("/d/.");
        use DestState::*;
        assert_eq!(
            place(&file, false, "/x", Missing).unwrap(),
            dest("/", Some("x"))
        );
        assert_eq!(
            place(&file, false, "/x", Other).unwrap(),
            dest("/", Some("x"))
        );
        assert_eq!(
            place(&file, false, "/x", Directory).unwrap(),
            dest("/x", Some("f"))
        );
        assert!(matches!(
            place(&file, false, "/x/", Missing),
            Err(CopyError::DestinationDirMissing { .. })
        ));
        assert_eq!(
            place(&dir, true, "a/b", Missing).unwrap(),
            dest("a", Some("b"))
        );
        assert_eq!(
            place(&dir, true, "/x", Directory).unwrap(),
            dest("/x", Some("d"))
        );
        assert!(matches!(
            place(&dir, true, "/x", Other),
            Err(CopyError::DirectoryToFile { .. })
        ));
        assert_eq!(
            place(&contents, true, "/x", Directory).unwrap(),
            dest("/x", None)
        );
        assert_eq!(
            place(&contents, true, "/x", Missing).unwrap(),
            dest("/", Some("x"))
        );
        assert!(matches!(
            place(&contents, false, "/x", Directory),
            Err(CopyError::SourceNotDirectory { .. })
        ));
        assert!(matches!(
            place(&SrcPath::parse("/f/"), false, "/x", Directory),
            Err(CopyError::SourceNotDirectory { .. })
        ));
    }

    #[test]
    fn entries_never_climb_out() {
        assert_eq!(clean_entry(b"./a/b/../c").unwrap(), Path::new("a/c"));
        assert_eq!(
            clean_entry(b"/etc/passwd").unwrap(),
            Path::new("etc/passwd")
        );
        assert_eq!(clean_entry(b"./").unwrap(), Path::new(""));
        for bad in ["../x", "a/../../x", "/../../etc/passwd", ".."] {
            assert!(
                matches!(
                    clean_entry(bad.as_bytes()),
                    Err(CopyError::EntryOutside { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn last_components() {
        assert_eq!(split_last("a/b/c/"), ("a/b".into(), "c".into()));
        assert_eq!(split_last("c"), (".".into(), "c".into()));
        assert_eq!(split_last("/c"), ("/".into(), "c".into()));
    }
}
