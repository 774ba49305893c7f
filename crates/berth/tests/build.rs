//! `berth build` against the real kernel: the cache (a no-change rebuild,
//! changed sources, build args), stages, substitution, heredocs, cache mounts,
//! `.dockerignore`, USER/WORKDIR in the resulting container, ADD of a URL, the
//! systemd-sshd example booting with ssh, and a hostile base image whose
//! `/etc` points at the host's.

use berth_testkit::{
    busybox_berth, busybox_variant, output_with_input, require_root_and, stderr, stdout, Berth,
    Extra, HostFileGuard, KillOnDrop, Scratch, SshKey,
};
use std::path::{Path, PathBuf};
use std::process::Output;

const BIN: &str = env!("CARGO_BIN_EXE_berth");

/// A build context directory, removed on drop.
type Ctx = Scratch;

/// `berth build --progress=plain ARGS CTX`.
fn build(b: &Berth, ctx: &Ctx, args: &[&str]) -> Output {
    let mut all = vec!["build", "--progress=plain"];
    all.extend(args);
    all.push(ctx.as_str());
    b.run(&all)
}

/// Builds and asserts success; returns (image id, progress).
fn ok(b: &Berth, ctx: &Ctx, args: &[&str]) -> (String, String) {
    let out = build(b, ctx, args);
    assert!(
        out.status.success(),
        "build {args:?} failed:\n{}",
        stderr(&out)
    );
    (stdout(&out).trim().to_string(), stderr(&out))
}

/// The steps of plain progress: (name, came from the cache), FROM and the
/// export left out.
fn steps(progress: &str) -> Vec<(String, bool)> {
    let mut names: Vec<(String, String)> = Vec::new();
    let mut cached = Vec::new();
    for line in progress.lines() {
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let Some((id, text)) = rest.split_once(' ') else {
            continue;
        };
        if text == "CACHED" {
            cached.push(id.to_string());
        } else if text.starts_with('[') && !names.iter().any(|(i, _)| i == id) {
            names.push((id.to_string(), text.to_string()));
        }
    }
    names
        .into_iter()
        .filter(|(_, n)| !n.contains("] FROM "))
        .map(|(id, n)| {
            let c = cached.contains(&id);
            (n, c)
        })
        .collect()
}

fn ran(progress: &str) -> Vec<String> {
    steps(progress)
        .into_iter()
        .filter(|s| !s.1)
        .map(|s| s.0)
        .collect()
}

#[test]
fn rebuilds_use_the_cache_until_a_source_or_a_used_build_arg_changes() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let ctx = Ctx::new("cache");
    ctx.write("a.txt", "a\n").write("b.txt", "b\n").write(
        "Dockerfile",
        "FROM busybox\nARG USED\nCOPY a.txt /a\nRUN echo \"$USED\" > /used && cat /a\nCOPY b.txt /b\nRUN cat /b > /b2\nWORKDIR /w\n",
    );
    let (first, p) = ok(&b, &ctx, &["-t", "c:1", "--build-arg", "USED=1"]);
    assert_eq!(steps(&p).len(), 5);
    assert!(ran(&p).len() == 5, "{p}");
    assert!(first.starts_with("sha256:") && first.len() == 71, "{first}");

    let (second, p) = ok(&b, &ctx, &["-t", "c:1", "--build-arg", "USED=1"]);
    assert_eq!(
        ran(&p),
        Vec::<String>::new(),
        "a rebuild with nothing changed runs nothing:\n{p}"
    );
    assert_eq!(steps(&p).len(), 5);
    assert_eq!(first, second, "the same image");

    ctx.write("b.txt", "changed\n");
    let (_, p) = ok(&b, &ctx, &["-t", "c:2", "--build-arg", "USED=1"]);
    assert_eq!(
        ran(&p),
        vec![
            "[4/6] COPY b.txt /b",
            "[5/6] RUN cat /b > /b2",
            "[6/6] WORKDIR /w"
        ],
        "{p}"
    );
    assert_eq!(
        b.ok(&["run", "--rm", "c:2", "cat", "/b2", "/used"]),
        "changed\n1"
    );

    let (_, p) = ok(&b, &ctx, &["-t", "c:3", "--build-arg", "USED=2"]);
    assert_eq!(
        ran(&p)[0],
        "[3/6] RUN echo \"$USED\" > /used && cat /a",
        "{p}"
    );
    assert!(steps(&p)[0].1, "COPY a.txt stays cached: {p}");
    let (_, p) = ok(
        &b,
        &ctx,
        &[
            "-t",
            "c:3",
            "--build-arg",
            "USED=2",
            "--build-arg",
            "UNUSED=x",
        ],
    );
    assert_eq!(
        ran(&p),
        Vec::<String>::new(),
        "a build arg no ARG declares changes nothing:\n{p}"
    );
    assert!(p.contains("[UNUSED] were not consumed"), "{p}");
    assert_eq!(b.ok(&["run", "--rm", "c:3", "cat", "/used"]), "2");

    let (_, p) = ok(&b, &ctx, &["--no-cache", "--build-arg", "USED=2"]);
    assert_eq!(ran(&p).len(), 5, "--no-cache runs everything");
    b.assert_no_leftovers();
}

