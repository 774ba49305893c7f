//! Basic container lifecycle against the real kernel: run, exit codes, detach, ps,
//! exec, hostname, flag parsing.

use berth_testkit::{stderr, stdout, Berth};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar"])
}

#[test]
fn run_echo_exit_codes_and_missing_command() {
    let Some(b) = env() else { return };
    assert_eq!(b.ok(&["run", "--rm", "busybox", "echo", "hi"]), "hi");
    assert_eq!(b.sh_output(&[], "exit 3").status.code(), Some(3));
    let missing = b.run(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(missing.status.code(), Some(127));
    assert!(
        stderr(&missing).contains("not found"),
        "{}",
        stderr(&missing)
    );
    let not_exec = b.run(&["run", "--rm", "busybox", "/etc/passwd"]);
    assert_eq!(not_exec.status.code(), Some(126));
    assert!(
        b.all_ids().is_empty(),
        "--rm left containers: {:?}",
        b.all_ids()
    );
}

#[test]
fn detached_container_is_listed_and_exec_sees_hostname() {
    let Some(b) = env() else { return };
    let id = b.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--hostname",
        "box1",
        "busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(id.len(), 64, "run -d prints the full id: {id}");
    let ps = b.ok(&["ps"]);
    assert!(
        ps.contains(&id[..12]) && ps.contains("web") && ps.contains("Up"),
        "{ps}"
    );
    assert_eq!(b.ok(&["exec", "web", "cat", "/etc/hostname"]), "box1");
    assert_eq!(b.ok(&["exec", "web", "hostname"]), "box1");
    assert_eq!(
        b.run(&["exec", "web", "sh", "-c", "exit 5"]).status.code(),
        Some(5)
    );
    assert_eq!(b.run(&["exec", "web", "nope"]).status.code(), Some(127));
    assert_eq!(
        b.ok(&[
            "exec",
            "-u",
            "nobody",
            "-w",
            "/tmp",
            "-e",
            "X=1",
            "web",
            "sh",
            "-c",
            "id -u; pwd; echo $X"
        ]),
        "65534\n/tmp\n1"
    );
    assert_eq!(
        b.ok(&[
            "inspect",
            "-f",
            "{{.State.Running}} {{.Config.Hostname}}",
            "web"
        ]),
        "true box1"
    );
    assert_eq!(b.ok(&["ps", "-q"]), &id[..12]);
    b.ok(&["rm", "-f", "web"]);
    assert!(b.ok(&["ps", "-a", "-q"]).is_empty());
}

#[test]
fn ps_filters_and_formats() {
    let Some(b) = env() else { return };
    b.ok(&[
        "run", "-d", "--name", "up1", "--label", "tier=web", "busybox", "sleep", "300",
    ]);
    b.ok(&["run", "--name", "done1", "busybox", "true"]);
    b.ok(&["create", "--name", "new1", "busybox", "true"]);
    assert_eq!(b.ok(&["ps", "--format", "{{.Names}}"]), "up1");
    assert_eq!(
        b.ok(&[
            "ps",
            "-a",
            "-f",
            "status=exited",
            "--format",
            "{{.Names}} {{.State}}"
        ]),
        "done1 exited"
    );
    assert_eq!(
        b.ok(&["ps", "-a", "-f", "status=created", "--format", "{{.Names}}"]),
        "new1"
    );
    assert_eq!(
        b.ok(&["ps", "-a", "-f", "name=up", "--format", "{{.Names}}"]),
        "up1"
    );
    assert_eq!(
        b.ok(&["ps", "-a", "-f", "label=tier=web", "--format", "{{.Names}}"]),
        "up1"
    );
    assert_eq!(
        b.ok(&["ps", "-a", "-f", "ancestor=busybox", "-q"])
            .lines()
            .count(),
        3
    );
    assert_eq!(
        b.ok(&["ps", "-a", "-n", "1", "--format", "{{.Names}}"]),
        "new1"
    );
    let bad = b.run(&["ps", "-f", "status=bogus"]);
    assert_eq!(bad.status.code(), Some(125));
    b.ok(&["start", "new1"]);
    assert_eq!(b.ok(&["wait", "new1"]), "0");
}

#[test]
fn flags_parse_like_docker() {
    let Some(b) = env() else { return };
    let unknown = b.run(&["run", "--bogus-flag", "busybox", "true"]);
    assert_eq!(unknown.status.code(), Some(125));
    assert!(
        stderr(&unknown).contains("--bogus-flag"),
        "{}",
        stderr(&unknown)
    );
    // A berth flag right after the image goes to the command, with a warning;
    // further on it is the command's own flag, and no warning.
    b.import_busybox("echo", &[r#"ENTRYPOINT ["echo"]"#]);
    let passed = b.run(&["run", "--rm", "echo", "--privileged"]);
    assert_eq!(stdout(&passed).trim(), "--privileged");
    assert!(stderr(&passed).contains("warning"), "{}", stderr(&passed));
    let own = b.run(&["run", "--rm", "busybox", "echo", "-p", "80"]);
    assert_eq!(stdout(&own).trim(), "-p 80");
    assert!(!stderr(&own).contains("warning"), "{}", stderr(&own));
    assert!(b.run(&["run", "--help"]).status.success());
    let missing = b.run(&["run", "--rm", "no-such-image"]);
    assert_eq!(missing.status.code(), Some(125));
    assert!(
        stderr(&missing).contains("Unable to find image"),
        "{}",
        stderr(&missing)
    );
}

/// `--privileged` and `--privileged=true` give the same OCI config, `=false` the default.
#[test]
fn privileged_forms_give_identical_configs() {
    let Some(b) = env() else { return };
    let config_of = |flag: &str| {
        let id = b.ok(&["create", flag, "busybox", "true"]);
        b.ok(&["start", "-a", &id]);
        // The bundle is written at start; compare the security-relevant parts.
        let c = b.ok(&["inspect", "-f", "{{.HostConfig.Privileged}}", &id]);
        let cfg: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(b.root.join("containers").join(&id).join("config.json"))
                .unwrap(),
        )
        .unwrap();
        b.ok(&["rm", &id]);
        (
            c,
            cfg["process"]["capabilities"].clone(),
            cfg["linux"].get("seccomp").is_some(),
            cfg["linux"].get("maskedPaths").cloned(),
        )
    };
    let plain = config_of("--privileged");
    let explicit = config_of("--privileged=true");
    let off = config_of("--privileged=false");
    let default = config_of("--rm=false");
    assert_eq!(plain, explicit);
    assert_eq!(plain.0, "true");
    assert!(!plain.2, "privileged has no seccomp filter");
    assert_eq!(off, default);
    assert!(off.2, "default has a seccomp filter");
}

/// docker's restart lifts AutoRemove for the stop it makes: a `--rm` container
/// comes back (its volatile overlay mounted again), and goes when it ends.
#[test]
fn restart_keeps_a_rm_container_until_it_ends() {
    let Some(b) = env() else { return };
    b.ok(&[
        "run",
        "-d",
        "--rm",
        "--name",
        "rr",
        "--network",
        "none",
        "busybox",
        "sleep",
        "600",
    ]);
    b.ok(&["exec", "rr", "touch", "/kept"]);
    b.ok(&["restart", "-t", "1", "rr"]);
    assert_eq!(b.ok(&["inspect", "-f", "{{.State.Running}}", "rr"]), "true");
    b.ok(&["exec", "rr", "ls", "/kept"]);
    b.ok(&["restart", "-t", "1", "rr"]);
    b.ok(&["stop", "-t", "1", "rr"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !b.all_ids().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "a stopped --rm container stayed"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    b.assert_no_leftovers();
}
