//! ADD of a local tar archive (plain or gzip): unpacked into the destination
//! directory. Every entry is written through the snapshot's [`Tree`], so an
//! entry's path (`../x`, `/etc/x`) and symlinks the archive or the image hold
//! all resolve inside the image; ownership comes from the archive unless
//! `--chown` is given, as docker does. A file that is not an archive is
//! copied as a file.

use crate::error::StepError;
use crate::paths;
use crate::tree::write::{Meta, Tree};
use nix::sys::stat::SFlag;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

/// What the first bytes of a file say it is.
enum Format {
    Tar,
    Gzip,
    Other(&'static str),
    NotArchive,
}

fn sniff(head: &[u8]) -> Format {
    if head.starts_with(&[0x1f, 0x8b]) {
        return Format::Gzip;
    }
    if head.starts_with(b"BZh") {
        return Format::Other("bzip2");
    }
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Format::Other("xz");
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Format::Other("zstd");
    }
    if is_tar_header(head) {
        return Format::Tar;
    }
    Format::NotArchive
}

/// A valid tar header: its checksum field matches its bytes.
fn is_tar_header(h: &[u8]) -> bool {
    if h.len() < 512 {
        return false;
    }
    let field = String::from_utf8_lossy(&h[148..156]);
    let field = field.trim_matches(|c: char| c == '\0' || c == ' ');
    let Ok(want) = u32::from_str_radix(field, 8) else {
        return false;
    };
    let sum: u32 = h[..512]
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                b' ' as u32
            } else {
                b as u32
            }
        })
        .sum();
    sum == want
}

