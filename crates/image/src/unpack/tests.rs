//! Hostile layers: each test is an archive an attacker could write.

use super::*;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn header(path: &str, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(0o755);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(size);
    // set_path refuses '..'; write raw names so hostile paths reach us.
    let name = h.as_old_mut().name.as_mut();
    name[..path.len()].copy_from_slice(path.as_bytes());
    h
}

fn tar_with(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, kind, data_or_link) in entries {
        let data: &[u8] = if kind.is_file() {
            data_or_link.as_bytes()
        } else {
            b""
        };
        let mut h = header(path, *kind, data.len() as u64);
        if kind.is_symlink() || kind.is_hard_link() {
            h.set_link_name_literal(data_or_link).unwrap();
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

/// `layers/` holding a sibling layer and the one being unpacked, plus a directory
/// outside standing for the host.
struct Setup {
    _t: tempfile::TempDir,
    root: PathBuf,
    sibling: PathBuf,
    outside: PathBuf,
}

fn setup() -> Setup {
    let t = tempfile::tempdir().unwrap();
    let layers = t.path().join("layers");
    let root = layers.join(".tmp-new");
    let sibling = layers.join("other");
    let outside = t.path().join("outside");
    for d in [&root, &sibling, &outside] {
        fs::create_dir_all(d).unwrap();
    }
    fs::write(sibling.join("keep"), "k").unwrap();
    fs::write(outside.join("secret"), "s").unwrap();
    Setup {
        _t: t,
        root,
        sibling,
        outside,
    }
}

use tar::EntryType as T;

#[test]
fn rejects_dotdot_escape() {
    let s = setup();
    for name in ["../evil", "a/../../evil", "/../evil"] {
        let t = tar_with(&[(name, T::Regular, "x")]);
        assert!(
            matches!(
                unpack_layer(&t[..], &s.root),
                Err(UnpackError::Escape { .. })
            ),
            "{name}"
        );
    }
    assert!(!s.root.parent().unwrap().join("evil").exists());
}

#[test]
fn whiteouts_of_dot_dotdot_or_nothing_are_refused_and_touch_nothing() {
    let s = setup();
    for name in [".wh...", ".wh..", ".wh.", "d/.wh...", "d/.wh.."] {
        let t = tar_with(&[("d", T::Directory, ""), (name, T::Regular, "")]);
        let r = unpack_layer(&t[..], &s.root);
        assert!(
            matches!(r, Err(UnpackError::BadWhiteout { .. })),
            "{name}: {r:?}"
        );
        assert!(
            s.sibling.join("keep").exists(),
            "{name} removed a sibling layer"
        );
        assert!(s.root.is_dir(), "{name} removed the layer being unpacked");
    }
}

#[test]
fn aufs_metadata_whiteouts_are_skipped() {
    let s = setup();
    let t = tar_with(&[(".wh..wh.plnk", T::Directory, ""), ("f", T::Regular, "x")]);
    unpack_layer(&t[..], &s.root).unwrap();
    assert!(!s.root.join(".wh..wh.plnk").exists() && !s.root.join(".wh.plnk").exists());
}

#[test]
fn symlinked_parents_resolve_inside_the_layer() {
    let s = setup();
    let outside = s.outside.to_str().unwrap();
    let t = tar_with(&[
        ("up", T::Symlink, "../../.."),
        ("up/pwned", T::Regular, "y"),
        ("abs", T::Symlink, "/"),
        ("abs/pwned2", T::Regular, "z"),
    ]);
    unpack_layer(&t[..], &s.root).unwrap();
    assert_eq!(fs::read(s.root.join("pwned")).unwrap(), b"y");
    assert_eq!(fs::read(s.root.join("pwned2")).unwrap(), b"z");
    // A link to a host path that does not exist inside: refused (docker, unpacking
    // in a chroot, fails the same way), and nothing appears on the host.
    let t = tar_with(&[
        ("link", T::Symlink, outside),
        ("link/pwned", T::Regular, "x"),
    ]);
    assert!(unpack_layer(&t[..], &s.root).is_err());
    assert!(!s.outside.join("pwned").exists());
}

#[test]
fn a_directory_replaced_by_a_symlink_mid_archive_is_not_followed_out() {
    let s = setup();
    let outside = s.outside.to_str().unwrap();
    let t = tar_with(&[
        ("d", T::Directory, ""),
        ("d/f1", T::Regular, "1"),
        ("d", T::Symlink, "/"),
        ("d/f2", T::Regular, "2"),
        ("e", T::Directory, ""),
        ("e", T::Symlink, outside),
    ]);
    unpack_layer(&t[..], &s.root).unwrap();
    assert!(s.root.join("d").is_symlink());
    assert_eq!(fs::read(s.root.join("f2")).unwrap(), b"2");
    let t = tar_with(&[("e/f3", T::Regular, "3")]);
    assert!(unpack_layer(&t[..], &s.root).is_err());
    assert!(!s.outside.join("f3").exists());
}

#[test]
fn a_symlink_among_files_of_one_directory_is_not_followed_out() {
    // The open parent is reused across d/a, d/x and d/x/f's siblings; d/x/f
    // itself has another parent and resolves inside the layer.
    let s = setup();
    let outside = s.outside.to_str().unwrap();
    let t = tar_with(&[
        ("d", T::Directory, ""),
        ("d/a", T::Regular, "a"),
        ("d/x", T::Symlink, "/"),
        ("d/x/f", T::Regular, "f"),
        ("d/b", T::Regular, "b"),
        ("d/y", T::Symlink, outside),
        ("d/c", T::Regular, "c"),
    ]);
    unpack_layer(&t[..], &s.root).unwrap();
    assert_eq!(fs::read(s.root.join("f")).unwrap(), b"f");
    for (n, v) in [("a", "a"), ("b", "b"), ("c", "c")] {
        assert_eq!(fs::read(s.root.join("d").join(n)).unwrap(), v.as_bytes());
    }
    assert!(s.root.join("d/y").is_symlink());
    assert_eq!(
        fs::read_dir(&s.outside).unwrap().count(),
        1,
        "only the secret"
    );
}

#[test]
fn a_file_over_a_symlink_replaces_the_link_not_its_target() {
    let s = setup();
    let secret = s.outside.join("secret");
    let t = tar_with(&[
        ("x", T::Symlink, secret.to_str().unwrap()),
        ("x", T::Regular, "mine"),
        ("y", T::Symlink, secret.to_str().unwrap()),
        ("y", T::Directory, ""),
    ]);
    unpack_layer(&t[..], &s.root).unwrap();
    assert_eq!(fs::read(s.root.join("x")).unwrap(), b"mine");
    assert!(s.root.join("y").is_dir() && !s.root.join("y").is_symlink());
    assert_eq!(fs::read(&secret).unwrap(), b"s");
}

#[test]
fn hardlinks_must_point_at_files_inside() {
    let s = setup();
    let secret = s.outside.join("secret");
    let climbing = format!("../../../..{}", secret.display());
    let cases = [
        vec![("h", T::Link, "/etc/passwd")],
        vec![("h", T::Link, climbing.as_str())],
        vec![("h", T::Link, "a/../../x")],
        vec![("d", T::Directory, ""), ("h", T::Link, "d")],
        vec![
            ("s", T::Symlink, s.outside.to_str().unwrap()),
            ("h", T::Link, "s/secret"),
        ],
    ];
    for entries in cases {
        let t = tar_with(&entries);
        let r = unpack_layer(&t[..], &s.root);
        assert!(
            matches!(r, Err(UnpackError::BadHardlink { .. })),
            "{entries:?}: {r:?}"
        );
    }
    assert_eq!(fs::metadata(&secret).unwrap().nlink(), 1);
    let t = tar_with(&[("f", T::Regular, "data"), ("sub/h", T::Link, "./f")]);
    unpack_layer(&t[..], &s.root).unwrap();
    assert_eq!(fs::read(s.root.join("sub/h")).unwrap(), b"data");
    assert_eq!(fs::metadata(s.root.join("f")).unwrap().nlink(), 2);
}

#[test]
fn fifos_are_unpacked_as_fifos() {
    let s = setup();
    let t = tar_with(&[("p", T::Fifo, "")]);
    unpack_layer(&t[..], &s.root).unwrap();
    assert!(fs::symlink_metadata(s.root.join("p"))
        .unwrap()
        .file_type()
        .is_fifo());
}

#[test]
fn devices_and_whiteouts_become_device_nodes() {
    if !is_root() {
        eprintln!("SKIPPED: making device nodes needs root");
        return;
    }
    let s = setup();
    let mut h = header("null", T::Char, 0);
    h.set_device_major(1).unwrap();
    h.set_device_minor(3).unwrap();
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b""[..]).unwrap();
    let mut t = b.into_inner().unwrap();
    t.truncate(t.len() - 1024); // drop the end marker to append more
    t.extend(tar_with(&[
        ("d/gone", T::Regular, "x"),
        ("d/.wh.gone", T::Regular, ""),
    ]));
    unpack_layer(&t[..], &s.root).unwrap();
    let m = fs::symlink_metadata(s.root.join("null")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), rustix::fs::makedev(1, 3));
    let m = fs::symlink_metadata(s.root.join("d/gone")).unwrap();
    assert!(m.file_type().is_char_device() && m.rdev() == 0);
}

