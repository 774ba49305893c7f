//! `berth doctor`: explains why a container's init — systemd above all — failed or
//! is degraded, from its console log and state, and says what to do about it.
//! Recognising the classic failures is a pure function over the log text.

use crate::logs::read_from;
use crate::model::{BootState, Container, Status};
use crate::Engine;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub cause: String,
    pub fix: String,
}

struct Pattern {
    needles: &'static [&'static str],
    cause: &'static str,
    fix: &'static str,
}

/// Known failures, most specific first.
const PATTERNS: &[Pattern] = &[
    Pattern {
        // Newer systemd mounts /run/lock itself when it is not a mount point yet.
        needles: &["Failed to mount tmpfs at /run/lock"],
        cause: "/run/lock is not a mount point and systemd cannot mount a tmpfs there itself (it has no CAP_SYS_ADMIN in a container)",
        fix: "run it in systemd mode, which mounts tmpfs on /run/lock even under a --tmpfs /run of yours: berth run --systemd=always … (or let --systemd=auto see /sbin/init as the command); a -v or --tmpfs of yours at /run/lock must be a mount that systemd can use",
    },
    Pattern {
        needles: &["Failed to mount tmpfs at /run:", "/run is not a mount point"],
        cause: "/run is not a tmpfs and systemd cannot mount one itself (it has no CAP_SYS_ADMIN in a container)",
        fix: "run it in systemd mode, which mounts tmpfs on /run, /run/lock and /tmp: berth run --systemd=always … (or let --systemd=auto see /sbin/init as the command)",
    },
    Pattern {
        needles: &["Failed to create /init.scope control group", "Read-only file system"],
        cause: "the cgroup filesystem is read-only, so systemd cannot create its own control groups",
        fix: "use systemd mode (--systemd=always): berth gives the container a private, writable cgroup namespace; never bind the host's /sys/fs/cgroup read-write",
    },
    Pattern {
        needles: &["Cannot determine cgroup we are running in", "Failed to mount cgroup at /sys/fs/cgroup", "No control group support available", "Failed to allocate manager object"],
        cause: "systemd found no usable cgroup hierarchy (the container has no cgroup filesystem of its own, or lacks the name=systemd hierarchy)",
        fix: "use systemd mode (--systemd=always), which mounts a namespaced cgroup filesystem with the container's own name=systemd or unified subtree",
    },
    Pattern {
        needles: &["Trying to run as user instance, but the system has not been booted with systemd", "System has not been booted with systemd", "Couldn't find an alternative telinit implementation", "Explicit --user argument required to run as user manager", "systemd is not running as PID 1"],
        cause: "systemd is not PID 1: something else was started first and systemd refuses to run as the system manager",
        fix: "make the init the container's command, e.g. berth run IMAGE /sbin/init (not sh -c '…; exec /sbin/init' wrappers that fork), or set CMD [\"/sbin/init\"] in the image",
    },
    Pattern {
        needles: &["cgroup v1 support is disabled", "unified cgroup hierarchy is required", "Failed to determine whether the unified cgroups hierarchy is used"],
        cause: "this image's systemd and the host disagree on cgroup versions (for example a cgroup-v1-only systemd on a cgroup v2 host)",
        fix: "use an image with systemd 230 or newer on cgroup v2 hosts; berth delegates the container's unified subtree in systemd mode",
    },
    Pattern {
        // systemd logs many harmless "Operation not permitted" lines in containers;
        // only the fatal ones mean something.
        needles: &["Failed to mount API filesystems", "Failed to allocate manager object: Operation not permitted", "Freezing execution"],
        cause: "systemd was refused an operation it needs to boot (a missing capability, a seccomp filter, or mounts it cannot make)",
        fix: "do not drop the default capabilities of a system container (remove --cap-drop) and run it in systemd mode (--systemd=always)",
    },
];

