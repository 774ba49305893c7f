//! The archive and extraction halves on plain directories (no container needed):
//! a round trip keeps contents, modes, links and FIFOs; hostile archives and
//! links never reach outside the destination.

use super::archive::{self, Source};
use super::extract::{extract, ExtractOptions};
use super::CopyError;
use pathrs::Root;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

fn own() -> ExtractOptions {
    ExtractOptions {
        owner: Some((
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )),
        devices: false,
    }
}

/// A tar header whose name is written as given (the tar crate refuses `..`).
fn raw(out: &mut Vec<u8>, name: &str, kind: tar::EntryType, link: Option<&str>, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(l) = link {
        h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
    }
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn ended(mut tar: Vec<u8>) -> Vec<u8> {
    tar.extend_from_slice(&[0; 1024]);
    tar
}

#[test]
fn a_round_trip_keeps_contents_modes_and_links() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    std::fs::create_dir_all(src.join("dir/sub")).unwrap();
    std::fs::create_dir(&dst).unwrap();
    std::fs::write(src.join("dir/f"), "hello\n").unwrap();
    std::fs::set_permissions(src.join("dir/f"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::fs::hard_link(src.join("dir/f"), src.join("dir/sub/h")).unwrap();
    symlink("f", src.join("dir/link")).unwrap();
    rustix::fs::mkfifoat(rustix::fs::CWD, src.join("dir/fifo"), 0o600.into()).unwrap();
    let root = Root::open(&src).unwrap();
    let source = Source {
        root: &root,
        path: "/dir",
        follow: false,
        place: "test",
    };
    assert!(archive::is_dir(&source).unwrap());
    let mut tar = Vec::new();
    let n = archive::write(&source, Some("copy"), &mut tar).unwrap();
    assert_eq!(n as usize, tar.len());
    extract(&Root::open(&dst).unwrap(), &tar[..], own(), "test").unwrap();
    let copy = dst.join("copy");
    assert_eq!(std::fs::read_to_string(copy.join("f")).unwrap(), "hello\n");
    assert_eq!(
        std::fs::metadata(copy.join("f")).unwrap().mode() & 0o7777,
        0o750
    );
    assert_eq!(
        std::fs::read_link(copy.join("link")).unwrap(),
        Path::new("f")
    );
    let (f, h) = (
        std::fs::metadata(copy.join("f")).unwrap(),
        std::fs::metadata(copy.join("sub/h")).unwrap(),
    );
    assert_eq!(f.ino(), h.ino(), "the hard link stays one file");
    let fifo = std::fs::symlink_metadata(copy.join("fifo")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&fifo.file_type()));
    // The contents form: no top directory.
    let mut tar = Vec::new();
    archive::write(&source, None, &mut tar).unwrap();
    let names: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(
        names.contains(&"f".to_string()) && names.contains(&"sub/h".to_string()),
        "{names:?}"
    );
}

#[test]
fn hostile_archives_stay_inside_the_destination() {
    let t = tempfile::tempdir().unwrap();
    let (dest, outside) = (t.path().join("dest"), t.path().join("outside"));
    std::fs::create_dir(&dest).unwrap();
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret"), "host\n").unwrap();
    let root = Root::open(&dest).unwrap();
    let out_abs = outside.display().to_string();
    let secret = format!("{out_abs}/secret");

    let mut tar = Vec::new();
    raw(
        &mut tar,
        "../outside/climb",
        tar::EntryType::Regular,
        None,
        b"x",
    );
    let err = extract(&root, &ended(tar)[..], own(), "test").unwrap_err();
    assert!(matches!(err, CopyError::EntryOutside { .. }), "{err}");

    // Each trick in an archive of its own, so that a refusal of one hides no other;
    // each is refused or lands inside, never outside.
    use tar::EntryType::{Link, Regular, Symlink};
    let abs = format!("{out_abs}/abs");
    let tricks: [&[(&str, tar::EntryType, Option<&str>)]; 5] = [
        &[(&abs, Regular, None)],
        &[
            ("evil", Symlink, Some(&out_abs)),
            ("evil/via-abs", Regular, None),
        ],
        &[
            ("up", Symlink, Some("../../../../outside")),
            ("up/via-up", Regular, None),
        ],
        &[("sec", Symlink, Some(&secret)), ("sec", Regular, None)],
        &[("hard", Link, Some(&secret))],
    ];
    for trick in tricks {
        let mut tar = Vec::new();
        for (name, kind, link) in trick {
            let data: &[u8] = if *kind == Regular { b"pwned" } else { b"" };
            raw(&mut tar, name, *kind, *link, data);
        }
        let _ = extract(&root, &ended(tar)[..], own(), "test");
    }
    let left: Vec<_> = std::fs::read_dir(&outside)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["secret"], "something was written outside");
    assert_eq!(
        std::fs::read_to_string(outside.join("secret")).unwrap(),
        "host\n"
    );
    assert_eq!(
        std::fs::metadata(outside.join("secret")).unwrap().nlink(),
        1
    );
    assert_eq!(std::fs::read_to_string(dest.join("sec")).unwrap(), "pwned");
}

#[test]
fn links_out_of_the_source_are_never_followed() {
    let t = tempfile::tempdir().unwrap();
    let (src, outside) = (t.path().join("src"), t.path().join("outside"));
    std::fs::create_dir_all(src.join("dir")).unwrap();
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret"), "host\n").unwrap();
    let secret = outside.join("secret").display().to_string();
    symlink(&secret, src.join("leak")).unwrap();
    symlink(format!("../../../../..{secret}"), src.join("dir/climb")).unwrap();
    let root = Root::open(&src).unwrap();
    // -L on a link out: it is resolved inside, where nothing is.
    let followed = Source {
        root: &root,
        path: "/leak",
        follow: true,
        place: "test",
    };
    assert!(matches!(
        archive::write(&followed, Some("x"), Vec::new()),
        Err(CopyError::NotFound { .. })
    ));
    // A directory's links are archived as links.
    let dir = Source {
        root: &root,
        path: "/dir",
        follow: false,
        place: "test",
    };
    let mut tar = Vec::new();
    archive::write(&dir, Some("dir"), &mut tar).unwrap();
    let text = String::from_utf8_lossy(&tar);
    assert!(
        !text.contains("host\n"),
        "the secret's contents were archived"
    );
}

/// File names are bytes: one that is not UTF-8 (a Latin-1 name, say) arrives
/// under its own name, and two such names stay two files.
#[test]
fn names_that_are_not_utf8_survive_a_round_trip() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    let names = [OsStr::from_bytes(b"caf\xe9"), OsStr::from_bytes(b"caf\xe8")];
    std::fs::create_dir_all(src.join("dir")).unwrap();
    std::fs::create_dir(&dst).unwrap();
    for (i, name) in names.iter().enumerate() {
        std::fs::create_dir(src.join("dir").join(name)).unwrap();
        std::fs::write(src.join("dir").join(name).join(name), i.to_string()).unwrap();
    }
    let root = Root::open(&src).unwrap();
    let source = Source {
        root: &root,
        path: "/dir",
        follow: false,
        place: "test",
    };
    let mut tar = Vec::new();
    archive::write(&source, Some("copy"), &mut tar).unwrap();
    extract(&Root::open(&dst).unwrap(), &tar[..], own(), "test").unwrap();
    for (i, name) in names.iter().enumerate() {
        let file = dst.join("copy").join(name).join(name);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap_or_default(),
            i.to_string(),
            "{} missing or wrong",
            file.display()
        );
    }
}
