//! Directory trees → tar archives, for `commit` (a container's overlay upper directory
//! becomes an OCI layer), `export` (a container's whole filesystem) and the builder.
//!
//! The archives are deterministic: names sorted byte-wise within each directory,
//! numeric owners only (no user or group names), modification times kept to the
//! second (docker truncates the same way), no access or change times, extended
//! attributes as PAX `SCHILY.xattr.*` records, and hard links found by inode.
//! Overlay's whiteouts become OCI ones: a 0/0 character device → an empty `.wh.NAME`,
//! an opaque directory → the directory followed by `DIR/.wh..wh..opq`.
//!
//! Reading goes through `fstree`, so nothing is ever opened through a symlink the
//! container made: a symlink is archived as a symlink, its target as text.

use crate::fstree::{self, is_whiteout, kind, DirFd, Entry, Kind};
use nix::sys::stat::FileStat;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

#[derive(Debug, thiserror::Error)]
pub enum LayerWriteError {
    #[error("archiving {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("/{0} cannot go into a layer: names starting with .wh. mean deletions in OCI layers; rename it first")]
    WhiteoutName(PathBuf),
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> LayerWriteError + '_ {
    move |source| LayerWriteError::Io {
        path: Path::new("/").join(path),
        source,
    }
}

/// Writes an overlay upper directory as an OCI layer (deletions as OCI whiteouts).
/// `hidden` paths (relative, e.g. `etc/hostname`) are left out with what is below
/// them. Returns the number of entries written: 0 means an empty layer.
pub fn write_layer(
    upper: &Path,
    hidden: &HashSet<PathBuf>,
    out: impl Write,
) -> Result<u64, LayerWriteError> {
    let root = DirFd::open(upper).map_err(at(Path::new("")))?;
    let mut walk = Walk {
        out: TarOut::new(out),
        hidden,
        merged: false,
    };
    walk.dir(vec![root], Path::new(""))?;
    walk.out.finish().map_err(at(Path::new("")))
}

/// Writes the merged view of overlay layers (top-most first: a container's upper
/// directory, then its image's layers): what the container sees at `/`, without
/// whiteouts or anything they hide. `hidden` as for [`write_layer`].
pub fn write_merged(
    layers: &[PathBuf],
    hidden: &HashSet<PathBuf>,
    out: impl Write,
) -> Result<u64, LayerWriteError> {
    let mut roots = Vec::new();
    for l in layers {
        let d = DirFd::open(l).map_err(|source| LayerWriteError::Io {
            path: l.clone(),
            source,
        })?;
        let opaque = d.is_opaque().map_err(at(Path::new("")))?;
        roots.push(d);
        if opaque {
            break;
        }
    }
    let mut walk = Walk {
        out: TarOut::new(out),
        hidden,
        merged: true,
    };
    walk.dir(roots, Path::new(""))?;
    walk.out.finish().map_err(at(Path::new("")))
}

struct Walk<'a, W: Write> {
    out: TarOut<W>,
    hidden: &'a HashSet<PathBuf>,
    /// Apply whiteouts across `dirs` (export) instead of archiving them (a layer).
    merged: bool,
}

