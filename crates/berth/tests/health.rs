//! Healthchecks run by the container's monitor: `--health-*`, the image's
//! HEALTHCHECK, `--no-healthcheck`; the status in `ps` and `inspect`.

use berth_testkit::Berth;

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar"])
}

fn inspect(b: &Berth, name: &str, format: &str) -> String {
    b.ok(&["inspect", "-f", format, name])
}

fn ps_status(b: &Berth, name: &str) -> String {
    let filter = format!("name={name}");
    b.ok(&["ps", "--filter", &filter, "--format", "{{.Status}}"])
}

#[test]
fn a_check_that_starts_failing_turns_the_container_unhealthy() {
    let Some(b) = env() else { return };
    b.ok(&[
        "run",
        "-d",
        "--name",
        "svc",
        "--health-cmd",
        "echo checked; test ! -e /tmp/broken",
        "--health-interval=500ms",
        "--health-retries=2",
        "busybox",
        "sleep",
        "1000",
    ]);
    b.wait_inspect("svc", "{{.State.Health.Status}}", "healthy");
    assert!(
        ps_status(&b, "svc").ends_with("(healthy)"),
        "{}",
        ps_status(&b, "svc")
    );
    b.ok(&["exec", "svc", "touch", "/tmp/broken"]);
    b.wait_inspect("svc", "{{.State.Health.Status}}", "unhealthy");
    let status = ps_status(&b, "svc");
    assert!(
        status.starts_with("Up ") && status.ends_with("(unhealthy)"),
        "{status}"
    );
    let streak: u32 = inspect(&b, "svc", "{{.State.Health.FailingStreak}}")
        .parse()
        .unwrap();
    assert!(streak >= 2, "{streak}");
    let log = inspect(&b, "svc", "{{json .State.Health.Log}}");
    let log: serde_json::Value = serde_json::from_str(&log).unwrap();
    let log = log.as_array().unwrap();
    assert!(!log.is_empty() && log.len() <= 5, "{log:?}");
    let last = log.last().unwrap();
    assert_eq!(last["ExitCode"], 1);
    assert_eq!(last["Output"], "checked\n");
    // Healthy again once the cause is gone.
    b.ok(&["exec", "svc", "rm", "/tmp/broken"]);
    b.wait_inspect(
        "svc",
        "{{.State.Health.Status}} {{.State.Health.FailingStreak}}",
        "healthy 0",
    );
}

#[test]
fn the_images_healthcheck_is_used_and_no_healthcheck_disables_it() {
    let Some(b) = env() else { return };
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nHEALTHCHECK --interval=500ms --retries=1 CMD [\"false\"]\n",
    )
    .unwrap();
    b.ok(&["build", "-q", "-t", "sick", ctx.path().to_str().unwrap()]);
    b.ok(&["run", "-d", "--name", "from-image", "sick", "sleep", "1000"]);
    b.ok(&[
        "run",
        "-d",
        "--name",
        "off",
        "--no-healthcheck",
        "sick",
        "sleep",
        "1000",
    ]);
    assert_eq!(
        inspect(&b, "from-image", "{{json .Config.Healthcheck.Test}}"),
        r#"["CMD","false"]"#
    );
    b.wait_inspect("from-image", "{{.State.Health.Status}}", "unhealthy");
    assert!(ps_status(&b, "from-image").ends_with("(unhealthy)"));
    // The image's check, tuned from the command line: the flags win field by field.
    b.ok(&[
        "run",
        "-d",
        "--name",
        "tuned",
        "--health-retries=1000",
        "sick",
        "sleep",
        "1000",
    ]);
    b.wait_inspect("tuned", "{{.Config.Healthcheck.Retries}}", "1000");
    // Disabled: no check, no health, nothing in ps.
    assert_eq!(inspect(&b, "off", "{{json .State.Health}}"), "null");
    assert_eq!(inspect(&b, "off", "{{json .Config.Healthcheck}}"), "null");
    assert!(ps_status(&b, "off").starts_with("Up "));
    assert!(!ps_status(&b, "off").contains("health"));
}

#[test]
fn a_check_that_hangs_is_cut_at_its_timeout() {
    let Some(b) = env() else { return };
    b.ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "sleep 1000",
        "--health-timeout=300ms",
        "--health-interval=500ms",
        "--health-retries=1",
        "busybox",
        "sleep",
        "1000",
    ]);
    b.wait_inspect("slow", "{{.State.Health.Status}}", "unhealthy");
    let log = inspect(&b, "slow", "{{json .State.Health.Log}}");
    assert!(log.contains("exceeded timeout"), "{log}");
    assert!(log.contains(r#""ExitCode":-1"#), "{log}");
}

#[test]
fn health_flags_are_checked() {
    let Some(b) = env() else { return };
    for (flags, needle) in [
        (
            vec!["--no-healthcheck", "--health-cmd", "true"],
            "conflicts",
        ),
        (
            vec!["--health-interval", "soon"],
            "invalid --health-interval",
        ),
        (vec!["--health-retries=-1"], "--health-retries"),
    ] {
        let mut args = vec!["run", "-d"];
        args.extend(&flags);
        args.extend(["busybox", "true"]);
        let out = b.run(&args);
        assert_eq!(out.status.code(), Some(125), "{flags:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{flags:?}: {err}");
    }
}
