//! docker's management-command forms (`container ls`, `image rm`, `system info`) and
//! aliases, `version`/`info --format '{{json .}}'`, shell completions, man pages,
//! docker's table padding and the error for a docker flag berth lacks: each driven
//! through the real binary, the container forms against real containers.

use berth_testkit::{stderr, stdout, Berth};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar"])
}

#[test]
fn container_forms_drive_a_container_from_run_to_rm() {
    let Some(b) = env() else { return };
    assert_eq!(
        b.ok(&["container", "run", "--rm", "busybox", "echo", "hi"]),
        "hi"
    );
    assert!(
        b.all_ids().is_empty(),
        "container run --rm left {:?}",
        b.all_ids()
    );

    let id = b.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "127.0.0.1::80",
        "busybox",
        "sh",
        "-c",
        "echo started; exec sleep 300",
    ]);
    for ls in [
        &["container", "ls"][..],
        &["container", "list"],
        &["container", "ps"],
    ] {
        let out = b.ok(ls);
        assert!(
            out.contains(&id[..12]) && out.contains("web"),
            "{ls:?}: {out}"
        );
    }
    assert_eq!(b.ok(&["container", "ls", "-q", "--no-trunc"]), id);
    assert_eq!(
        b.ok(&["container", "inspect", "-f", "{{.State.Running}}", "web"]),
        "true"
    );
    assert_eq!(b.ok(&["container", "exec", "web", "echo", "in"]), "in");
    assert_eq!(b.ok(&["container", "logs", "web"]), "started");
    assert!(b
        .ok(&["container", "port", "web"])
        .starts_with("80/tcp -> 127.0.0.1:"));
    b.ok(&["container", "kill", "web"]);
    assert_eq!(b.ok(&["container", "wait", "web"]), "137");
    b.ok(&["container", "start", "web"]);
    b.ok(&["container", "restart", "-t", "0", "web"]);
    b.ok(&["container", "stop", "-t", "0", "web"]);
    assert!(b.ok(&["container", "ls", "-q"]).is_empty());
    b.ok(&["container", "remove", "web"]);

    let created = b.ok(&[
        "container",
        "create",
        "--name",
        "once",
        "busybox",
        "echo",
        "made",
    ]);
    assert_eq!(b.ok(&["container", "start", "-a", "once"]), "made");
    assert_eq!(b.ok(&["container", "ls", "-aq", "--no-trunc"]), created);
    b.ok(&["container", "rm", "once"]);
    assert!(b.all_ids().is_empty(), "{:?}", b.all_ids());

    // container inspect is for containers only, as docker's.
    let image = b.run(&["container", "inspect", "busybox"]);
    assert_eq!(image.status.code(), Some(1), "{}", stdout(&image));
}