impl<W: Write> Walk<'_, W> {
    /// Archives what is below `rel`; `dirs` are its directories, top-most first.
    fn dir(&mut self, dirs: Vec<DirFd>, rel: &Path) -> Result<(), LayerWriteError> {
        for (layer, e) in self.visible(&dirs, rel)? {
            let path = rel.join(&e.name);
            if self.hidden.contains(&path) {
                continue;
            }
            if is_whiteout(&e.stat) {
                self.out.whiteout(&path, &e.stat).map_err(at(&path))?;
                continue;
            }
            if !self.merged && e.name.as_bytes().starts_with(WHITEOUT_PREFIX.as_bytes()) {
                return Err(LayerWriteError::WhiteoutName(path));
            }
            let d = &dirs[layer];
            match kind(&e.stat) {
                Kind::Dir => {
                    let sub = d.open_dir(&e).map_err(at(&path))?;
                    let xattrs = fstree::archived_xattrs(sub.file()).map_err(at(&path))?;
                    self.out.dir(&path, &e.stat, &xattrs).map_err(at(&path))?;
                    let opaque = sub.is_opaque().map_err(at(&path))?;
                    let below = if self.merged {
                        self.lower_dirs(sub, opaque, &dirs[layer + 1..], &e.name, &path)?
                    } else {
                        if opaque {
                            self.out.opaque(&path, &e.stat).map_err(at(&path))?;
                        }
                        vec![sub]
                    };
                    self.dir(below, &path)?;
                }
                Kind::File => {
                    let file = d.open_file(&e).map_err(at(&path))?;
                    let xattrs = fstree::archived_xattrs(&file).map_err(at(&path))?;
                    self.out
                        .file(&path, &e.stat, &xattrs, file)
                        .map_err(at(&path))?;
                }
                Kind::Symlink => {
                    let target = d.read_link(&e.name).map_err(at(&path))?;
                    self.out
                        .symlink(&path, &e.stat, Path::new(&target))
                        .map_err(at(&path))?;
                }
                Kind::Fifo | Kind::CharDevice | Kind::BlockDevice => {
                    self.out.special(&path, &e.stat).map_err(at(&path))?
                }
                Kind::Socket => {} // a tar cannot hold one; docker skips them too
            }
        }
        Ok(())
    }

    /// The entries of one directory: a layer's own (whiteouts included), or the
    /// merged view where the top-most layer holding a name wins and a whiteout hides it.
    fn visible(&self, dirs: &[DirFd], rel: &Path) -> Result<Vec<(usize, Entry)>, LayerWriteError> {
        if !self.merged {
            let entries = dirs[0].entries().map_err(at(rel))?;
            return Ok(entries.into_iter().map(|e| (0, e)).collect());
        }
        let mut seen: BTreeMap<Vec<u8>, Option<(usize, Entry)>> = BTreeMap::new();
        for (i, d) in dirs.iter().enumerate() {
            for e in d.entries().map_err(at(rel))? {
                let hidden_below = is_whiteout(&e.stat);
                seen.entry(e.name.as_bytes().to_vec())
                    .or_insert_with(|| (!hidden_below).then_some((i, e)));
            }
        }
        Ok(seen.into_values().flatten().collect())
    }

    /// The directories `name` continues in below the top-most one: while each lower
    /// layer has a directory there, until one is opaque.
    fn lower_dirs(
        &self,
        top: DirFd,
        top_opaque: bool,
        lower: &[DirFd],
        name: &OsStr,
        path: &Path,
    ) -> Result<Vec<DirFd>, LayerWriteError> {
        let mut out = vec![top];
        if top_opaque {
            return Ok(out);
        }
        for d in lower {
            let Some(stat) = d.stat(name).map_err(at(path))? else {
                continue;
            };
            if kind(&stat) != Kind::Dir {
                break; // a file or whiteout ends the directory here
            }
            let entry = Entry {
                name: name.to_os_string(),
                stat,
            };
            let sub = d.open_dir(&entry).map_err(at(path))?;
            let opaque = sub.is_opaque().map_err(at(path))?;
            out.push(sub);
            if opaque {
                break;
            }
        }
        Ok(out)
    }
}

/// A deterministic tar stream (see the module docs).
pub struct TarOut<W: Write> {
    builder: tar::Builder<W>,
    /// (device, inode) of multiply-linked files already written → their path.
    links: HashMap<(u64, u64), PathBuf>,
    entries: u64,
}

impl<W: Write> TarOut<W> {
    pub fn new(out: W) -> Self {
        TarOut {
            builder: tar::Builder::new(out),
            links: HashMap::new(),
            entries: 0,
        }
    }

    /// Ends the archive; returns how many entries it holds.
    pub fn finish(mut self) -> io::Result<u64> {
        self.builder.finish()?;
        self.builder.get_mut().flush()?;
        Ok(self.entries)
    }

    pub fn dir(
        &mut self,
        path: &Path,
        st: &FileStat,
        xattrs: &[(String, Vec<u8>)],
    ) -> io::Result<()> {
        self.pax_xattrs(xattrs)?;
        let mut h = header(st, tar::EntryType::Directory);
        let mut name = path.as_os_str().to_os_string();
        name.push("/");
        self.append(&mut h, Path::new(&name), io::empty())
    }