#[test]
fn owners_meaning_unchanged_and_unknown_types_are_refused() {
    let s = setup();
    let mut h = header("f", T::Regular, 0);
    h.set_uid(u32::MAX as u64);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b""[..]).unwrap();
    let t = b.into_inner().unwrap();
    assert!(matches!(
        unpack_layer(&t[..], &s.root),
        Err(UnpackError::BadOwner { .. })
    ));
    let t = tar_with(&[("v", T::new(b'V'), "")]);
    assert!(matches!(
        unpack_layer(&t[..], &s.root),
        Err(UnpackError::Unsupported { .. })
    ));
}

#[test]
fn a_sparse_entry_claiming_a_terabyte_is_refused() {
    let s = setup();
    let mut h = header("big", T::GNUSparse, 0);
    let gnu = h.as_gnu_mut().unwrap();
    gnu.sparse[0].set_offset(1 << 40);
    gnu.sparse[0].set_length(0);
    gnu.set_real_size(1 << 40);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b""[..]).unwrap();
    let t = b.into_inner().unwrap();
    let r = unpack_layer(&t[..], &s.root);
    assert!(
        matches!(r, Err(UnpackError::SparseTooLarge { .. })),
        "{r:?}"
    );
    assert!(!s.root.join("big").exists());
}