#[test]
fn image_forms_and_aliases() {
    let Some(b) = env() else { return };
    for ls in [&["image", "ls"][..], &["image", "list"]] {
        assert!(b.ok(ls).contains("busybox"), "{ls:?}");
    }
    b.ok(&["image", "tag", "busybox", "copy:1"]);
    b.ok(&["image", "tag", "busybox", "copy:2"]);
    assert!(b
        .ok(&["image", "inspect", "copy:1"])
        .contains("\"RepoTags\""));
    b.ok(&["image", "rm", "copy:1"]);
    b.ok(&["image", "remove", "copy:2"]);
    let left = b.ok(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(left, "busybox:latest");
    assert!(!b.ok(&["image", "history", "-q", "busybox"]).is_empty());
}

#[test]
fn version_and_info_json_have_dockers_keys() {
    let Some(b) = env() else { return };
    let version: Value = serde_json::from_str(&b.ok(&["version", "--format", "{{json .}}"]))
        .expect("version --format '{{json .}}' is JSON");
    for half in ["Client", "Server"] {
        for key in ["Version", "Os", "Arch"] {
            assert!(version[half][key].is_string(), "{half}.{key} in {version}");
        }
    }
    assert_eq!(version["Server"]["Version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        b.ok(&["version", "-f", "{{.Server.Version}}"]),
        env!("CARGO_PKG_VERSION")
    );

    b.ok(&["run", "-d", "--name", "up", "busybox", "sleep", "300"]);
    b.ok(&["create", "--name", "down", "busybox", "true"]);
    for form in [&["info"][..], &["system", "info"]] {
        let mut argv = form.to_vec();
        argv.extend(["--format", "{{json .}}"]);
        let info: Value = serde_json::from_str(&b.ok(&argv)).expect("info JSON");
        assert_eq!(info["Containers"], 2, "{info}");
        assert_eq!(info["ContainersRunning"], 1, "{info}");
        assert_eq!(info["ContainersPaused"], 0, "{info}");
        assert_eq!(info["ContainersStopped"], 1, "{info}");
        assert_eq!(info["Images"], 1, "{info}");
        assert_eq!(info["DockerRootDir"], b.root.to_str().unwrap(), "{info}");
        for key in [
            "ID",
            "Driver",
            "CgroupDriver",
            "CgroupVersion",
            "KernelVersion",
            "OperatingSystem",
            "OSType",
            "Architecture",
            "ServerVersion",
            "Name",
        ] {
            assert!(
                info[key].as_str().is_some_and(|s| !s.is_empty()),
                "{key} in {info}"
            );
        }
        assert!(info["NCPU"].as_u64().unwrap() >= 1 && info["MemTotal"].as_u64().unwrap() > 0);
    }
    let id = b.ok(&["info", "-f", "{{.ID}}"]);
    assert_eq!(
        b.ok(&["system", "info", "--format", "{{.ID}}"]),
        id,
        "the ID is kept"
    );
    // A paused container is paused, not running, as docker counts it.
    b.ok(&["pause", "up"]);
    let info: Value =
        serde_json::from_str(&b.ok(&["info", "--format", "{{json .}}"])).expect("info JSON");
    assert_eq!(
        (&info["ContainersRunning"], &info["ContainersPaused"]),
        (&Value::from(0), &Value::from(1)),
        "{info}"
    );
    b.ok(&["unpause", "up"]);
    b.ok(&["rm", "-f", "up", "down"]);
}

#[test]
fn bash_completion_is_valid_bash_and_knows_the_commands() {
    if !berth_testkit::require("bash", berth_testkit::have_tool("bash")) {
        return;
    }
    let b = Berth::new(BIN);
    let bash = b.ok(&["completion", "bash"]);
    for word in ["run", "container", "--publish", "--volume"] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    assert!(
        !bash.contains("__man") && !bash.contains("monitor"),
        "hidden commands are not offered"
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &bash).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(file.path())
        .output()
        .unwrap();
    assert!(check.status.success(), "bash -n: {}", stderr(&check));
    for shell in ["zsh", "fish"] {
        assert!(
            b.ok(&["completion", shell]).contains("container"),
            "{shell}"
        );
    }
    let bad = b.run(&["completion", "tcsh"]);
    assert_eq!(bad.status.code(), Some(125));
}

#[test]
fn man_pages_are_written_for_every_form() {
    let b = Berth::new(BIN);
    let dir = tempfile::tempdir().unwrap();
    b.ok(&["__man", dir.path().to_str().unwrap()]);
    for page in [
        "berth.1",
        "berth-run.1",
        "berth-container-run.1",
        "berth-image-ls.1",
        "berth-completion.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap_or_default();
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page}: {text}"
        );
    }
    let run = std::fs::read_to_string(dir.path().join("berth-container-run.1")).unwrap();
    assert!(run.contains("publish"), "{run}");
}

#[test]
fn a_docker_flag_berth_lacks_is_named_and_points_to_compat_md() {
    let b = Berth::new(BIN);
    for argv in [
        &["run", "--gpus", "all", "busybox"][..],
        &["container", "create", "--link", "db", "busybox"],
    ] {
        let out = b.run(argv);
        assert_eq!(out.status.code(), Some(125), "{argv:?}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("unknown flag: {}", argv[argv.len() - 3]))
                && err.contains("is a docker flag that berth does not have")
                && err.contains("docs/compat.md"),
            "{argv:?}: {err}"
        );
    }
}