/// Unpacks `file` into `dest` (relative to the tree root) if it is a tar
/// archive; returns false, having written nothing, if it is not one.
pub(super) fn unpack_if_archive(
    mut file: File,
    shown: &str,
    tree: &Tree,
    dest: &str,
    owner: Option<(u32, u32)>,
) -> Result<bool, StepError> {
    let io = |source| StepError::Archive {
        path: shown.to_string(),
        source,
    };
    let mut head = vec![0u8; 512];
    let n = read_full(&mut file, &mut head).map_err(io)?;
    head.truncate(n);
    let format = sniff(&head);
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let reader: Box<dyn Read> = match format {
        Format::NotArchive => return Ok(false),
        Format::Other(format) => {
            return Err(StepError::ArchiveFormat {
                path: shown.to_string(),
                format,
            })
        }
        Format::Tar => Box::new(file),
        Format::Gzip => {
            let mut gz = flate2::read::MultiGzDecoder::new(file);
            let mut inner = vec![0u8; 512];
            let n = read_full(&mut gz, &mut inner).map_err(io)?;
            inner.truncate(n);
            if !is_tar_header(&inner) {
                return Ok(false); // a compressed file, not an archive: copied as is
            }
            let mut f = gz.into_inner();
            f.seek(SeekFrom::Start(0)).map_err(io)?;
            Box::new(flate2::read::MultiGzDecoder::new(f))
        }
    };
    unpack(reader, shown, tree, dest, owner)?;
    Ok(true)
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

fn unpack(
    reader: Box<dyn Read>,
    shown: &str,
    tree: &Tree,
    dest: &str,
    owner: Option<(u32, u32)>,
) -> Result<(), StepError> {
    let io = |source| StepError::Archive {
        path: shown.to_string(),
        source,
    };
    let mut archive = tar::Archive::new(reader);
    let mut dirs: Vec<(String, Meta)> = Vec::new();
    for entry in archive.entries().map_err(io)? {
        let mut entry = entry.map_err(io)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let rel = paths::in_root(&raw);
        if rel.is_empty() {
            continue;
        }
        let full = join(dest, &rel);
        let h = entry.header();
        let meta = Meta {
            mode: h.mode().unwrap_or(0o644) & 0o7777,
            // Empty numeric fields (some tar writers leave them) read as 0.
            uid: owner.map_or(h.uid().unwrap_or(0) as u32, |o| o.0),
            gid: owner.map_or(h.gid().unwrap_or(0) as u32, |o| o.1),
            mtime: Some((h.mtime().unwrap_or(0) as i64, 0)),
        };
        if h.entry_type().is_dir() {
            tree.mkdir_all(&full, meta_owner(&meta))?;
            dirs.push((full, meta));
            continue;
        }
        write_entry(tree, &mut entry, dest, &full, &meta, owner)?;
    }
    // Directory times and modes last, so their entries do not change them.
    for (path, meta) in dirs.iter().rev() {
        let dir = tree.mkdir_all(path, (0, 0))?;
        tree.set_dir_meta(&dir, meta)?;
    }
    Ok(())
}

/// Writes one non-directory entry of an archive at `full` (below `dest`).
fn write_entry(
    tree: &Tree,
    entry: &mut tar::Entry<Box<dyn Read>>,
    dest: &str,
    full: &str,
    meta: &Meta,
    owner: Option<(u32, u32)>,
) -> Result<(), StepError> {
    let (parent, name) = full.rsplit_once('/').unwrap_or(("", full));
    let name = OsStr::new(name);
    let dir = tree.mkdir_all(parent, owner.unwrap_or((0, 0)))?;
    let kind = entry.header().entry_type();
    let link = || {
        let bytes = entry
            .link_name_bytes()
            .map(|b| b.into_owned())
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    if kind.is_symlink() {
        tree.symlink(&dir, name, OsStr::new(&link()), meta)?;
    } else if kind.is_hard_link() {
        let target = join(dest, &paths::in_root(&link()));
        let (tparent, tname) = target.rsplit_once('/').unwrap_or(("", target.as_str()));
        let from = tree.mkdir_all(tparent, (0, 0))?;
        tree.hardlink(&dir, name, &from, OsStr::new(tname))?;
    } else if kind.is_fifo() {
        tree.node(&dir, name, SFlag::S_IFIFO, 0, meta)?;
    } else if kind.is_character_special() || kind.is_block_special() {
        let h = entry.header();
        let dev = nix::sys::stat::makedev(
            h.device_major().ok().flatten().unwrap_or(0) as u64,
            h.device_minor().ok().flatten().unwrap_or(0) as u64,
        );
        let flag = if kind.is_block_special() {
            SFlag::S_IFBLK
        } else {
            SFlag::S_IFCHR
        };
        tree.node(&dir, name, flag, dev, meta)?;
    } else if kind.is_file() || kind == tar::EntryType::Continuous {
        tree.file(&dir, name, entry, meta)?;
    }
    // PAX/GNU extension headers are consumed by the tar crate.
    Ok(())
}

fn meta_owner(m: &Meta) -> (u32, u32) {
    (m.uid, m.gid)
}

fn join(a: &str, b: &str) -> String {
    match a.is_empty() {
        true => b.to_string(),
        false => format!("{a}/{b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(gzip: bool) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o640);
        h.set_cksum();
        b.append_data(&mut h, "sub/f", &b"hi"[..]).unwrap();
        let mut l = tar::Header::new_gnu();
        l.set_entry_type(tar::EntryType::Symlink);
        l.set_size(0);
        l.set_cksum();
        b.append_link(&mut l, "sub/l", "/etc/passwd").unwrap();
        let mut e = tar::Header::new_gnu();
        e.set_size(1);
        // A hostile entry name (the tar crate refuses to write one): kept
        // inside the destination.
        e.as_old_mut().name[..12].copy_from_slice(b"../../escape");
        e.set_cksum();
        b.append(&e, &b"x"[..]).unwrap();
        let data = b.into_inner().unwrap();
        if !gzip {
            return data;
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &data).unwrap();
        gz.finish().unwrap()
    }

    fn unpack_into(data: &[u8]) -> (tempfile::TempDir, bool) {
        let src = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(src.path(), data).unwrap();
        let t = tempfile::tempdir().unwrap();
        let tree = Tree::open(t.path()).unwrap();
        let me = Some((
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        ));
        let ok =
            unpack_if_archive(File::open(src.path()).unwrap(), "a.tar", &tree, "opt", me).unwrap();
        (t, ok)
    }

    #[test]
    fn tar_and_gzip_archives_unpack_inside_the_root() {
        for gzip in [false, true] {
            let (t, ok) = unpack_into(&tarball(gzip));
            assert!(ok);
            assert_eq!(std::fs::read(t.path().join("opt/sub/f")).unwrap(), b"hi");
            assert_eq!(
                std::fs::read_link(t.path().join("opt/sub/l"))
                    .unwrap()
                    .to_str(),
                Some("/etc/passwd")
            );
            assert_eq!(std::fs::read(t.path().join("opt/escape")).unwrap(), b"x");
        }
    }

    #[test]
    fn other_files_are_not_archives() {
        let (t, ok) = unpack_into(b"just text");
        assert!(!ok);
        assert!(!t.path().join("opt").exists());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"compressed text").unwrap();
        let (_, ok) = unpack_into(&gz.finish().unwrap());
        assert!(!ok);
    }
}
