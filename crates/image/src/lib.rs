//! berth-image: references, the content-addressed blob store, image metadata, import
//! of root filesystem tarballs, safe layer unpacking and overlay lower directories,
//! and the way back: overlay upper directories archived as layers (`layer_writer`,
//! `commit`) and compared with their image (`diff`); and [`inroot`], the one way berth
//! reads or writes a file inside a tree an image or a container controls (the engine
//! uses it for a container's rootfs).

pub mod archive;
pub mod blobs;
pub mod change;
pub mod commit;
pub mod db;
pub mod diff;
pub mod fstree;
pub mod gc;
pub mod import;
pub mod inroot;
pub mod layer_writer;
pub mod layers;
pub mod reference;
pub mod store;
pub mod suggest;
pub mod unpack;
pub mod users;

pub use oci_spec::image::{Config as ImageConfig, ImageConfiguration};
pub use reference::Reference;
pub use store::{ImageRecord, ImageStore, StoreError};

pub const DEFAULT_PATH_ENV: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// An architecture in Rust's or uname's name → Go's, which image platforms use.
pub fn go_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "i686" | "i386" | "x86" => "386",
        "armhf" | "armel" => "arm",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// This machine's architecture in Go's name.
pub fn host_go_arch() -> &'static str {
    go_arch(std::env::consts::ARCH)
}

/// Chain ids per the OCI image spec: ChainID(L0) = DiffID(L0),
/// ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)).
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => blobs::sha256_digest(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// The short id docker prints: 12 hex digits without the algorithm.
/// Bytes the regular files under `path` take (symlinks not followed, other
/// filesystems mounted below not entered).
pub fn disk_usage(path: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(top) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() && m.dev() == top.dev() {
                stack.push(e.path());
            } else if m.is_file() {
                total += m.len();
            }
        }
    }
    if top.is_file() {
        total += top.len();
    }
    total
}

pub fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_spec() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        assert_eq!(ids[1], blobs::sha256_digest(format!("{a} {b}").as_bytes()));
    }
}
