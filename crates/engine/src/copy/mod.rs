//! `cp`: files between a container and the host, in both directions, with docker's
//! path rules (`plan`), as tar streams (`archive` writes one from a tree, `extract`
//! makes a tree from one), so `-` on either side is the same code.
//!
//! Every path inside the container is resolved inside its root, by the kernel
//! (`openat2` with `RESOLVE_IN_ROOT`, through `pathrs`): the container's symlinks,
//! absolute or climbing, lead back into it, never out to the host, on read and on
//! write, even if it changes them while the copy runs. The root is (`rootfs`):
//! * a running container's `/proc/<init>/root`: a handle on its root directory in
//!   its own mount namespace, so its volumes and tmpfs mounts are seen as docker
//!   sees them, wherever its overlay is (or is not) mounted on the host;
//! * a stopped container's overlay, mounted for the copy in a private mount
//!   namespace of the calling process (so reads see the image's layers without
//!   what the container deleted, and writes are copied up into its upper
//!   directory), with its volumes and bind mounts on it as docker mounts them for
//!   a copy, under the container's lock so that no start mounts it meanwhile.
//!
//! Host paths are the user's and are followed as given, but an archive coming
//! out of a container is extracted with the destination directory as its root.

mod archive;
mod extract;
mod plan;
mod rootfs;
#[cfg(test)]
mod tests;

use crate::model::Container;
use crate::{Engine, EngineError};
use archive::Source;
use berth_image::inroot::to_io;
use extract::ExtractOptions;
use pathrs::Root;
use plan::{DestState, SrcPath};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("Could not find the file {path} in {place}")]
    NotFound { path: String, place: String },
    #[error("{path} in {place}: {error}")]
    Io {
        path: String,
        place: String,
        error: std::io::Error,
    },
    #[error("the archive stream: {0}")]
    Stream(std::io::Error),
    #[error("{path} is not a directory, but the path ends with '/' (drop it to copy the file)")]
    SourceNotDirectory { path: String },
    #[error("cannot copy a directory to a file: {dest} exists and is not a directory")]
    DirectoryToFile { dest: String },
    #[error("the destination directory of {dest} does not exist; create it first (or drop a trailing '/' to name the copy)")]
    DestinationDirMissing { dest: String },
    #[error("cannot overwrite directory {path} in {place} with a non-directory")]
    OverwriteDirectory { path: String, place: String },
    #[error("archive entry {entry:?} climbs out of the destination with '..'; refused")]
    EntryOutside { entry: String },
    #[error(
        "destination {path} in {place} must be an existing directory to extract an archive into"
    )]
    ArchiveNeedsDirectory { path: String, place: String },
    #[error("a private mount namespace for the stopped container's files: {0} (berth must be single-threaded and root here)")]
    Namespace(nix::errno::Errno),
    #[error("container {name} has a read-only root filesystem (--read-only); copy into one of its volumes or binds, or into a tmpfs mount while it runs")]
    ReadOnlyRootfs { name: String },
    #[error("the copy's archive writer panicked")]
    Writer,
}

/// `cp -a` and `cp -L`. `-a` does what docker's reference says (the copy keeps
/// the source's owners; without it the copy belongs to the container's root, or
/// to the user running berth on the host). docker's daemon is known to differ
/// from its own reference here (docker/cli#6870: it keeps the archive's owners
/// without `-a`, and gives the copy to the container's user with it); berth
/// follows the documented behaviour, which the issue asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// Keep the source's owners (otherwise the copy belongs to the container's
    /// root, or to the user running berth on the host).
    pub archive: bool,
    /// Follow a symlink named as the source.
    pub follow_link: bool,
}