#[test]
fn images_table_is_padded_as_dockers() {
    let Some(b) = env() else { return };
    let table = b.ok(&["images"]);
    let header = table.lines().next().unwrap();
    // REPOSITORY is 10 wide (+3); TAG's widest cell is "latest" (6, +3 = 9), so
    // docker's tabwriter minimum of 10 wins; an IMAGE ID is 12 (+3).
    assert!(
        header.starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "{header:?}"
    );
    // docker's `--format table` alone is the default table (its CREATED cells
    // may have aged a second since).
    let plain = b.ok(&["images", "--format", "table"]);
    assert_eq!(plain.lines().next(), Some(header), "{plain:?}");
    assert_eq!(plain.lines().count(), table.lines().count(), "{plain:?}");
}

/// `--filter status=restarting` is one of the values `ps` accepts: it must find
/// a container waiting on its restart policy, and name its state as the filter does.
#[test]
fn ps_filters_a_restarting_container_by_its_state() {
    let Some(b) = env() else { return };
    b.run_crash_loop("loop");
    let ps = berth_testkit::wait_for("ps --filter status=restarting to list it", || {
        let ps = b.ok(&[
            "ps",
            "-a",
            "--filter",
            "status=restarting",
            "--format",
            "{{.Names}} {{.State}}",
        ]);
        (!ps.is_empty()).then_some(ps)
    });
    assert_eq!(ps, "loop restarting");
    b.ok(&["rm", "-f", "loop"]);
}

/// An argument that is not UTF-8 (a file name, say) beside an unknown flag gets
/// the unknown-flag error and docker's exit code, not a panic.
#[test]
fn an_unknown_flag_beside_a_non_utf8_argument_is_an_error() {
    use std::os::unix::ffi::OsStrExt;
    let odd = std::ffi::OsStr::from_bytes(b"\xff");
    let state = tempfile::tempdir().unwrap();
    let out = bare_berth(state.path())
        .arg("run")
        .arg("--bogus")
        .arg(odd)
        .output()
        .expect("run berth");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(err.contains("unknown flag: --bogus"), "{err}");
}

/// docker takes `--format json` for `version` and `info`: the whole value as JSON.
#[test]
fn version_and_info_take_format_json() {
    let state = tempfile::tempdir().unwrap();
    let out = bare_berth(state.path())
        .args(["version", "--format", "json"])
        .output()
        .expect("run berth");
    let text = String::from_utf8_lossy(&out.stdout);
    let version: Value = serde_json::from_str(&text).expect("version --format json is JSON");
    assert_eq!(version["Server"]["Version"], env!("CARGO_PKG_VERSION"));
    let Some(b) = env() else { return };
    let info: Value =
        serde_json::from_str(&b.ok(&["info", "--format", "json"])).expect("info JSON");
    assert_eq!(info["DockerRootDir"], b.root.to_str().unwrap(), "{info}");
}

/// `berth ps | head -1`: a command whose reader goes away ends as docker's CLI
/// does, quietly and with a shell's status for SIGPIPE (141), not with a panic
/// (it printed one and ended with 101). Also when the error it reports is what
/// meets the closed pipe (`berth inspect missing 2>&1 | head -c0`).
#[test]
fn output_to_a_pipe_nobody_reads_ends_quietly_with_141() {
    let Some(b) = env() else { return };
    b.ok(&["run", "-d", "--name", "one", "busybox", "sleep", "300"]);
    for (args, with_stderr) in [
        (&["ps", "-a"][..], false),
        (&["images"][..], false),
        (&["version"][..], false),
        (&["inspect", "one"][..], false),
        (&["inspect", "missing"][..], true),
    ] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        let mut cmd = b.command(args);
        cmd.stderr(std::process::Stdio::piped());
        if with_stderr {
            cmd.stderr(writer.try_clone().expect("dup"));
        }
        drop(reader);
        let out = cmd.stdout(writer).output().expect("run berth");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(141),
            "berth {args:?} into a closed pipe: {:?}, stderr {err}",
            out.status
        );
        assert!(!err.contains("panicked"), "berth {args:?}: {err}");
    }
    b.ok(&["rm", "-f", "one"]);
}

/// The binary with its state in `dir`, for a test that needs no container: a
/// `run` launches its monitor before it parses its flags, and that monitor opens
/// the database, so even a refused `run` left `/var/lib/berth` and `/run/berth`
/// on the host when these tests used the default places.
fn bare_berth(dir: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(BIN);
    c.env("BERTH_ROOT", dir.join("root"))
        .env("BERTH_RUNROOT", dir.join("run"));
    c
}
