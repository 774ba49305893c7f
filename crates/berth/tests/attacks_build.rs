//! `berth build` fed links that point at the host: a stage whose files link to
//! a host path (absolute and climbing with `../`), used by `COPY --from` and by a
//! `RUN --mount=type=bind,from=`; a context whose link points out, bind-mounted;
//! WORKDIR, RUN and COPY through a base layer's links (via /proc/1/root, and
//! climbing); ADD of a tar whose links and `..` names point out. Every link must
//! resolve inside the tree it lives in: the host's files, which exist at the same
//! paths with other content, must never be read or written.

use berth_testkit::{busybox_berth, stderr, stdout, Berth};
use std::path::PathBuf;
use std::process::Output;

const BIN: &str = env!("CARGO_BIN_EXE_berth");

/// A directory removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("berth-attack-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn build(b: &Berth, ctx: &Dir, tag: &str) -> Output {
    b.run(&["build", "--progress=plain", "-t", tag, ctx.path()])
}

/// A host directory holding `secret`; inside the images the same path holds
/// `STAGE`, so a link resolved on the host shows up as the host's text.
fn host_secret() -> (Dir, String) {
    let d = Dir::new("host");
    let text = format!("HOST-SECRET-{}", std::process::id());
    std::fs::write(d.0.join("secret"), &text).unwrap();
    (d, text)
}

#[test]
fn stage_symlinks_to_host_paths_resolve_inside_the_stage() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    b.import_busybox("busybox", &[]);
    let (host, secret) = host_secret();
    let ctx = Dir::new("ctx-stage");
    let h = host.path();
    std::fs::write(
        ctx.0.join("Dockerfile"),
        format!(
            "FROM busybox AS s\n\
             RUN mkdir -p {h} && echo STAGE > {h}/secret \
             && ln -s {h}/secret /abs && ln -s ../../../../../../..{h}/secret /rel \
             && ln -s {h} /absdir\n\
             FROM busybox\n\
             COPY --from=s /abs /rel /out/\n\
             COPY --from=s /absdir/secret /out/via-dir\n\
             RUN --mount=type=bind,from=s,source=/absdir,target=/m cat /m/secret > /out/mounted\n"
        ),
    )
    .unwrap();
    let out = build(&b, &ctx, "stage-links");
    assert!(out.status.success(), "build failed: {}", stderr(&out));
    let seen = b.ok(&[
        "run",
        "--rm",
        "stage-links",
        "sh",
        "-c",
        "cat /out/abs /out/rel /out/via-dir /out/mounted",
    ]);
    assert!(
        !seen.contains(&secret),
        "the host's file reached the image: {seen}"
    );
    assert_eq!(seen, "STAGE\nSTAGE\nSTAGE\nSTAGE");
    b.assert_no_leftovers();
}

#[test]
fn a_context_link_pointing_out_is_not_followed_by_copy_or_bind() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    b.import_busybox("busybox", &[]);
    let (host, secret) = host_secret();
    let ctx = Dir::new("ctx-link");
    std::os::unix::fs::symlink(host.0.join("secret"), ctx.0.join("file-link")).unwrap();
    std::os::unix::fs::symlink(&host.0, ctx.0.join("dir-link")).unwrap();
    // COPY copies the link itself; a bind mount of a link out finds nothing there.
    std::fs::write(
        ctx.0.join("Dockerfile"),
        "FROM busybox\n\
         COPY file-link dir-link /out/\n\
         RUN --mount=type=bind,source=dir-link,target=/m cat /m/secret > /out/mounted 2>&1 || echo unreadable > /out/mounted\n",
    )
    .unwrap();
    let out = build(&b, &ctx, "ctx-links");
    let err = stderr(&out);
    assert!(!err.contains(&secret), "the host's file was read: {err}");
    if out.status.success() {
        let seen = b.ok(&[
            "run",
            "--rm",
            "ctx-links",
            "sh",
            "-c",
            "readlink /out/file-link /out/dir-link; cat /out/mounted",
        ]);
        assert!(
            !seen.contains(&secret),
            "the host's file reached the image: {seen}"
        );
        assert!(
            seen.starts_with(&format!("{}/secret\n{}\n", host.path(), host.path())),
            "COPY kept the links as links: {seen}"
        );
    } else {
        assert!(err.contains("dir-link"), "the error names the link: {err}");
    }
    let _ = stdout(&out);
    b.assert_no_leftovers();
}

#[test]
fn copy_of_a_link_to_a_file_in_the_context_copies_that_file() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    b.import_busybox("busybox", &[]);
    let ctx = Dir::new("ctx-inner-link");
    std::fs::write(ctx.0.join("a.txt"), "in the context\n").unwrap();
    std::os::unix::fs::symlink("a.txt", ctx.0.join("link-a")).unwrap();
    // buildkit follows a source path's own link inside the context.
    std::fs::write(
        ctx.0.join("Dockerfile"),
        "FROM busybox\nCOPY link-a /copied\n",
    )
    .unwrap();
    let out = build(&b, &ctx, "inner-link");
    assert!(out.status.success(), "build failed: {}", stderr(&out));
    let seen = b.ok(&[
        "run",
        "--rm",
        "inner-link",
        "sh",
        "-c",
        "test -L /copied && echo link; cat /copied",
    ]);
    assert_eq!(seen, "in the context");
    b.assert_no_leftovers();
}