/// Reads the log text and state; returns what went wrong, most important first.
pub fn analyse(log: &str, c: &Container) -> Vec<Finding> {
    let mut found: Vec<Finding> = config_findings(c);
    for p in PATTERNS {
        if p.needles.iter().any(|n| log.contains(n)) && !found.iter().any(|f| f.cause == p.cause) {
            found.push(Finding {
                cause: p.cause.into(),
                fix: p.fix.into(),
            });
            if p.cause.starts_with("systemd was refused") {
                continue;
            }
        }
    }
    // The generic refusal accompanies most of the specific failures above; only
    // keep it when it is the only thing we recognised.
    if found.len() > 1 {
        found.retain(|f| !f.cause.starts_with("systemd was refused"));
    }
    let failed = failed_units(log);
    if !failed.is_empty() {
        found.push(units_finding("units failed to start", &failed, &c.name));
    }
    if found.is_empty() {
        if let Some(f) = state_finding(c) {
            found.push(f);
        }
    }
    found
}

/// Problems visible in the container's configuration alone.
fn config_findings(c: &Container) -> Vec<Finding> {
    let mut out = Vec::new();
    if !c.spec.systemd && crate::oci::systemd::is_init_command(&c.spec.args) {
        out.push(Finding {
            cause: format!(
                "{} is an init, but the container runs in plain mode (--systemd=false): systemd gets no tmpfs on /run, no cgroup filesystem of its own and no console, and stops with \"Failed to mount API filesystems\" (systemctl reports \"offline\")",
                c.spec.args[0]
            ),
            fix: "recreate it without --systemd=false (auto detects the init) or with --systemd=always".into(),
        });
    }
    out
}

fn units_finding(what: &str, units: &[String], name: &str) -> Finding {
    Finding {
        cause: format!("{what}: {}", units.join(", ")),
        fix: format!(
            "look at why: berth exec {name} journalctl -b -u {} (or systemctl status); fix or disable them",
            units[0]
        ),
    }
}

/// Everything doctor knows about a container: its console log and state, and for a
/// running system container with nothing in its log, the units systemd reports as
/// failed (they may have failed after the boot).
pub fn diagnose(engine: &Engine, c: &Container) -> Vec<Finding> {
    let mut findings = analyse(&console_text(engine, c), c);
    if c.is_running() && c.spec.systemd && findings.is_empty() {
        let asked = crate::exec::exec_capture(
            engine,
            c,
            &["systemctl", "--failed", "--plain", "--no-legend"],
        );
        if let Ok((_, out)) = asked {
            let units: Vec<String> = out
                .lines()
                .filter_map(|l| l.split_whitespace().next())
                .map(String::from)
                .collect();
            if !units.is_empty() {
                findings.push(units_finding(
                    "the system is degraded: units failed",
                    &units,
                    &c.name,
                ));
            }
        }
    }
    findings
}

fn state_finding(c: &Container) -> Option<Finding> {
    match (c.state.status, c.state.boot) {
        (Status::Exited, _) if c.state.exit_code.unwrap_or(0) != 0 => Some(Finding {
            cause: format!(
                "the init exited with code {} and printed nothing berth recognises",
                c.state.exit_code.unwrap_or(0)
            ),
            fix: format!("read the whole boot log: berth logs {}", c.name),
        }),
        (Status::Running, Some(BootState::Starting)) => Some(Finding {
            cause:
                "systemd has not reported ready yet (still booting, or a unit is holding the boot)"
                    .into(),
            fix: format!(
                "watch it: berth logs -f {}; list jobs: berth exec {} systemctl list-jobs",
                c.name, c.name
            ),
        }),
        (Status::Created, _) if c.state.error.is_some() => Some(Finding {
            cause: format!(
                "the container could not be started: {}",
                c.state.error.clone().unwrap_or_default()
            ),
            fix: "fix the cause above and start it again (berth start)".into(),
        }),
        _ => None,
    }
}

/// Unit names from systemd's "[FAILED] Failed to start …" console lines and the
/// journal's "unit: Failed with result …" lines.
pub fn failed_units(log: &str) -> Vec<String> {
    let mut units: Vec<String> = Vec::new();
    for line in log.lines() {
        if let Some(before) = line
            .split(": Failed with result")
            .next()
            .filter(|_| line.contains(": Failed with result"))
        {
            let unit = before.rsplit(' ').next().unwrap_or_default().to_string();
            if !unit.is_empty() && !units.contains(&unit) {
                units.push(unit);
            }
            continue;
        }
        let Some(rest) = line.split("Failed to start ").nth(1) else {
            continue;
        };
        if !line.contains("FAILED") {
            continue;
        }
        let unit = rest
            .trim()
            .trim_end_matches('.')
            .trim_end_matches(" - ")
            .to_string();
        let unit = unit.split(" - ").next().unwrap_or(&unit).trim().to_string();
        if !unit.is_empty() && !units.contains(&unit) {
            units.push(unit);
        }
    }
    units
}