#[test]
fn a_small_sparse_file_keeps_its_holes() {
    let s = setup();
    let mut h = header("sp", T::GNUSparse, 512);
    let gnu = h.as_gnu_mut().unwrap();
    gnu.sparse[0].set_offset(1 << 20);
    gnu.sparse[0].set_length(512);
    gnu.set_real_size((1 << 20) + 512);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &[7u8; 512][..]).unwrap();
    let t = b.into_inner().unwrap();
    unpack_layer(&t[..], &s.root).unwrap();
    let m = fs::metadata(s.root.join("sp")).unwrap();
    assert_eq!(m.len(), (1 << 20) + 512);
    assert!(m.blocks() * 512 < 1 << 20, "holes were written out");
}

#[test]
fn pax_global_headers_are_skipped_and_overlay_xattrs_dropped() {
    let s = setup();
    let mut b = tar::Builder::new(Vec::new());
    let mut g = header("pax_global_header", T::XGlobalHeader, 0);
    g.set_cksum();
    b.append(&g, &b""[..]).unwrap();
    if is_root() {
        b.append_pax_extensions([
            ("SCHILY.xattr.trusted.overlay.redirect", &b"/etc"[..]),
            ("SCHILY.xattr.trusted.berth-test", &b"ok"[..]),
        ])
        .unwrap();
    }
    let mut h = header("f", T::Regular, 1);
    h.set_cksum();
    b.append(&h, &b"x"[..]).unwrap();
    let t = b.into_inner().unwrap();
    unpack_layer(&t[..], &s.root).unwrap();
    assert_eq!(fs::read(s.root.join("f")).unwrap(), b"x");
    if is_root() {
        let f = fs::File::open(s.root.join("f")).unwrap();
        let mut buf = [0u8; 16];
        let got = rustix::fs::fgetxattr(&f, "trusted.berth-test", &mut buf);
        assert_eq!(got.map(|n| buf[..n].to_vec()).ok(), Some(b"ok".to_vec()));
        assert!(rustix::fs::fgetxattr(&f, "trusted.overlay.redirect", &mut buf).is_err());
    }
}