/// Where what comes out of a container goes.
pub enum HostTarget<'a> {
    /// A tar stream (`-`).
    Stream(&'a mut dyn Write),
    Path(&'a Path),
}

/// Where what goes into a container comes from.
pub enum HostSource<'a> {
    /// A tar stream (`-`), extracted into the destination directory.
    Stream(&'a mut dyn Read),
    Path(&'a Path),
}

const HOST: &str = "the host";

/// `cp CONTAINER:SRC DEST`. Returns the size of what was copied (the archive's).
pub fn copy_from(
    engine: &Engine,
    c: &Container,
    src: &str,
    to: HostTarget,
    opts: CopyOptions,
) -> Result<u64, EngineError> {
    let fs = rootfs::open(engine, c)?;
    let src = SrcPath::parse(&in_container(src));
    let source = Source {
        root: &fs.root,
        path: &src.path,
        follow: opts.follow_link || src.asserts_dir,
        place: &fs.place,
    };
    let is_dir = archive::is_dir(&source)?;
    let copied = match to {
        HostTarget::Stream(out) => {
            plan::place(&src, is_dir, "/", DestState::Directory)?;
            let name = (!src.contents).then_some(src.base.as_str());
            archive::write(&source, name, out)?
        }
        HostTarget::Path(dest) => {
            let dest_text = dest.to_string_lossy();
            let placement = plan::place(&src, is_dir, &dest_text, host_state(dest))?;
            let dir = host_dir(&placement.dir, &dest_text)?;
            let owner = (!opts.archive).then(|| (nix::unistd::geteuid(), nix::unistd::getegid()));
            let x = ExtractOptions {
                owner: owner.map(|(u, g)| (u.as_raw(), g.as_raw())),
                devices: false,
            };
            piped(&source, placement.name.as_deref(), &dir, x, HOST)?
        }
    };
    Ok(copied)
}

/// `cp SRC CONTAINER:DEST`. Returns the size of what was copied (the archive's;
/// 0 for a stream, which is extracted as it comes).
pub fn copy_to(
    engine: &Engine,
    c: &Container,
    dest: &str,
    from: HostSource,
    opts: CopyOptions,
) -> Result<u64, EngineError> {
    let fs = rootfs::open(engine, c)?;
    let copied = copy_into(&fs, dest, from, opts).map_err(|e| match e {
        // A stopped --read-only container's root, mounted read-only for the copy
        // (its volumes and binds as it has them), refused the write: say why and
        // what to do. A running one's EROFS speaks for itself.
        CopyError::Io { ref error, .. }
            if fs.stopped && c.spec.read_only && error.raw_os_error() == Some(libc::EROFS) =>
        {
            CopyError::ReadOnlyRootfs {
                name: c.name.clone(),
            }
        }
        e => e,
    })?;
    Ok(copied)
}

fn copy_into(
    fs: &rootfs::ContainerFs,
    dest: &str,
    from: HostSource,
    opts: CopyOptions,
) -> Result<u64, CopyError> {
    let dest = in_container(dest);
    let x = ExtractOptions {
        owner: (!opts.archive).then_some((0, 0)),
        devices: true,
    };
    match from {
        HostSource::Stream(input) => {
            let dir = sub_root(&fs.root, &dest, &fs.place)?.ok_or_else(|| {
                CopyError::ArchiveNeedsDirectory {
                    path: dest.clone(),
                    place: fs.place.clone(),
                }
            })?;
            extract::extract(&dir, input, x, &fs.place)?;
            Ok(0)
        }
        HostSource::Path(path) => {
            let host = Root::open("/").map_err(|e| io_at("/", HOST, to_io(e)))?;
            let src = SrcPath::parse(&absolute(path).to_string_lossy());
            let source = Source {
                root: &host,
                path: &src.path,
                follow: opts.follow_link || src.asserts_dir,
                place: HOST,
            };
            let is_dir = archive::is_dir(&source)?;
            let state = container_state(&fs.root, &dest, &fs.place)?;
            let placement = plan::place(&src, is_dir, &dest, state)?;
            let dir = sub_root(&fs.root, &placement.dir, &fs.place)?.ok_or_else(|| {
                CopyError::NotFound {
                    path: placement.dir.clone(),
                    place: fs.place.clone(),
                }
            })?;
            piped(&source, placement.name.as_deref(), &dir, x, &fs.place)
        }
    }
}

/// Archives `source` in a thread while the archive is extracted into `dest`.
fn piped(
    source: &Source,
    name: Option<&str>,
    dest: &Root,
    opts: ExtractOptions,
    place: &str,
) -> Result<u64, CopyError> {
    let (reader, writer) = std::io::pipe().map_err(CopyError::Stream)?;
    std::thread::scope(|s| {
        let producer = s.spawn(move || archive::write(source, name, writer));
        let extracted = extract::extract(dest, reader, opts, place);
        let produced = producer.join().map_err(|_| CopyError::Writer)?;
        // Whichever side failed first tells why: a destination that refused a
        // write (the writer then only saw a broken pipe), else the source (the
        // extractor then only saw a cut stream).
        match (produced, extracted) {
            (_, Err(e)) if !matches!(e, CopyError::Stream(_)) => Err(e),
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(e),
            (Ok(n), Ok(())) => Ok(n),
        }
    })
}

/// Container paths are relative to its root, as docker's.
fn in_container(path: &str) -> String {
    match path.starts_with('/') {
        true => path.to_string(),
        false => format!("/{path}"),
    }
}

fn absolute(path: &Path) -> PathBuf {
    match path.is_absolute() {
        true => path.to_path_buf(),
        false => std::env::current_dir().unwrap_or_default().join(path),
    }
}

fn host_state(path: &Path) -> DestState {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => DestState::Directory,
        Ok(_) => DestState::Other,
        Err(_) => DestState::Missing,
    }
}

/// The host directory `dir` as the root of an extraction. The user's own path is
/// followed as given, a last symlink included (`Root::open` would refuse one).
fn host_dir(dir: &str, dest: &str) -> Result<Root, CopyError> {
    use rustix::fs::{Mode, OFlags, CWD};
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    match rustix::fs::openat(CWD, dir, flags, Mode::empty()) {
        Ok(fd) => Ok(Root::from_fd(fd)),
        Err(rustix::io::Errno::NOENT) => Err(CopyError::DestinationDirMissing {
            dest: dest.to_string(),
        }),
        Err(e) => Err(io_at(dir, HOST, e.into())),
    }
}

/// What `path` (followed inside the root) is.
fn container_state(root: &Root, path: &str, place: &str) -> Result<DestState, CopyError> {
    match root.resolve(path) {
        Ok(h) => {
            let stat = rustix::fs::fstat(&h).map_err(|e| io_at(path, place, e.into()))?;
            Ok(match rustix::fs::FileType::from_raw_mode(stat.st_mode) {
                rustix::fs::FileType::Directory => DestState::Directory,
                _ => DestState::Other,
            })
        }
        Err(e) => match to_io(e) {
            e if e.kind() == std::io::ErrorKind::NotFound => Ok(DestState::Missing),
            e => Err(io_at(path, place, e)),
        },
    }
}

/// The directory `dir` inside `root` as a root of its own; `None` when it is
/// missing or not a directory. Resolved once and checked on the handle itself,
/// so what is checked is what is used, whatever the path turns into meanwhile.
fn sub_root(root: &Root, dir: &str, place: &str) -> Result<Option<Root>, CopyError> {
    let handle = match root.resolve(dir) {
        Ok(h) => h,
        Err(e) => match to_io(e) {
            e if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            e => return Err(io_at(dir, place, e)),
        },
    };
    let fd = OwnedFd::from(handle);
    let stat = rustix::fs::fstat(&fd).map_err(|e| io_at(dir, place, e.into()))?;
    Ok(
        (rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Directory)
            .then(|| Root::from_fd(fd)),
    )
}

fn io_at(path: &str, place: &str, error: std::io::Error) -> CopyError {
    CopyError::Io {
        path: path.to_string(),
        place: place.to_string(),
        error,
    }
}
