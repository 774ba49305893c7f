//! Fixtures several test files build: busybox rootfs variants (entries dropped,
//! hostile entries added with raw names), scratch directories, and static C
//! programs (busybox has no UDP server, no syscall prober).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A scratch directory under the temporary directory, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// `$TMPDIR/berth-TAG-PID`, emptied first.
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("berth-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The directory as a `&str`, for command lines.
    pub fn as_str(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temporary directory")
    }

    /// Writes `text` to `name` below the directory (parents made).
    pub fn write(&self, name: &str, text: &str) -> &Self {
        let p = self.0.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        self
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An entry a test adds to a rootfs tarball. Names are written as raw bytes, so
/// `..` and absolute names reach the archive as an attacker would write them.
pub enum Extra<'a> {
    File(&'a str, &'a str),
    Symlink(&'a str, &'a str),
    Fifo(&'a str),
    Dir(&'a str),
}

fn header(path: &str, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(size);
    // Raw bytes: tar's set_path refuses some of the names an attacker writes.
    let name = h.as_old_mut().name.as_mut();
    name[..path.len()].copy_from_slice(path.as_bytes());
    h
}

fn append(b: &mut tar::Builder<std::fs::File>, e: &Extra) {
    let (path, kind, data, link) = match e {
        Extra::File(p, d) => (*p, tar::EntryType::Regular, d.as_bytes(), None),
        Extra::Symlink(p, t) => (*p, tar::EntryType::Symlink, &b""[..], Some(*t)),
        Extra::Fifo(p) => (*p, tar::EntryType::Fifo, &b""[..], None),
        Extra::Dir(p) => (*p, tar::EntryType::Directory, &b""[..], None),
    };
    let mut h = header(path, kind, data.len() as u64);
    if let Some(t) = link {
        h.set_link_name_literal(t).unwrap();
    }
    h.set_cksum();
    b.append(&h, data).unwrap();
}

/// Writes to `out` the busybox rootfs without `drop` (and what lies below), plus
/// `extra` after it.
pub fn busybox_variant(out: &Path, drop: &[&str], extra: &[Extra]) {
    let mut src = tar::Archive::new(std::fs::File::open(crate::busybox_tar()).unwrap());
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    for entry in src.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let rel = path.trim_start_matches("./").trim_end_matches('/');
        if drop
            .iter()
            .any(|d| rel == *d || rel.starts_with(&format!("{d}/")))
        {
            continue;
        }
        let h = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        b.append(&h, &data[..]).unwrap();
    }
    for e in extra {
        append(&mut b, e);
    }
    b.finish().unwrap();
}

/// Writes a tarball of just `entries` to `out`.
pub fn tar_of(out: &Path, entries: &[Extra]) {
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    for e in entries {
        append(&mut b, e);
    }
    b.finish().unwrap();
}

/// Compiles the C program `source` into the static binary `out` with `cc`
/// (static, so it runs in the busybox rootfs, which has no libc).
pub fn compile_static_c(source: &str, out: &Path) {
    let src = out.with_extension("c");
    std::fs::write(&src, source).unwrap();
    let st = Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(out)
        .arg(&src)
        .status()
        .expect("a C compiler (cc) for a test probe");
    let _ = std::fs::remove_file(&src);
    assert!(st.success(), "compiling {} failed", out.display());
}
