//! Layer unpacking with hostile-input defences and overlay whiteouts.
//!
//! Each entry's parent directory is resolved, and made if missing, inside the layer
//! directory by the kernel with that directory as `/` (`pathrs`: `openat2` with
//! `RESOLVE_IN_ROOT`), so `..` and symlinks made by earlier entries stay inside.
//! The last component is then created, replaced or removed with `*at()` calls on
//! the parent's file descriptor that never follow a symlink (see [`write`]). Paths
//! that climb above the root, whiteouts of `.`, `..` or nothing, and hardlinks to
//! anything but a non-directory inside the layer are refused; a refused archive
//! leaves only its own temporary directory behind, which the caller removes. OCI
//! whiteouts become overlayfs ones (`.wh.x` → 0/0 char device, `.wh..wh..opq` →
//! `trusted.overlay.opaque=y`), so unpacked layers stack as lowerdirs.

mod write;

use crate::inroot::to_io;
use pathrs::flags::OpenFlags;
use pathrs::Root;
use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("reading layer tar: {0}")]
    Read(io::Error),
    #[error("opening the layer directory {path}: {error}")]
    Root { path: PathBuf, error: io::Error },
    #[error("layer entry {entry:?} escapes the root filesystem ({why}); the archive is unsafe and was not unpacked")]
    Escape { entry: String, why: &'static str },
    #[error("layer entry {entry:?} is a whiteout for {name:?}, which is not a file name; the archive is unsafe and was not unpacked")]
    BadWhiteout { entry: String, name: String },
    #[error("layer entry {entry:?}: {error}")]
    Entry { entry: String, error: io::Error },
    #[error("layer hardlink {entry:?} points at {target:?}, which is not a file inside the layer")]
    BadHardlink { entry: String, target: String },
    #[error("layer entry {entry:?} has tar type {kind:?}, which berth does not unpack (files, directories, symlinks, hardlinks, devices and FIFOs only)")]
    Unsupported { entry: String, kind: char },
    #[error("layer entry {entry:?} is owned by id {id}, outside 0..=4294967294")]
    BadOwner { entry: String, id: u64 },
    #[error("layer entry {entry:?} is a sparse file of {size} bytes; berth expands sparse files of at most {max} bytes")]
    SparseTooLarge { entry: String, size: u64, max: u64 },
    #[error("starting the zstd decoder: {0}")]
    Zstd(io::Error),
}

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";

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

/// Unpacks an uncompressed layer tar into `dest` (which must exist and be berth's
/// own, fresh directory).
pub fn unpack_layer(tar_stream: impl Read, dest: &Path) -> Result<(), UnpackError> {
    let root = Root::open(dest).map_err(|e| UnpackError::Root {
        path: dest.to_path_buf(),
        error: to_io(e),
    })?;
    let mut archive = tar::Archive::new(tar_stream);
    let mut dir_times = Vec::new();
    let mut last_parent: Option<(PathBuf, OwnedFd)> = None;
    for entry in archive.entries().map_err(UnpackError::Read)? {
        let mut entry = entry.map_err(UnpackError::Read)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let rel = clean_relative(&entry.path_bytes()).map_err(|why| UnpackError::Escape {
            entry: name.clone(),
            why,
        })?;
        let Some(file_name) = rel.file_name().map(OsStr::to_os_string) else {
            continue; // the root itself ("./")
        };
        let entry_err = |error| UnpackError::Entry {
            entry: name.clone(),
            error,
        };
        // Entries come grouped by directory: the parent of the previous entry is
        // kept open and reused for the next one with the same parent path, which
        // saves a resolution inside the root (dozens of syscalls) per file. Safe:
        // the previous entry was `P/name`, which lies below `P`, so writing it
        // cannot change what the path `P` resolves to; any other parent path is
        // resolved afresh.
        let parent_rel = rel.parent().unwrap_or(Path::new(""));
        if last_parent.as_ref().map(|(p, _)| p.as_path()) != Some(parent_rel) {
            let fd = parent_dir(&root, parent_rel).map_err(entry_err)?;
            last_parent = Some((parent_rel.to_path_buf(), fd));
        }
        let parent = &last_parent.as_ref().expect("set just above").1;
        let bytes = file_name.as_bytes();
        if bytes == OPAQUE_MARKER {
            write::set_opaque(parent).map_err(entry_err)?;
        } else if bytes.starts_with(WHITEOUT_META_PREFIX) {
            // Other `.wh..wh.` names are aufs bookkeeping; docker skips them too.
        } else if let Some(hidden) = bytes.strip_prefix(WHITEOUT_PREFIX) {
            check_whiteout_name(hidden, &name)?;
            write::whiteout(parent, OsStr::from_bytes(hidden)).map_err(entry_err)?;
        } else if let Some(mtime) = write::entry(&root, parent, &file_name, &mut entry, &name)? {
            dir_times.push((rel, mtime));
        }
    }
    // Directory mtimes last: creating children would have changed them.
    for (dir, mtime) in dir_times {
        write::set_dir_mtime(&root, &dir, mtime);
    }
    Ok(())
}

/// The entry's parent directory, made (mode 0755, as docker makes missing parents)
/// where missing, resolved inside the root.
fn parent_dir(root: &Root, rel: &Path) -> io::Result<OwnedFd> {
    if rel.as_os_str().is_empty() {
        let dir = root
            .open_subpath(".", OpenFlags::O_DIRECTORY | OpenFlags::O_RDONLY)
            .map_err(to_io)?;
        return Ok(dir.into());
    }
    let perm = std::fs::Permissions::from_mode(0o755);
    Ok(root.mkdir_all(rel, &perm).map_err(to_io)?.into())
}

/// A whiteout hides one name in its own directory: `.`, `..`, nothing or a path
/// would hide the directory itself, its parent (the whole layer store, before this
/// check), or something elsewhere.
fn check_whiteout_name(hidden: &[u8], entry: &str) -> Result<(), UnpackError> {
    if hidden.is_empty() || hidden == b"." || hidden == b".." || hidden.contains(&b'/') {
        return Err(UnpackError::BadWhiteout {
            entry: entry.into(),
            name: String::from_utf8_lossy(hidden).into_owned(),
        });
    }
    Ok(())
}

/// Lexically cleans a tar path to a relative one; refuses `..` that climbs out.
pub fn clean_relative(raw: &[u8]) -> Result<PathBuf, &'static str> {
    let path = Path::new(OsStr::from_bytes(raw));
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

#[cfg(test)]
mod tests;
