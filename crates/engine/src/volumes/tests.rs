use super::*;

fn paths(dir: &Path) -> Paths {
    Paths {
        root: dir.join("root"),
        runroot: dir.join("run"),
    }
}

fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn names_follow_dockers_rule() {
    for bad in [
        "", "a", "..", ".a", "a/b", "../x", "a\0b", "-a", "_a", "a b",
    ] {
        assert!(check_name(bad).is_err(), "{bad:?}");
    }
    assert!(check_name(&"a".repeat(256)).is_err());
    assert!(check_name(&"a".repeat(255)).is_ok());
    assert!(check_name("my-vol_1.x").is_ok());
}

#[test]
fn create_is_idempotent_and_strict_about_options() {
    let t = tempfile::tempdir().unwrap();
    let p = paths(t.path());
    let req = VolumeRequest {
        labels: opts(&[("a", "1")]),
        ..Default::default()
    };
    let (v, made) = create(&p, "data", &req, true).unwrap();
    assert!(made && v.labels["a"] == "1");
    let (_, made) = create(&p, "data", &req, true).unwrap();
    assert!(!made);
    let other = VolumeRequest {
        labels: opts(&[("a", "2")]),
        ..Default::default()
    };
    assert!(matches!(
        create(&p, "data", &other, true),
        Err(VolumeError::Conflict(_))
    ));
    assert!(
        create(&p, "data", &other, false).is_ok(),
        "first use takes it as is"
    );
    assert_eq!(list(&p).unwrap().len(), 1);
    assert!(p.volume_dir("data").join("_data").is_dir());
}

#[test]
fn racing_creates_all_get_the_one_volume() {
    let t = tempfile::tempdir().unwrap();
    let p = paths(t.path());
    let made: Vec<bool> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    create(&p, "shared", &VolumeRequest::default(), false)
                        .unwrap()
                        .1
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(made.iter().filter(|m| **m).count(), 1);
    let left: Vec<_> = std::fs::read_dir(p.root.join("volumes"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".lock")
        .collect();
    assert_eq!(left, vec!["shared"], "no staging directory left");
}

#[test]
fn driver_options() {
    assert_eq!(
        DriverOptions::parse(&opts(&[])).unwrap(),
        DriverOptions::Plain
    );
    let bind = opts(&[("type", "none"), ("o", "bind"), ("device", "/srv")]);
    assert!(matches!(
        DriverOptions::parse(&bind).unwrap(),
        DriverOptions::Bind { .. }
    ));
    for bad in [
        opts(&[("type", "tmpfs"), ("device", "tmpfs")]),
        opts(&[("type", "nfs"), ("o", "addr=1.2.3.4"), ("device", ":/x")]),
        opts(&[("type", "none"), ("device", "/srv")]),
        opts(&[("type", "none"), ("o", "bind,size=1"), ("device", "/srv")]),
        opts(&[("size", "1")]),
    ] {
        assert!(DriverOptions::parse(&bad).is_err(), "{bad:?}");
    }
    let rel = opts(&[("type", "none"), ("o", "bind"), ("device", "srv")]);
    assert!(DriverOptions::parse(&rel).unwrap().check().is_err());
}

#[test]
fn remove_refuses_a_volume_in_use_and_discards_otherwise() {
    let t = tempfile::tempdir().unwrap();
    let p = paths(t.path());
    create(&p, "v1", &VolumeRequest::default(), true).unwrap();
    let mut c = Container {
        id: "1".into(),
        name: "web".into(),
        image_id: String::new(),
        created: String::new(),
        spec: Default::default(),
        state: Default::default(),
    };
    c.spec.binds.push(crate::model::BindMount {
        source: "v1".into(),
        destination: "/d".into(),
        volume: true,
        ..Default::default()
    });
    let err = remove(&p, std::slice::from_ref(&c), "v1").unwrap_err();
    assert!(err.to_string().contains("in use by web"), "{err}");
    remove(&p, &[], "v1").unwrap();
    assert!(matches!(get(&p, "v1"), Err(VolumeError::NotFound(_))));
    assert!(matches!(
        remove(&p, &[], "v1"),
        Err(VolumeError::NotFound(_))
    ));
}

#[test]
fn copy_up_stays_inside_the_image_root() {
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
    let t = tempfile::tempdir().unwrap();
    let rootfs = t.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::write(rootfs.join("etc/own"), "image").unwrap();
    std::fs::create_dir_all(rootfs.join("app/sub")).unwrap();
    std::fs::write(rootfs.join("app/sub/f"), "x").unwrap();
    std::fs::set_permissions(
        rootfs.join("app/sub/f"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    symlink("/etc/passwd", rootfs.join("app/link")).unwrap();
    // The mount path itself is a link out of the root: resolved inside it.
    symlink("/etc", rootfs.join("data")).unwrap();
    let data = t.path().join("_data");
    std::fs::create_dir(&data).unwrap();
    assert!(copy_up(&rootfs, "/data", &data, "v").unwrap());
    assert_eq!(std::fs::read_to_string(data.join("own")).unwrap(), "image");
    assert!(!data.join("passwd").exists(), "the host's /etc was copied");

    let data2 = t.path().join("_data2");
    std::fs::create_dir(&data2).unwrap();
    assert!(copy_up(&rootfs, "/app", &data2, "v").unwrap());
    let m = std::fs::symlink_metadata(data2.join("sub/f")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o640);
    assert_eq!(
        std::fs::read_link(data2.join("link")).unwrap(),
        Path::new("/etc/passwd"),
        "a link is copied as a link"
    );
    // Not empty any more: a second copy-up leaves it alone.
    std::fs::remove_file(data2.join("sub/f")).unwrap();
    assert!(!copy_up(&rootfs, "/app", &data2, "v").unwrap());
    assert!(!copy_up(&rootfs, "/missing", &data, "v").unwrap());
}

#[test]
fn copy_up_keeps_hard_links_and_extended_attributes() {
    use std::os::unix::fs::MetadataExt;
    let t = tempfile::tempdir().unwrap();
    let rootfs = t.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("app/a")).unwrap();
    std::fs::create_dir_all(rootfs.join("app/b")).unwrap();
    std::fs::write(rootfs.join("app/a/one"), "same").unwrap();
    std::fs::hard_link(rootfs.join("app/a/one"), rootfs.join("app/b/two")).unwrap();
    let xattr = rustix::fs::setxattr(
        rootfs.join("app/a/one").as_path(),
        "user.berth",
        b"kept",
        rustix::fs::XattrFlags::empty(),
    );
    let data = t.path().join("_data");
    std::fs::create_dir(&data).unwrap();
    assert!(copy_up(&rootfs, "/app", &data, "v").unwrap());
    let (one, two) = (
        std::fs::metadata(data.join("a/one")).unwrap(),
        std::fs::metadata(data.join("b/two")).unwrap(),
    );
    assert_eq!(one.ino(), two.ino(), "the hard link became two files");
    assert_eq!(one.nlink(), 2);
    if xattr.is_ok() {
        let mut buf = [0u8; 16];
        let n =
            rustix::fs::getxattr(data.join("a/one").as_path(), "user.berth", &mut buf[..]).unwrap();
        assert_eq!(&buf[..n], b"kept");
    }
}
