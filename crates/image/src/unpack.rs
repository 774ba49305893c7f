//! Layer unpacking with hostile-input defences and overlay whiteouts.
//!
//! Every entry's path is resolved inside the target directory the way a chroot would:
//! `..` stops at the root and symlinks met on the way are followed *within* the root,
//! so no entry can write outside it. Hardlinks may only point at files already inside
//! the layer directory. OCI whiteouts become overlayfs ones (`.wh.x` → 0/0 char device,
//! `.wh..wh..opq` → `trusted.overlay.opaque=y`), so unpacked layers stack as lowerdirs.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("reading layer tar: {0}")]
    Read(io::Error),
    #[error("layer entry {entry:?} escapes the root filesystem ({why}); the archive is unsafe and was not unpacked")]
    Escape { entry: String, why: &'static str },
    #[error("layer entry {entry:?}: {source}")]
    Entry { entry: String, source: io::Error },
    #[error("layer hardlink {entry:?} points at {target:?}, which is not a file inside the layer")]
    BadHardlink { entry: String, target: String },
    #[error("starting the zstd decoder: {0}")]
    Zstd(io::Error),
}

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// Wraps a reader in the right decompressor by sniffing its magic bytes.
pub fn decompressed(mut reader: Box<dyn Read>) -> Result<Box<dyn Read>, UnpackError> {
    let mut magic = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match reader.read(&mut magic[got..]).map_err(UnpackError::Read)? {
            0 => break,
            n => got += n,
        }
    }
    let head = io::Cursor::new(magic[..got].to_vec());
    let chained: Box<dyn Read> = Box::new(head.chain(reader));
    if got >= 2 && magic[..2] == [0x1f, 0x8b] {
        return Ok(Box::new(flate2::read::MultiGzDecoder::new(chained)));
    }
    if got == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        let decoder = zstd::stream::read::Decoder::new(chained).map_err(UnpackError::Zstd)?;
        return Ok(Box::new(decoder));
    }
    Ok(chained)
}

/// Unpacks an uncompressed layer tar into `dest` (which must exist).
pub fn unpack_layer(tar_stream: impl Read, dest: &Path) -> Result<(), UnpackError> {
    let mut archive = tar::Archive::new(tar_stream);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_unpack_xattrs(true);
    archive.set_overwrite(true);
    let mut dir_times = Vec::new();
    for entry in archive.entries().map_err(UnpackError::Read)? {
        let mut entry = entry.map_err(UnpackError::Read)?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let rel = clean_relative(&raw).map_err(|why| UnpackError::Escape {
            entry: name.clone(),
            why,
        })?;
        if rel.as_os_str().is_empty() {
            continue; // the root itself ("./")
        }
        let entry_err = |source| UnpackError::Entry {
            entry: name.clone(),
            source,
        };
        let file_name = rel
            .file_name()
            .map(|f| f.as_bytes().to_vec())
            .unwrap_or_default();
        let parent =
            resolve_in_root(dest, rel.parent().unwrap_or(Path::new(""))).map_err(|why| {
                UnpackError::Escape {
                    entry: name.clone(),
                    why,
                }
            })?;
        fs::create_dir_all(&parent).map_err(entry_err)?;
        if file_name == OPAQUE_MARKER.as_bytes() {
            set_opaque(&parent).map_err(entry_err)?;
            continue;
        }
        if let Some(hidden) = file_name.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            let target = parent.join(std::ffi::OsStr::from_bytes(hidden));
            remove_any(&target).map_err(entry_err)?;
            nix::sys::stat::mknod(
                &target,
                nix::sys::stat::SFlag::S_IFCHR,
                nix::sys::stat::Mode::empty(),
                0,
            )
            .map_err(|e| entry_err(io::Error::from(e)))?;
            continue;
        }
        let target = parent.join(std::ffi::OsStr::from_bytes(&file_name));
        let kind = entry.header().entry_type();
        if kind.is_hard_link() {
            link_inside(&entry, dest, &target, &name)?;
            continue;
        }
        match fs::symlink_metadata(&target) {
            Ok(m) if m.is_dir() && kind.is_dir() => {}
            Ok(m) if m.is_dir() => fs::remove_dir_all(&target).map_err(entry_err)?,
            Ok(_) => fs::remove_file(&target).map_err(entry_err)?,
            Err(_) => {}
        }
        entry.unpack(&target).map_err(entry_err)?;
        if kind.is_dir() {
            if let Ok(mtime) = entry.header().mtime() {
                dir_times.push((target, mtime));
            }
        }
    }
    // Directory mtimes last: creating children would have changed them.
    for (dir, mtime) in dir_times {
        let t = nix::sys::time::TimeSpec::new(mtime as i64, 0);
        let _ = nix::sys::stat::utimensat(
            None,
            &dir,
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        );
    }
    Ok(())
}

