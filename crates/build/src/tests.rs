//! The builder against the fake host: configs and history as buildkit writes
//! them, the cache, stages, COPY/ADD semantics, and the escapes it refuses.

use crate::fake::{listing, FakeHost, Recorder};
use crate::host::RunNetwork;
use crate::ignore::{read_patterns, Ignore};
use crate::image::{Image, RunConfig};
use crate::{build, BuildError, BuildOptions, Context, Secret, StepError};
use std::collections::BTreeMap;
use std::path::Path;

struct Fixture {
    host: FakeHost,
    context: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let mut host = FakeHost::new();
    let base = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(base.path().join("etc")).unwrap();
    std::fs::write(
        base.path().join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(base.path().join("etc/group"), "root:x:0:\napp:x:1000:\n").unwrap();
    std::fs::create_dir_all(base.path().join("bin")).unwrap();
    std::fs::write(base.path().join("bin/sh"), "shell").unwrap();
    let config = Image {
        architecture: crate::builder_platform().architecture,
        os: "linux".into(),
        config: RunConfig {
            env: vec!["PATH=/usr/bin:/bin".into()],
            cmd: Some(vec!["/bin/sh".into()]),
            ..Default::default()
        },
        created: Some("2024-01-01T00:00:00Z".into()),
        ..Default::default()
    };
    host.add_image("base", base.path(), config);
    Fixture {
        host,
        context: tempfile::tempdir().unwrap(),
    }
}

impl Fixture {
    fn write(&self, path: &str, data: &str) {
        let p = self.context.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    fn opts(&self, dockerfile: &str) -> BuildOptions {
        let ignore_text =
            std::fs::read_to_string(self.context.path().join(".dockerignore")).unwrap_or_default();
        BuildOptions {
            dockerfile: dockerfile.as_bytes().to_vec(),
            dockerfile_name: "Dockerfile".into(),
            context: Some(Context {
                dir: self.context.path().to_path_buf(),
                ignore: Ignore::new(
                    &read_patterns(&ignore_text),
                    &["Dockerfile", ".dockerignore"],
                )
                .unwrap(),
                temporary: false,
            }),
            build_args: Vec::new(),
            target: None,
            no_cache: false,
            pull: false,
            labels: Vec::new(),
            platform: None,
            tags: vec!["t:latest".into()],
            secrets: BTreeMap::new(),
            network: RunNetwork::Default,
        }
    }

    fn build(&mut self, opts: &BuildOptions) -> (Result<String, BuildError>, Recorder) {
        let mut rec = Recorder::default();
        let r = build(&mut self.host, &mut rec, opts);
        (r, rec)
    }

    fn ok(&mut self, dockerfile: &str) -> (String, Recorder) {
        let opts = self.opts(dockerfile);
        let (r, rec) = self.build(&opts);
        (
            r.unwrap_or_else(|e| panic!("build failed: {e}\n{:?}", rec.events)),
            rec,
        )
    }

    fn last(&self) -> &Image {
        &self.host.registered.last().unwrap().0
    }

    fn last_files(&self) -> tempfile::TempDir {
        self.host.files_of(&self.host.registered.last().unwrap().1)
    }
}

fn history(image: &Image) -> Vec<(String, bool)> {
    image
        .history
        .iter()
        .skip_while(|h| h.comment.as_deref() != Some(crate::builder::HISTORY_COMMENT))
        .map(|h| (h.created_by.clone().unwrap_or_default(), h.empty_layer))
        .collect()
}

#[test]
fn metadata_instructions_write_config_and_history_like_buildkit() {
    let mut f = fixture();
    f.ok(r#"FROM base
LABEL a=1 "b c"=d
ENV X=1 Y=$X-2
EXPOSE 80 53/udp
VOLUME ["/data"]
USER app
STOPSIGNAL SIGINT
SHELL ["/bin/bash", "-c"]
HEALTHCHECK --interval=30s CMD curl -f http://localhost/
ONBUILD RUN echo child
MAINTAINER me
ENTRYPOINT ["/init"]
CMD echo $X
"#);
    let img = f.last();
    let c = &img.config;
    // Docker: a variable set in the same ENV is not seen by the next pair.
    assert_eq!(c.env, vec!["PATH=/usr/bin:/bin", "X=1", "Y=-2"]);
    assert_eq!(c.labels.get("b c").map(String::as_str), Some("d"));
    assert!(c.exposed_ports.contains_key("53/udp") && c.exposed_ports.contains_key("80/tcp"));
    assert!(c.volumes.contains_key("/data"));
    assert_eq!(c.user, "app");
    assert_eq!(c.stop_signal, "SIGINT");
    assert_eq!(c.shell, vec!["/bin/bash", "-c"]);
    assert_eq!(c.entrypoint, Some(vec!["/init".to_string()]));
    // Shell form goes through SHELL; ENTRYPOINT before CMD keeps it.
    assert_eq!(
        c.cmd,
        Some(vec!["/bin/bash".into(), "-c".into(), "echo $X".into()])
    );
    assert_eq!(c.on_build, vec!["RUN echo child"]);
    let hc = c.healthcheck.as_ref().unwrap();
    assert_eq!(hc.test, vec!["CMD-SHELL", "curl -f http://localhost/"]);
    assert_eq!(hc.interval, 30_000_000_000);
    assert_eq!(img.author.as_deref(), Some("me"));
    let h = history(img);
    let want = [
        ("LABEL a=1 b c=d", true),
        ("ENV X=1 Y=-2", true),
        ("EXPOSE [53/udp 80/tcp]", true),
        ("VOLUME [/data]", true),
        ("USER app", true),
        ("STOPSIGNAL SIGINT", true),
        ("SHELL [/bin/bash -c]", true),
        ("HEALTHCHECK {Test:[CMD-SHELL curl -f http://localhost/] Interval:30s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}", true),
        ("MAINTAINER me", true),
        ("ENTRYPOINT [\"/init\"]", true),
        ("CMD [\"/bin/bash\" \"-c\" \"echo $X\"]", true),
    ];
    let got: Vec<(&str, bool)> = h.iter().map(|(s, e)| (s.as_str(), *e)).collect();
    assert_eq!(got, want);
    // The base's history stays first; rootfs lists the layers.
    assert_eq!(img.rootfs.diff_ids.len(), 1);
}

#[test]
fn run_goes_through_the_shell_with_env_user_workdir_and_args_in_use() {
    let mut f = fixture();
    let mut opts = f.opts("FROM base\nARG V=def\nENV E=e\nWORKDIR /app\nUSER app\nRUN --network=none echo $V\nRUN [\"true\"]\n");
    opts.build_args = vec![("V".into(), "given".into())];
    let (r, _) = f.build(&opts);
    r.unwrap();
    let run = &f.host.runs[0];
    assert_eq!(run.args, vec!["/bin/sh", "-c", "echo $V"]);
    assert!(run.env.contains(&"V=given".to_string()) && run.env.contains(&"E=e".to_string()));
    assert_eq!((run.user.as_str(), run.workdir.as_str()), ("app", "/app"));
    assert_eq!(run.network, RunNetwork::None);
    assert_eq!(f.host.runs[1].args, vec!["true"]);
    let h = history(f.last());
    assert_eq!(h[0], ("ARG V=given".into(), true));
    assert_eq!(h[2], ("WORKDIR /app".into(), false));
    assert_eq!(
        h[4],
        ("RUN |1 V=given /bin/sh -c echo $V # buildkit".into(), false)
    );
    // The ARG is not in the image's environment.
    assert!(!f.last().config.env.iter().any(|e| e.starts_with("V=")));
    let files = f.last_files();
    assert!(files.path().join("app").is_dir());
}

#[test]
fn a_failing_run_stops_the_build_with_its_exit_code() {
    let mut f = fixture();
    let opts = f.opts("FROM base\nRUN exit 3\n");
    let (r, rec) = f.build(&opts);
    let err = r.unwrap_err();
    assert!(
        matches!(err.step(), Some(StepError::RunFailed { code: 3, .. })),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("Dockerfile:2: RUN exit 3: process \"/bin/sh -c exit 3\""),
        "{err}"
    );
    assert!(rec.events.iter().any(|e| e.starts_with("failed ")));
    assert!(f.host.registered.is_empty());
}

#[test]
fn a_rebuild_with_nothing_changed_is_all_cache_and_the_same_image() {
    let mut f = fixture();
    f.write("a.txt", "a");
    f.write("b.txt", "b");
    let df = "FROM base\nCOPY a.txt /a\nRUN step1\nCOPY b.txt /b\nRUN step2\nWORKDIR /w\n";
    let (first, rec1) = f.ok(df);
    assert_eq!(rec1.cached().len(), 0);
    let (second, rec2) = f.ok(df);
    assert_eq!(rec2.ran(), Vec::<String>::new(), "{:?}", rec2.events);
    assert_eq!(rec2.cached().len(), 5);
    assert_eq!(first, second, "the same config, so the same id");
    assert_eq!(f.host.runs.len(), 2);
    // Changing the second source re-runs from that step on, not before.
    f.write("b.txt", "changed");
    let (third, rec3) = f.ok(df);
    assert_eq!(
        rec3.ran(),
        vec!["[4/6] COPY b.txt /b", "[5/6] RUN step2", "[6/6] WORKDIR /w"]
    );
    assert_ne!(third, first);
    // --no-cache runs everything.
    let mut opts = f.opts(df);
    opts.no_cache = true;
    let (_, rec4) = f.build(&opts);
    assert_eq!(rec4.cached().len(), 0);
}

#[test]
fn build_args_used_by_a_run_change_its_key_others_do_not() {
    let mut f = fixture();
    let df = "FROM base\nARG USED\nRUN echo $USED\n";
    let with = |f: &Fixture, args: &[(&str, &str)]| {
        let mut o = f.opts(df);
        o.build_args = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        o
    };
    let o = with(&f, &[("USED", "1")]);
    f.build(&o).0.unwrap();
    let o = with(&f, &[("USED", "1"), ("UNUSED", "x")]);
    let (r, rec) = f.build(&o);
    r.unwrap();
    assert_eq!(rec.ran(), Vec::<String>::new());
    assert_eq!(
        rec.warnings,
        vec!["[Warning] One or more build-args [UNUSED] were not consumed"]
    );
    let o = with(&f, &[("USED", "2")]);
    let (_, rec) = f.build(&o);
    assert_eq!(rec.ran(), vec!["[2/2] RUN echo $USED"]);
}

#[test]
fn copy_follows_docker_destination_rules() {
    let mut f = fixture();
    f.write("dir/one", "1");
    f.write("dir/sub/two", "2");
    f.write("file", "f");
    f.write("x.txt", "x");
    f.write("y.txt", "y");
    f.ok("FROM base\nWORKDIR /w\nCOPY dir /d1\nCOPY dir/ d2/\nCOPY file /f1\nCOPY file /newdir/\nCOPY *.txt /txt/\nCOPY --chmod=700 file rel\n");
    let files = f.last_files();
    let l = listing(files.path());
    let p = files.path();
    assert_eq!(std::fs::read(p.join("d1/one")).unwrap(), b"1");
    assert_eq!(std::fs::read(p.join("d1/sub/two")).unwrap(), b"2");
    assert!(p.join("w/d2/sub/two").is_file());
    assert_eq!(std::fs::read(p.join("f1")).unwrap(), b"f");
    assert!(p.join("newdir/file").is_file());
    assert!(p.join("txt/x.txt").is_file() && p.join("txt/y.txt").is_file());
    assert!(l["w/rel"].starts_with("f 700 "), "{}", l["w/rel"]);
    let h = history(f.last());
    assert!(
        h.iter()
            .any(|(s, _)| s == "COPY --chmod=700 file rel # buildkit"),
        "{h:?}"
    );
}

#[test]
fn copy_errors_say_what_is_wrong() {
    let mut f = fixture();
    f.write("a", "a");
    f.write("b", "b");
    let (r, _) = f.build(&f.opts("FROM base\nCOPY a b /dest\n"));
    assert!(matches!(
        r.unwrap_err().step(),
        Some(StepError::NeedsDirectory)
    ));
    let (r, _) = f.build(&f.opts("FROM base\nCOPY missing /dest\n"));
    let e = r.unwrap_err();
    assert!(
        e.to_string()
            .contains("failed to compute cache key: /missing: not found"),
        "{e}"
    );
    let (r, _) = f.build(&f.opts("FROM base\nCOPY http://x/y /dest\n"));
    assert!(matches!(r.unwrap_err().step(), Some(StepError::UrlInCopy)));
    // A wildcard that matches nothing is fine (buildkit).
    f.ok("FROM base\nCOPY *.none /dest/\n");
}

#[test]
fn context_symlinks_are_copied_as_links_never_followed_out() {
    let mut f = fixture();
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "host secret").unwrap();
    std::fs::create_dir(f.context.path().join("d")).unwrap();
    std::os::unix::fs::symlink(secret.path(), f.context.path().join("d/out")).unwrap();
    std::os::unix::fs::symlink(secret.path(), f.context.path().join("top")).unwrap();
    f.ok("FROM base\nCOPY d /d\nCOPY top /top\n");
    let files = f.last_files();
    assert_eq!(
        std::fs::read_link(files.path().join("d/out")).unwrap(),
        secret.path()
    );
    assert_eq!(
        std::fs::read_link(files.path().join("top")).unwrap(),
        secret.path()
    );
}

#[test]
fn a_base_image_symlink_to_the_host_is_resolved_inside_the_image() {
    let mut f = fixture();
    let host_etc = tempfile::tempdir().unwrap();
    std::fs::write(host_etc.path().join("x"), "host file").unwrap();
    let evil = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(host_etc.path(), evil.path().join("etc")).unwrap();
    f.host.add_image("evil", evil.path(), Image::default());
    f.write("file", "payload");
    f.ok("FROM evil\nCOPY file /etc/x\nCOPY file /etc/sub/\n");
    assert_eq!(
        std::fs::read(host_etc.path().join("x")).unwrap(),
        b"host file"
    );
    assert!(!host_etc.path().join("sub").exists());
    let files = f.last_files();
    let inside = files
        .path()
        .join(host_etc.path().strip_prefix("/").unwrap());
    assert_eq!(std::fs::read(inside.join("x")).unwrap(), b"payload");
}

#[test]
fn multi_stage_copy_from_target_and_scratch_squash() {
    let mut f = fixture();
    let df = "FROM base AS builder\nRUN make\nFROM base AS unused\nRUN never\nFROM scratch AS squash\nCOPY --from=builder / /\nFROM base\nCOPY --from=0 /ran-1 /artifact\n";
    f.ok(df);
    assert_eq!(f.host.runs.len(), 1, "the unused stage is not built");
    let files = f.last_files();
    assert_eq!(
        std::fs::read(files.path().join("artifact")).unwrap(),
        b"make"
    );
    let mut o = f.opts(df);
    o.target = Some("squash".into());
    let (r, _) = f.build(&o);
    r.unwrap();
    let (img, layers, _) = f.host.registered.last().unwrap();
    assert_eq!(layers.len(), 1, "squashed into one layer");
    assert_eq!(img.config.env, vec![crate::image::DEFAULT_PATH]);
    let files = f.host.files_of(layers);
    assert!(files.path().join("etc/passwd").is_file() && files.path().join("ran-1").is_file());
    let mut o = f.opts(df);
    o.target = Some("nope".into());
    let (r, _) = f.build(&o);
    assert!(matches!(r, Err(BuildError::TargetNotFound { .. })));
    let mut o = f.opts("FROM base AS first\nCOPY --from=later /x /x\nFROM base AS later\n");
    o.target = Some("first".into());
    let (r, _) = f.build(&o);
    assert!(matches!(
        r.unwrap_err().step(),
        Some(StepError::StageOrder { .. })
    ));
}

#[test]
fn heredocs_run_and_copy() {
    let mut f = fixture();
    f.ok("FROM base\nRUN <<EOF\necho one\necho two\nEOF\nRUN <<EOF\n#!/bin/sh\necho script\nEOF\nCOPY <<A <<B /dest/\nalpha $HOME\nA\nbeta\nB\n");
    assert_eq!(
        f.host.runs[0].args,
        vec!["/bin/sh", "-c", "echo one\necho two\n"]
    );
    let script = &f.host.runs[1];
    assert_eq!(script.args, vec!["/bin/sh", "-c", "/dev/pipes/EOF"]);
    assert!(
        matches!(&script.mounts[0], crate::host::RunMount::Bind { target, .. } if target == "/dev/pipes/EOF")
    );
    let files = f.last_files();
    assert_eq!(
        std::fs::read_to_string(files.path().join("dest/A")).unwrap(),
        "alpha \n"
    );
    assert_eq!(
        std::fs::read_to_string(files.path().join("dest/B")).unwrap(),
        "beta\n"
    );
}

#[test]
fn dockerignore_leaves_files_out_but_keeps_the_dockerfile() {
    let mut f = fixture();
    f.write(
        ".dockerignore",
        "*.log\nsecret/\n!secret/public\nDockerfile\n",
    );
    f.write("Dockerfile", "x");
    f.write("app.log", "l");
    f.write("keep.txt", "k");
    f.write("secret/key", "s");
    f.write("secret/public", "p");
    f.ok("FROM base\nCOPY . /ctx/\n");
    let files = f.last_files();
    let p = files.path().join("ctx");
    assert!(
        p.join("keep.txt").exists()
            && p.join("Dockerfile").exists()
            && p.join(".dockerignore").exists()
    );
    assert!(!p.join("app.log").exists() && !p.join("secret/key").exists());
    assert!(p.join("secret/public").exists());
    let (r, _) = f.build(&f.opts("FROM base\nCOPY app.log /x\n"));
    assert!(r.unwrap_err().to_string().contains("/app.log: not found"));
}

#[test]
fn onbuild_triggers_run_in_the_child_and_are_not_inherited() {
    let mut f = fixture();
    f.ok("FROM base\nONBUILD RUN from-trigger\n");
    let parent = f.host.registered.last().unwrap().clone();
    f.host.images.insert(
        "parent".into(),
        crate::host::BaseImage {
            id: "p".into(),
            config: parent.0,
            layers: parent.1,
        },
    );
    f.ok("FROM parent\nRUN own\n");
    let cmds: Vec<&str> = f.host.runs.iter().map(|r| r.args[2].as_str()).collect();
    assert_eq!(cmds, vec!["from-trigger", "own"]);
    assert!(f.last().config.on_build.is_empty());
}

#[test]
fn cache_mounts_persist_and_secrets_stay_out_of_the_key() {
    let mut f = fixture();
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "s3cret").unwrap();
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let log = seen.clone();
    f.host.script = Box::new(move |spec, root, _| {
        for m in &spec.mounts {
            if let crate::host::RunMount::Bind { source, target, .. } = m {
                if target == "/cache" {
                    let n = std::fs::read_dir(source).unwrap().count();
                    log.borrow_mut().push(n);
                    std::fs::write(source.join(format!("f{n}")), "x").unwrap();
                }
                if target == "/run/secrets/tok" {
                    log.borrow_mut().push(std::fs::read(source).unwrap().len());
                }
            }
        }
        std::fs::write(root.join("out"), spec.args.join(" ")).unwrap();
        0
    });
    let df = "FROM base\nRUN --mount=type=cache,target=/cache --mount=type=secret,id=tok work\n";
    let mut o = f.opts(df);
    o.secrets
        .insert("tok".into(), Secret::File(secret.path().into()));
    f.build(&o).0.unwrap();
    o.no_cache = true;
    f.build(&o).0.unwrap();
    assert_eq!(
        *seen.borrow(),
        vec![0, 6, 1, 6],
        "the cache dir kept the first build's file"
    );
    let (r, _) = f.build(&f.opts("FROM base\nRUN --mount=type=cache,target=/c,from=base work\n"));
    assert!(matches!(r.unwrap_err().step(), Some(StepError::CacheFrom)));
    let mut o2 = f.opts("FROM base\nRUN --mount=type=secret,id=missing,required work\n");
    o2.secrets.clear();
    let (r, _) = f.build(&o2);
    assert!(matches!(
        r.unwrap_err().step(),
        Some(StepError::SecretMissing(_))
    ));
}

#[test]
fn add_unpacks_local_tars_and_checks_url_checksums() {
    let mut f = fixture();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "inner/file", &b"tar"[..]).unwrap();
    std::fs::write(f.context.path().join("a.tar"), b.into_inner().unwrap()).unwrap();
    f.host
        .urls
        .insert("http://127.0.0.1/dl/tool.bin".into(), b"tool".to_vec());
    let sum = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"tool"))
    );
    f.ok(&format!("FROM base\nADD a.tar /opt/\nADD --checksum={sum} http://127.0.0.1/dl/tool.bin /usr/bin/\nCOPY a.tar /copied/\n"));
    let files = f.last_files();
    assert_eq!(
        std::fs::read(files.path().join("opt/inner/file")).unwrap(),
        b"tar"
    );
    assert_eq!(
        std::fs::read(files.path().join("usr/bin/tool.bin")).unwrap(),
        b"tool"
    );
    assert!(
        files.path().join("copied/a.tar").is_file(),
        "COPY does not unpack"
    );
    let (r, _) = f.build(&f.opts("FROM base\nADD --checksum=sha256:0000000000000000000000000000000000000000000000000000000000000000 http://127.0.0.1/dl/tool.bin /x\n"));
    assert!(matches!(
        r.unwrap_err().step(),
        Some(StepError::Checksum { .. })
    ));
}