    /// A regular file: its content read from `file`, exactly `st.st_size` bytes (a
    /// file that shrank meanwhile is padded with zeros, so the archive stays whole).
    pub fn file(
        &mut self,
        path: &Path,
        st: &FileStat,
        xattrs: &[(String, Vec<u8>)],
        file: File,
    ) -> io::Result<()> {
        if st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key).cloned() {
                let mut h = header(st, tar::EntryType::Link);
                self.entries += 1;
                return self.builder.append_link(&mut h, path, first);
            }
            self.links.insert(key, path.to_path_buf());
        }
        self.pax_xattrs(xattrs)?;
        let size = st.st_size.max(0) as u64;
        let mut h = header(st, tar::EntryType::Regular);
        h.set_size(size);
        let exact = file.take(size).chain(io::repeat(0)).take(size);
        self.append(&mut h, path, exact)
    }

    pub fn symlink(&mut self, path: &Path, st: &FileStat, target: &Path) -> io::Result<()> {
        let mut h = header(st, tar::EntryType::Symlink);
        self.entries += 1;
        self.builder.append_link(&mut h, path, target)
    }

    /// FIFOs and device nodes.
    pub fn special(&mut self, path: &Path, st: &FileStat) -> io::Result<()> {
        let kind = match kind(st) {
            Kind::Fifo => tar::EntryType::Fifo,
            Kind::BlockDevice => tar::EntryType::Block,
            _ => tar::EntryType::Char,
        };
        let mut h = header(st, kind);
        h.set_device_major(libc::major(st.st_rdev))?;
        h.set_device_minor(libc::minor(st.st_rdev))?;
        self.append(&mut h, path, io::empty())
    }

    /// Overlay's whiteout for `path` as an OCI one: an empty `.wh.NAME` (mode 0600,
    /// as docker writes it).
    pub fn whiteout(&mut self, path: &Path, st: &FileStat) -> io::Result<()> {
        let mut name = OsString::from(WHITEOUT_PREFIX);
        name.push(path.file_name().unwrap_or_default());
        let mut h = header(st, tar::EntryType::Regular);
        h.set_mode(0o600);
        self.append(&mut h, &path.with_file_name(name), io::empty())
    }

    /// The marker that makes `dir` opaque: nothing of lower layers shows below it.
    pub fn opaque(&mut self, dir: &Path, st: &FileStat) -> io::Result<()> {
        let mut h = header(st, tar::EntryType::Regular);
        h.set_mode(st.st_mode & 0o777);
        self.append(&mut h, &dir.join(OPAQUE_MARKER), io::empty())
    }

    fn append(&mut self, h: &mut tar::Header, path: &Path, data: impl Read) -> io::Result<()> {
        self.entries += 1;
        self.builder.append_data(h, path, data)
    }

    /// A PAX extended header carrying the next entry's xattrs. Hand-written: the tar
    /// crate reads PAX records but cannot write them.
    fn pax_xattrs(&mut self, xattrs: &[(String, Vec<u8>)]) -> io::Result<()> {
        if xattrs.is_empty() {
            return Ok(());
        }
        let mut data = Vec::new();
        for (name, value) in xattrs {
            data.extend(pax_record(&format!("SCHILY.xattr.{name}"), value));
        }
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_path("PaxHeader")?;
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.builder.append(&h, &data[..])
    }
}

/// One PAX record: `LEN KEY=VALUE\n`, where LEN counts the whole record, itself included.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut out = format!("{len} {key}=").into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