fn link_inside(
    entry: &tar::Entry<impl Read>,
    dest: &Path,
    target: &Path,
    name: &str,
) -> Result<(), UnpackError> {
    let link = entry
        .link_name_bytes()
        .map(|b| b.into_owned())
        .unwrap_or_default();
    let link_name = String::from_utf8_lossy(&link).into_owned();
    let bad = || UnpackError::BadHardlink {
        entry: name.into(),
        target: link_name.clone(),
    };
    let rel = clean_relative(&link).map_err(|_| bad())?;
    let dir = resolve_in_root(dest, rel.parent().unwrap_or(Path::new(""))).map_err(|_| bad())?;
    let source = dir.join(rel.file_name().ok_or_else(bad)?);
    let meta = fs::symlink_metadata(&source).map_err(|_| bad())?;
    if meta.is_dir() {
        return Err(bad());
    }
    let _ = remove_any(target);
    fs::hard_link(&source, target).map_err(|source| UnpackError::Entry {
        entry: name.into(),
        source,
    })
}

/// Lexically cleans a tar path to a relative one; refuses `..` that climbs out.
fn clean_relative(raw: &[u8]) -> Result<PathBuf, &'static str> {
    let path = Path::new(std::ffi::OsStr::from_bytes(raw));
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                if !out.pop() {
                    return Err("path climbs above the root with '..'");
                }
            }
            Component::Normal(n) => out.push(n),
        }
    }
    Ok(out)
}

/// Resolves `rel` inside `root` like a chroot: symlinks are followed with `root` as
/// `/`, and `..` never leaves `root`. The result is a real path under `root` whose
/// components are directories or do not exist yet.
pub fn resolve_in_root(root: &Path, rel: &Path) -> Result<PathBuf, &'static str> {
    let mut pending: Vec<OsString> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .rev()
        .collect();
    let mut resolved: Vec<OsString> = Vec::new();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate: PathBuf = std::iter::once(root.as_os_str().to_os_string())
            .chain(resolved.iter().cloned())
            .chain(std::iter::once(part.clone()))
            .collect();
        match fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > 40 {
                    return Err("too many levels of symbolic links");
                }
                let link = fs::read_link(&candidate).map_err(|_| "unreadable symlink")?;
                if link.is_absolute() {
                    resolved.clear();
                }
                for c in link.components().rev() {
                    match c {
                        Component::Normal(n) => pending.push(n.to_os_string()),
                        Component::ParentDir => pending.push("..".into()),
                        _ => {}
                    }
                }
            }
            Ok(m) if !m.is_dir() => return Err("a parent path component is not a directory"),
            _ => resolved.push(part),
        }
    }
    Ok(std::iter::once(root.as_os_str().to_os_string())
        .chain(resolved)
        .collect())
}

fn set_opaque(dir: &Path) -> io::Result<()> {
    let c_path = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    let name = c"trusted.overlay.opaque";
    // SAFETY: valid NUL-terminated strings and a 1-byte value buffer.
    let rc = unsafe { libc::lsetxattr(c_path.as_ptr(), name.as_ptr(), b"y".as_ptr().cast(), 1, 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind, data_or_link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o755);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            let data: &[u8] = if kind.is_file() {
                data_or_link.as_bytes()
            } else {
                b""
            };
            h.set_size(data.len() as u64);
            if kind.is_symlink() || kind.is_hard_link() {
                h.set_link_name_literal(data_or_link).unwrap();
            }
            // set_path refuses '..'; write raw names so hostile paths reach us.
            let name = h.as_old_mut().name.as_mut();
            name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            b.append(&h, data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn rejects_dotdot_escape() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir(&root).unwrap();
        let t = tar_with(&[("../evil", tar::EntryType::Regular, "x")]);
        assert!(matches!(
            unpack_layer(&t[..], &root),
            Err(UnpackError::Escape { .. })
        ));
        assert!(!dir.path().join("evil").exists());
    }

    #[test]
    fn symlink_parent_stays_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&outside).unwrap();
        let t = tar_with(&[
            ("link", tar::EntryType::Symlink, outside.to_str().unwrap()),
            ("link/pwned", tar::EntryType::Regular, "x"),
            ("up", tar::EntryType::Symlink, "../../.."),
            ("up/pwned2", tar::EntryType::Regular, "y"),
        ]);
        unpack_layer(&t[..], &root).unwrap();
        assert!(!outside.join("pwned").exists());
        assert!(root
            .join(outside.strip_prefix("/").unwrap())
            .join("pwned")
            .exists());
        assert!(root.join("pwned2").exists());
        assert!(!dir.path().join("pwned2").exists());
    }

    #[test]
    fn hardlink_must_point_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(&root).unwrap();
        let t = tar_with(&[("h", tar::EntryType::Link, "/etc/passwd")]);
        assert!(matches!(
            unpack_layer(&t[..], &root),
            Err(UnpackError::BadHardlink { .. })
        ));
        let t = tar_with(&[
            ("f", tar::EntryType::Regular, "data"),
            ("h", tar::EntryType::Link, "f"),
        ]);
        unpack_layer(&t[..], &root).unwrap();
        assert_eq!(fs::read(root.join("h")).unwrap(), b"data");
    }

    #[test]
    fn whiteouts_become_char_devices() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED: making whiteout device nodes needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(&root).unwrap();
        let t = tar_with(&[("d/.wh.gone", tar::EntryType::Regular, "")]);
        unpack_layer(&t[..], &root).unwrap();
        use std::os::unix::fs::FileTypeExt;
        let m = fs::symlink_metadata(root.join("d/gone")).unwrap();
        assert!(m.file_type().is_char_device());
    }
}