#[test]
fn platforms_other_than_the_host_are_refused() {
    let mut f = fixture();
    let mut o = f.opts("FROM base\n");
    o.platform = Some("linux/s390x".into());
    let (r, _) = f.build(&o);
    assert!(matches!(r, Err(BuildError::Platform { .. })));
    let (r, _) = f.build(&f.opts("FROM --platform=linux/s390x base\n"));
    assert!(matches!(r, Err(BuildError::Platform { .. })));
    let host = crate::builder_platform().to_string();
    f.ok(&format!("FROM --platform={host} base\n"));
}

#[test]
fn no_context_means_no_copy() {
    let mut f = fixture();
    let mut o = f.opts("FROM base\nCOPY x /x\n");
    o.context = None;
    let (r, _) = f.build(&o);
    assert!(matches!(r.unwrap_err().step(), Some(StepError::NoContext)));
    let _ = Path::new("");
}

#[test]
fn bind_mounts_show_the_context_without_ignored_files_and_discard_writes() {
    let mut f = fixture();
    f.write(".dockerignore", "hidden\n");
    f.write("src/main.c", "int main;");
    f.write("hidden", "x");
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let log = seen.clone();
    f.host.script = Box::new(move |spec, root, _| {
        for m in &spec.mounts {
            if let crate::host::RunMount::Bind {
                source,
                target,
                read_only,
            } = m
            {
                let mut names: Vec<String> = std::fs::read_dir(source)
                    .unwrap()
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                log.borrow_mut()
                    .push(format!("{target} {read_only} {}", names.join(",")));
                let _ = std::fs::write(source.join("written"), "w");
            }
        }
        std::fs::write(root.join("out"), "o").unwrap();
        0
    });
    f.ok("FROM base\nRUN --mount=type=bind,target=/ctx,rw build\nRUN --mount=type=bind,source=src,target=/s build2\n");
    assert_eq!(
        *seen.borrow(),
        vec!["/ctx false .dockerignore,src", "/s true main.c"]
    );
    assert!(
        !f.context.path().join("written").exists(),
        "writes to a bind are discarded"
    );
    // The bound content is part of the key: a change re-runs the step.
    f.write("src/main.c", "int main(void);");
    let (_, rec) = f.ok("FROM base\nRUN --mount=type=bind,target=/ctx,rw build\nRUN --mount=type=bind,source=src,target=/s build2\n");
    assert_eq!(
        rec.ran(),
        vec![
            "[2/3] RUN --mount=type=bind,target=/ctx,rw build",
            "[3/3] RUN --mount=type=bind,source=src,target=/s build2"
        ]
    );
}

#[test]
fn copy_link_layers_do_not_depend_on_the_layers_below() {
    let mut f = fixture();
    f.write("app", "binary");
    f.ok("FROM base\nRUN one\nCOPY --link app /app\n");
    let (_, rec) = f.ok("FROM base\nRUN two\nCOPY --link app /app\n");
    assert_eq!(
        rec.ran(),
        vec!["[2/3] RUN two"],
        "the linked COPY comes from the cache on a new base"
    );
    let (_, rec) = f.ok("FROM base\nRUN three\nCOPY app /app\n");
    assert_eq!(rec.ran(), vec!["[2/3] RUN three", "[3/3] COPY app /app"]);
    let files = f.last_files();
    assert_eq!(std::fs::read(files.path().join("app")).unwrap(), b"binary");
}