/// The whole console log of a container as text (escape sequences removed).
pub fn console_text(engine: &Engine, c: &Container) -> String {
    let (lines, _) = read_from(&engine.paths.log_file(&c.id), 0).unwrap_or_default();
    let raw: String = lines.into_iter().map(|l| l.log).collect();
    strip_ansi(&raw)
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for n in chars.by_ref() {
                    if n.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        if c != '\r' {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ContainerSpec, ContainerState};

    fn container(status: Status, exit: Option<i32>, boot: Option<BootState>) -> Container {
        Container {
            id: "abc".into(),
            name: "s".into(),
            image_id: String::new(),
            created: String::new(),
            spec: ContainerSpec::default(),
            state: ContainerState {
                status,
                exit_code: exit,
                boot,
                ..Default::default()
            },
        }
    }

    #[test]
    fn recognises_classic_failures() {
        let c = container(Status::Running, None, None);
        let cases = [
            ("Failed to mount tmpfs at /run: Operation not permitted\n[!!!!!!] Failed to mount API filesystems.", "/run is not a tmpfs"),
            ("Failed to mount tmpfs at /run/lock: Operation not permitted\n[!!!!!!] Failed to mount API filesystems.", "/run/lock is not a mount point"),
            ("Failed to create /init.scope control group: Read-only file system", "read-only"),
            ("Cannot determine cgroup we are running in: No medium found\nFailed to allocate manager object: No medium found", "no usable cgroup"),
            ("Trying to run as user instance, but the system has not been booted with systemd.", "not PID 1"),
            ("Failed to mount API filesystems.\nFreezing execution.", "refused an operation"),
        ];
        for (log, expect) in cases {
            let f = analyse(log, &c);
            assert!(
                !f.is_empty() && f[0].cause.contains(expect),
                "{log:?} gave {f:?}"
            );
            assert!(!f[0].fix.is_empty());
        }
    }

    #[test]
    fn specific_cause_wins_over_generic_permission_error() {
        let c = container(Status::Running, None, None);
        let f = analyse("Failed to mount tmpfs at /run: Operation not permitted\n[!!!!!!] Failed to mount API filesystems.\nFreezing execution.", &c);
        assert_eq!(f.len(), 1);
        assert!(f[0].cause.contains("/run"));
        // Harmless refusals in a healthy boot are not problems.
        let healthy = container(Status::Running, None, Some(BootState::Ready));
        assert!(analyse(
            "Failed to configure loopback network device, ignoring: Operation not permitted",
            &healthy
        )
        .is_empty());
    }

    #[test]
    fn lists_failed_units() {
        let log = "[FAILED] Failed to start broken.service - A broken unit.\n[  OK  ] Started ssh.service\n[FAILED] Failed to start other.service.\n[ 12.3] systemd[1]: third.service: Failed with result 'exit-code'.\n";
        assert_eq!(
            failed_units(log),
            vec!["broken.service", "other.service", "third.service"]
        );
        let f = analyse(
            log,
            &container(Status::Running, None, Some(BootState::Ready)),
        );
        assert!(f[0].cause.contains("broken.service") && f[0].fix.contains("journalctl"));
    }

    #[test]
    fn init_in_plain_mode_is_named() {
        let mut c = container(Status::Running, None, None);
        c.spec.args = vec!["/sbin/init".into()];
        let f = analyse("", &c);
        assert!(f[0].cause.contains("plain mode") && f[0].fix.contains("--systemd=always"));
        c.spec.systemd = true;
        assert!(analyse("", &c).is_empty());
    }

    #[test]
    fn falls_back_to_state() {
        let f = analyse("nothing useful", &container(Status::Exited, Some(3), None));
        assert!(f[0].cause.contains("code 3"));
        assert!(analyse(
            "all fine",
            &container(Status::Running, None, Some(BootState::Ready))
        )
        .is_empty());
        assert_eq!(strip_ansi("\u{1b}[0;32m  OK  \u{1b}[0m\r"), "  OK  ");
    }
}