#[test]
fn stages_copy_from_target_and_scratch_squash() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let ctx = Ctx::new("stages");
    ctx.write(
        "Dockerfile",
        "FROM busybox AS builder\nRUN echo built > /artifact && mkdir -p /out && echo o > /out/f\n\
         FROM scratch AS squashed\nCOPY --from=builder / /\n\
         FROM busybox AS unused\nRUN exit 7\n\
         FROM busybox\nCOPY --from=builder /artifact /artifact\nCOPY --from=0 /out/ /copied/\nCMD [\"cat\", \"/artifact\", \"/copied/f\"]\n",
    );
    ok(&b, &ctx, &["-t", "final"]);
    assert_eq!(b.ok(&["run", "--rm", "final"]), "built\no");
    let (_, p) = ok(&b, &ctx, &["-t", "sq", "--target", "squashed"]);
    assert!(
        !p.contains("RUN exit 7"),
        "stages the target does not use are not built:\n{p}"
    );
    let layers = b.ok(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", "sq"]);
    assert_eq!(
        layers.matches("sha256:").count(),
        1,
        "FROM scratch + COPY --from=stage / / squashes into one layer: {layers}"
    );
    assert_eq!(
        b.ok(&["run", "--rm", "sq", "/bin/cat", "/artifact"]),
        "built"
    );
    let out = build(&b, &ctx, &["--target", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("target stage \"nope\" could not be found"),
        "{}",
        stderr(&out)
    );
    b.assert_no_leftovers();
}

#[test]
fn substitution_heredocs_user_workdir_and_dockerignore_reach_the_container() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let ctx = Ctx::new("subst");
    ctx.write(".dockerignore", "*.secret\n!keep.secret\nlogs/\n")
        .write("x.secret", "no")
        .write("keep.secret", "yes")
        .write("logs/a.log", "no")
        .write("main.txt", "main")
        .write(
            "Dockerfile",
            r#"FROM busybox
ARG GREETING=hello
ENV WHO=world MSG="${GREETING} ${WHO:-nobody}"
RUN echo 'app:x:1234:1234::/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1234:' >> /etc/group
WORKDIR /home/app/work
COPY --chown=app:app . ./ctx/
RUN <<EOF
echo "$GREETING $WHO" > /greeting
EOF
COPY <<EOT /etc/motd
Welcome $WHO
EOT
USER app
CMD ["sh", "-c", "id -u; pwd; cat /greeting /etc/motd; echo $MSG; ls ctx; stat -c %u ctx/main.txt"]
"#,
        );
    ok(&b, &ctx, &["-t", "subst"]);
    let out = b.ok(&["run", "--rm", "subst"]);
    assert_eq!(
        out,
        "1234\n/home/app/work\nhello world\nWelcome world\nhello nobody\nDockerfile\nkeep.secret\nmain.txt\n1234"
    );
    let hist = b.ok(&["image", "inspect", "-f", "{{json .Config.Env}}", "subst"]);
    assert!(
        !hist.contains("GREETING"),
        "ARGs stay out of the image's environment: {hist}"
    );
    b.assert_no_leftovers();
}

