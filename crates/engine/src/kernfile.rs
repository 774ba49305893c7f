//! Reads of the kernel's small pseudo-files (`/proc/PID/stat`, `freezer.state`)
//! that `ps` makes for every container.
//!
//! `std::fs::read_to_string` asks for the size first (0 for these files), then
//! probes with small reads until one returns nothing: six or seven system calls
//! per file. These files are produced whole by the first read, so one `read`
//! into a stack buffer does it: with 1,000 containers that is 8,000 fewer system
//! calls per `ps` (issue 11).

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The file's text if it fits in `buf` and is UTF-8; None if it cannot be read
/// or is longer than `buf` (a caller sizes `buf` for the file it expects).
pub fn read_small(path: impl AsRef<Path>, buf: &mut [u8]) -> Option<&str> {
    read_whole(std::fs::File::open(path).ok()?, buf)
}

/// [`read_small`] of `relative` under a directory opened once per process: the
/// path walk down to that directory (`/sys/fs/cgroup/freezer/berth`, `/proc`)
/// was a third of `ps`'s CPU with 1,000 containers. A miss is tried again by the
/// full path, in case the directory was removed and made again since it was
/// opened (berth's cgroup parent goes with its last container).
pub fn read_small_under<'b>(dir: &Path, relative: &str, buf: &'b mut [u8]) -> Option<&'b str> {
    match open_under(dir, relative) {
        Some(file) => read_whole(file, buf),
        None => read_small(dir.join(relative), buf),
    }
}

fn open_under(dir: &Path, relative: &str) -> Option<std::fs::File> {
    let fd = open_dir_cached(dir)?;
    let name = std::ffi::CString::new(relative).ok()?;
    // SAFETY: openat(2) on a directory fd we keep open for the process's life.
    let raw = unsafe {
        libc::openat(
            fd,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY,
        )
    };
    // SAFETY: `raw` is a file descriptor we just opened and own.
    (raw >= 0).then(|| unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(raw) })
}

/// The directory's fd, opened at first use and kept (a handful of fixed
/// directories per process; a directory that cannot be opened is not retried).
fn open_dir_cached(dir: &Path) -> Option<std::os::fd::RawFd> {
    use std::os::fd::IntoRawFd;
    use std::sync::Mutex;
    static DIRS: Mutex<Vec<(std::path::PathBuf, Option<std::os::fd::RawFd>)>> =
        Mutex::new(Vec::new());
    let mut dirs = DIRS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, fd)) = dirs.iter().find(|(p, _)| p == dir) {
        return *fd;
    }
    let fd = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)
        .ok()
        .map(IntoRawFd::into_raw_fd);
    dirs.push((dir.to_path_buf(), fd));
    fd
}

fn read_whole(mut file: std::fs::File, buf: &mut [u8]) -> Option<&str> {
    let n = loop {
        match file.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => break other.ok()?,
        }
    };
    if n == buf.len() {
        return None;
    }
    std::str::from_utf8(&buf[..n]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_proc_file_whole() {
        let mut buf = [0u8; 1024];
        let stat = read_small("/proc/self/stat", &mut buf).unwrap();
        assert!(stat.ends_with('\n'), "{stat:?}");
        assert_eq!(
            stat.split_whitespace().next(),
            Some(std::process::id().to_string().as_str())
        );
    }

    #[test]
    fn too_long_or_missing_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "FROZEN\n").unwrap();
        assert_eq!(read_small(&path, &mut [0u8; 16]), Some("FROZEN\n"));
        assert_eq!(read_small(&path, &mut [0u8; 7]), None);
        assert_eq!(read_small(dir.path().join("nothing"), &mut [0u8; 16]), None);
        assert_eq!(
            read_small_under(dir.path(), "f", &mut [0u8; 16]),
            Some("FROZEN\n")
        );
        assert_eq!(
            read_small_under(dir.path(), "nothing", &mut [0u8; 16]),
            None
        );
        assert_eq!(
            read_small_under(&dir.path().join("no-dir"), "f", &mut [0u8; 16]),
            None
        );
    }
}