/// A GNU header with the entry's mode, numeric owner and whole-second mtime.
fn header(st: &FileStat, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid.into());
    h.set_gid(st.st_gid.into());
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// (path, type, link target, size, content) of every entry, as a reader sees them.
    fn listing(tar: &[u8]) -> Vec<(String, tar::EntryType, String, Vec<u8>)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let path = String::from_utf8_lossy(&e.path_bytes()).into_owned();
                let kind = e.header().entry_type();
                let link = e
                    .link_name()
                    .unwrap()
                    .map(|l| l.display().to_string())
                    .unwrap_or_default();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (path, kind, link, data)
            })
            .collect()
    }

    fn names(tar: &[u8]) -> Vec<String> {
        listing(tar).into_iter().map(|e| e.0).collect()
    }

    fn tree(root: &Path) {
        std::fs::create_dir_all(root.join("etc/sub")).unwrap();
        std::fs::write(root.join("etc/b"), "bee").unwrap();
        std::fs::write(root.join("etc/a"), "ay").unwrap();
        std::fs::hard_link(root.join("etc/a"), root.join("etc/sub/a-link")).unwrap();
        symlink("/etc/shadow", root.join("leak")).unwrap();
        symlink("/etc", root.join("hostetc")).unwrap();
    }

    #[test]
    fn a_tree_becomes_a_sorted_tar_with_links_and_symlinks_as_text() {
        let dir = tempfile::tempdir().unwrap();
        tree(dir.path());
        let mut out = Vec::new();
        let n = write_layer(dir.path(), &HashSet::new(), &mut out).unwrap();
        let l = listing(&out);
        let got: Vec<&str> = l.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            got,
            [
                "etc/",
                "etc/a",
                "etc/b",
                "etc/sub/",
                "etc/sub/a-link",
                "hostetc",
                "leak"
            ]
        );
        assert_eq!(n, 7);
        assert_eq!(l[1].3, b"ay");
        assert_eq!((l[4].1, l[4].2.as_str()), (tar::EntryType::Link, "etc/a"));
        assert_eq!(
            (l[6].1, l[6].2.as_str()),
            (tar::EntryType::Symlink, "/etc/shadow")
        );
        assert!(l[6].3.is_empty(), "the host's shadow was not read");
        let mut again = Vec::new();
        write_layer(dir.path(), &HashSet::new(), &mut again).unwrap();
        assert_eq!(out, again, "deterministic");
    }

    #[test]
    fn hidden_paths_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        tree(dir.path());
        let hidden: HashSet<PathBuf> = ["etc/sub".into(), "leak".into()].into();
        let mut out = Vec::new();
        write_layer(dir.path(), &hidden, &mut out).unwrap();
        assert_eq!(names(&out), ["etc/", "etc/a", "etc/b", "hostetc"]);
    }

    #[test]
    fn an_empty_directory_is_an_empty_layer() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        assert_eq!(
            write_layer(dir.path(), &HashSet::new(), &mut out).unwrap(),
            0
        );
        assert_eq!(out.len(), 1024, "two zero blocks");
    }

    #[test]
    fn whiteout_names_from_the_container_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".wh.etc"), "").unwrap();
        let err = write_layer(dir.path(), &HashSet::new(), Vec::new()).unwrap_err();
        assert!(matches!(err, LayerWriteError::WhiteoutName(_)), "{err}");
    }

    #[test]
    fn pax_records_count_their_own_length() {
        assert_eq!(pax_record("a", b"b"), b"6 a=b\n");
        let r = pax_record("SCHILY.xattr.user.k", &[b'v'; 90]);
        let len: usize = String::from_utf8_lossy(&r)
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(len, r.len());
    }

    /// Whiteouts need mknod (root); the merged view is checked with and without them.
    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    fn whiteout(path: &Path) {
        nix::sys::stat::mknod(
            path,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
    }

    #[test]
    fn overlay_whiteouts_become_oci_ones() {
        if !is_root() {
            eprintln!("SKIPPED: making whiteout device nodes needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let up = dir.path();
        std::fs::create_dir_all(up.join("etc/new")).unwrap();
        whiteout(&up.join("etc/gone"));
        xattr::set(up.join("etc/new"), "trusted.overlay.opaque", b"y").unwrap();
        let mut out = Vec::new();
        write_layer(up, &HashSet::new(), &mut out).unwrap();
        assert_eq!(
            names(&out),
            ["etc/", "etc/.wh.gone", "etc/new/", "etc/new/.wh..wh..opq"]
        );
    }

    #[test]
    fn the_merged_view_applies_whiteouts_and_opaque_dirs() {
        if !is_root() {
            eprintln!("SKIPPED: making whiteout device nodes needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (up, low) = (dir.path().join("up"), dir.path().join("low"));
        for d in ["etc/keep", "etc/opq/old", "var"] {
            std::fs::create_dir_all(low.join(d)).unwrap();
        }
        std::fs::write(low.join("etc/gone"), "x").unwrap();
        std::fs::write(low.join("etc/changed"), "old").unwrap();
        std::fs::create_dir_all(up.join("etc/opq")).unwrap();
        std::fs::write(up.join("etc/changed"), "new").unwrap();
        std::fs::write(up.join("etc/opq/fresh"), "f").unwrap();
        xattr::set(up.join("etc/opq"), "trusted.overlay.opaque", b"y").unwrap();
        whiteout(&up.join("etc/gone"));
        whiteout(&up.join("var"));
        let mut out = Vec::new();
        write_merged(&[up, low], &HashSet::new(), &mut out).unwrap();
        let l = listing(&out);
        let got: Vec<&str> = l.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            got,
            [
                "etc/",
                "etc/changed",
                "etc/keep/",
                "etc/opq/",
                "etc/opq/fresh"
            ]
        );
        assert_eq!(l[1].3, b"new");
    }
}