#[test]
fn cache_mounts_keep_their_files_between_builds_and_out_of_the_image() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let ctx = Ctx::new("cachemount");
    ctx.write(
        "Dockerfile",
        "FROM busybox\nRUN --mount=type=cache,target=/cache echo x >> /cache/log && wc -l < /cache/log > /count\n",
    );
    ok(&b, &ctx, &["-t", "cm1"]);
    ok(&b, &ctx, &["-t", "cm2", "--no-cache"]);
    assert_eq!(b.ok(&["run", "--rm", "cm1", "cat", "/count"]), "1");
    assert_eq!(b.ok(&["run", "--rm", "cm2", "cat", "/count"]), "2");
    let out = b.run(&["run", "--rm", "cm2", "ls", "/cache"]);
    assert!(
        !out.status.success(),
        "the cache mount's target is not left in the layer"
    );
    b.assert_no_leftovers();
}

/// A base image whose /etc is a symlink to the host's /etc, and a COPY to
/// /etc/<file>: the write must land in the image, never in the host's /etc.
/// Also a link through /proc/1/root, which resolved on the host is the host's
/// root as PID 1 sees it.
#[test]
fn a_hostile_base_cannot_make_copy_write_the_hosts_etc() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let guard = PathBuf::from(format!("/etc/berth-build-guard-{}", std::process::id()));
    let restore = HostFileGuard::new(&guard);
    std::fs::write(&guard, "host\n").unwrap();
    let name = guard.file_name().unwrap().to_str().unwrap().to_string();
    for (tag, target) in [("evil-etc", "/etc"), ("evil-proc", "/proc/1/root/etc")] {
        let ctx = Ctx::new(tag);
        let tar = ctx.0.join("evil.tar");
        // The busybox rootfs with /etc replaced by a symlink to `target`.
        busybox_variant(&tar, &["etc"], &[Extra::Symlink("etc", target)]);
        b.ok(&["import", tar.to_str().unwrap(), tag]);
        std::fs::remove_file(&tar).unwrap();
        ctx.write("payload", "image\n").write(
            "Dockerfile",
            &format!("FROM {tag}\nCOPY payload /etc/{name}\n"),
        );
        let out = build(&b, &ctx, &["-t", &format!("{tag}-built")]);
        assert_eq!(
            std::fs::read_to_string(&guard).unwrap(),
            "host\n",
            "the host's /etc/{name} was written through {target}"
        );
        if target.starts_with("/proc") {
            // Resolved inside the image, the link names a path of the image.
            assert!(out.status.success(), "{}", stderr(&out));
            let rel = format!("proc/1/root/etc/{name}");
            let found = std::fs::read_dir(b.root.join("layers"))
                .unwrap()
                .flatten()
                .any(|l| {
                    std::fs::read_to_string(l.path().join(&rel)).is_ok_and(|t| t == "image\n")
                });
            assert!(found, "the file is in the image's layer at /{rel}");
        }
    }
    drop(restore);
    b.assert_no_leftovers();
}