#[test]
fn workdir_and_copy_through_links_to_the_host_stay_in_the_image() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    b.import_busybox("busybox", &[]);
    let victim = Dir::new("victim");
    let v = victim.path();
    let ctx = Dir::new("ctx-workdir");
    std::fs::write(ctx.0.join("payload"), "payload\n").unwrap();
    // Links an earlier step made: through PID 1's root, and climbing out.
    std::fs::write(
        ctx.0.join("Dockerfile"),
        format!(
            "FROM busybox AS links\n\
             RUN ln -s /proc/1/root{v} /viaproc && ln -s ../../../../../../../..{v} /climb\n\
             FROM links\n\
             WORKDIR /climb/wd\n\
             RUN touch made-by-run\n\
             COPY payload /climb/copied\n\
             COPY payload /viaproc/copied\n\
             WORKDIR /viaproc/wd2\n"
        ),
    )
    .unwrap();
    let out = build(&b, &ctx, "through-links");
    let mut left: Vec<String> = std::fs::read_dir(&victim.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert!(
        left.is_empty(),
        "the build wrote into the host directory: {left:?}"
    );
    assert!(out.status.success(), "build failed: {}", stderr(&out));
    // Inside the image the climbing link resolves to the image's own directory
    // (what went through /proc/1/root sits in the image's /proc, below procfs).
    let inside = b.ok(&[
        "run",
        "--rm",
        "-w",
        "/",
        "through-links",
        "sh",
        "-c",
        &format!("ls {v}/wd; cat {v}/copied"),
    ]);
    assert_eq!(inside, "made-by-run\npayload");
    b.assert_no_leftovers();
}

/// A tar entry header with any name (the tar crate refuses to write `..`).
fn raw_entry(
    b: &mut tar::Builder<Vec<u8>>,
    name: &str,
    kind: tar::EntryType,
    link: &str,
    data: &[u8],
) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_cksum();
    b.append(&h, data).unwrap();
}

/// The host directory holds only its canary, unchanged.
fn victim_untouched(victim: &Dir) {
    let mut left: Vec<String> = std::fs::read_dir(&victim.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["canary"], "ADD wrote into the host directory");
    assert_eq!(
        std::fs::read_to_string(victim.0.join("canary")).unwrap(),
        "host\n"
    );
}

#[test]
fn add_of_a_tar_whose_links_point_out_writes_only_inside_the_image() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    b.import_busybox("busybox", &[]);
    let victim = Dir::new("add-victim");
    std::fs::write(victim.0.join("canary"), "host\n").unwrap();
    let v = victim.path();
    let ctx = Dir::new("ctx-add");
    let sym = tar::EntryType::Symlink;
    let file = tar::EntryType::Regular;
    // A link to the host directory, then a file "below" it; a climbing link
    // and a file below; a `..` name.
    let mut t = tar::Builder::new(Vec::new());
    raw_entry(&mut t, "abs", sym, v, b"");
    raw_entry(&mut t, "abs/pwned-abs", file, "", b"abs\n");
    let climb = format!("../../../../../../../..{v}");
    raw_entry(&mut t, "rel", sym, &climb, b"");
    raw_entry(&mut t, "rel/pwned-rel", file, "", b"rel\n");
    raw_entry(
        &mut t,
        "../../../../../../../tmp/dotdot-pwned",
        file,
        "",
        b"dotdot\n",
    );
    std::fs::write(ctx.0.join("evil.tar"), t.into_inner().unwrap()).unwrap();
    std::fs::write(ctx.0.join("Dockerfile"), "FROM busybox\nADD evil.tar /x/\n").unwrap();
    let out = build(&b, &ctx, "add-links");
    victim_untouched(&victim);
    assert!(!std::path::Path::new("/tmp/dotdot-pwned").exists());
    assert!(out.status.success(), "build failed: {}", stderr(&out));
    // The absolute link resolved in the image's root: its file is at that
    // path in the image; the climbing one likewise; `..` stays below /x.
    let inside = b.ok(&[
        "run",
        "--rm",
        "add-links",
        "sh",
        "-c",
        &format!("cat {v}/pwned-abs {v}/pwned-rel /x/tmp/dotdot-pwned"),
    ]);
    assert_eq!(inside, "abs\nrel\ndotdot");

    // A hard link to the host file through the link: its target is not in the
    // image, so ADD fails and names the entry.
    let mut t = tar::Builder::new(Vec::new());
    raw_entry(&mut t, "abs", sym, v, b"");
    raw_entry(&mut t, "hard", tar::EntryType::Link, "abs/canary", b"");
    std::fs::write(ctx.0.join("evil.tar"), t.into_inner().unwrap()).unwrap();
    let out = build(&b, &ctx, "add-hard");
    victim_untouched(&victim);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("/x/hard"), "{}", stderr(&out));
    b.assert_no_leftovers();
}
