//! Reads of the kernel's small pseudo-files: `/proc/PID/stat`, which `ps` reads
//! for every container, and a cgroup's freezer state.
//!
//! `std::fs::read_to_string` asks for the size first (0 for these files), then
//! probes with small reads until one returns nothing: six or seven system calls
//! per file. These files are produced whole by the first read, so one `read`
//! into a stack buffer does it: with 1,000 containers that is 8,000 fewer system
//! calls per `ps` (issue 11).
//!
//! By full path every time: a directory fd kept open (`/proc`, a cgroup parent)
//! would save a little of the path walk, but it would also be inherited by every
//! process the runtime forks into a container (until its exec), and a host
//! directory open in a container's process is how CVE-2024-21626 escaped.

use std::io::Read;
use std::path::Path;

/// The file's text if it fits in `buf` and is UTF-8; None if it cannot be read
/// or is longer than `buf` (a caller sizes `buf` for the file it expects).
pub fn read_small(path: impl AsRef<Path>, buf: &mut [u8]) -> Option<&str> {
    let mut file = std::fs::File::open(path).ok()?;
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
    }
}