#[test]
fn add_downloads_urls_and_checks_their_checksum() {
    let Some(b) = busybox_berth(BIN, &["tar", "python3"]) else {
        return;
    };
    let served = Ctx::new("served");
    served.write("tool.txt", "downloaded\n");
    let port = berth_testkit::registry::free_port();
    let server = std::process::Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(&served.0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server = KillOnDrop(server);
    let url = format!("http://127.0.0.1:{port}/tool.txt");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let sum = sha256_hex(b"downloaded\n");
    let ctx = Ctx::new("addurl");
    ctx.write(
        "Dockerfile",
        &format!("FROM busybox\nADD --checksum=sha256:{sum} {url} /opt/\n"),
    );
    let ok_build = build(&b, &ctx, &["-t", "added"]);
    let bad = Ctx::new("addurl-bad");
    bad.write(
        "Dockerfile",
        &format!(
            "FROM busybox\nADD --checksum=sha256:{} {url} /opt/\n",
            "0".repeat(64)
        ),
    );
    let bad_build = build(&b, &bad, &[]);
    drop(server);
    assert!(ok_build.status.success(), "{}", stderr(&ok_build));
    assert_eq!(
        b.ok(&["run", "--rm", "added", "cat", "/opt/tool.txt"]),
        "downloaded"
    );
    assert_eq!(
        b.ok(&["run", "--rm", "added", "stat", "-c", "%a", "/opt/tool.txt"]),
        "600"
    );
    assert_eq!(bad_build.status.code(), Some(1));
    assert!(
        stderr(&bad_build).contains("checksum mismatch"),
        "{}",
        stderr(&bad_build)
    );
    b.assert_no_leftovers();
}

fn sha256_hex(data: &[u8]) -> String {
    let out = output_with_input(std::process::Command::new("sha256sum"), data);
    stdout(&out).split_whitespace().next().unwrap().to_string()
}

#[test]
fn cli_prints_only_the_id_and_refuses_unsupported_flags() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let ctx = Ctx::new("cli");
    ctx.write("Dockerfile", "FROM busybox\nLABEL a=b\n");
    let iid = ctx.0.join("iid");
    let out = b.run(&[
        "build",
        "-q",
        "--iidfile",
        iid.to_str().unwrap(),
        "--label",
        "l=v",
        ctx.as_str(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    assert_eq!(stdout(&out), format!("{id}\n"));
    assert_eq!(stderr(&out), "", "-q prints nothing else");
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), id);
    let labels = b.ok(&["image", "inspect", "-f", "{{json .Config.Labels}}", &id]);
    assert_eq!(labels, r#"{"a":"b","l":"v"}"#);
    let out = b.run(&["build", "--cache-from", "x", ctx.as_str()]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("does not support --cache-from"),
        "{}",
        stderr(&out)
    );
    let out = b.run(&["build", "--platform", "linux/s390x", ctx.as_str()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("would need emulation"),
        "{}",
        stderr(&out)
    );
    // A Dockerfile on standard input, with no context.
    let mut cmd = b.command(&["build", "-q", "-t", "stdin", "-"]);
    cmd.stderr(std::process::Stdio::piped());
    let out = output_with_input(cmd, "FROM busybox\nRUN echo from-stdin > /f\n");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(b.ok(&["run", "--rm", "stdin", "cat", "/f"]), "from-stdin");
    let failing = Ctx::new("fail");
    failing.write("Dockerfile", "FROM busybox\nRUN echo before; exit 3\n");
    let out = build(&b, &failing, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("#2 0.") && err.contains(" before"),
        "the step's output is shown:\n{err}"
    );
    assert!(
        err.contains("did not complete successfully: exit code: 3"),
        "{err}"
    );
    b.assert_no_leftovers();
}

#[test]
fn systemd_sshd_example_builds_boots_and_answers_ssh() {
    if !require_root_and(&["tar", "ssh", "ssh-keygen", "debootstrap"]) {
        return;
    }
    let b = Berth::new(BIN);
    let tar = berth_testkit::systemd_rootfs_tar();
    b.ok(&["import", tar.to_str().unwrap(), "debian:bookworm"]);
    let key = SshKey::new("sshd-keys");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/systemd-sshd");
    let secret = format!("id=authorized_keys,src={}", key.public().display());
    let out = b.run(&[
        "build",
        "--progress=plain",
        "-t",
        "systemd-sshd",
        "--secret",
        &secret,
        example.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let port = 24000 + (std::process::id() % 2000) as u16 * 2;
    let publish = format!("{port}:22");
    b.ok(&[
        "run",
        "-d",
        "--name",
        "box",
        "--hostname",
        "box",
        "-p",
        &publish,
        "--wait=ready",
        "systemd-sshd",
    ]);
    let mounts = b.ok(&["inspect", "-f", "{{json .Mounts}}", "box"]);
    assert!(
        mounts.contains(r#""Destination":"/sys/fs/cgroup""#)
            && mounts.contains(r#""Type":"cgroup""#),
        "{mounts}"
    );
    let last = key.login(port, "hostname; systemctl is-system-running --wait");
    assert_eq!(last.trim(), "box\nrunning");
    b.ok(&["stop", "box"]);
    assert_eq!(b.ok(&["inspect", "-f", "{{.State.ExitCode}}", "box"]), "0");
    b.ok(&["rm", "box"]);
    let volumes = std::fs::read_dir(b.root.join("volumes"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(volumes, 0, "no volume was made for VOLUME /sys/fs/cgroup");
    b.assert_no_leftovers();
}
