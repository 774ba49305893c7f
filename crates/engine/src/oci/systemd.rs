//! Systemd mode: everything systemd's container interface asks of a container
//! manager, as one pure function over the generated config.
//!
//! * tmpfs on /run, /run/lock, /tmp and /var/log/journal, unless the user mounted there;
//! * a private cgroup namespace with the cgroup filesystem mounted read-write — it only
//!   shows the container's own subtree, so the host's tree is never reachable — except
//!   on cgroup v1, where only `name=systemd` stays writable: the controller
//!   hierarchies hold berth's limits and are bound read-only over the runtime's
//!   namespaced mounts (libcontainer mounts each v1 hierarchy read-write whatever the
//!   options say). On v2 the limits sit above the namespace root (`cgroups`);
//! * `container=berth`, `container_uuid`, /run/host/container-manager,
//!   /run/host/os-release, and NOTIFY_SOCKET at /run/host/notify;
//! * a journald drop-in that forwards the journal to the console;
//! * /dev/console is a pty (the process gets a terminal), read by the monitor;
//! * `--privileged` still passes no host TTYs.

use crate::cgroups::{CgroupLayout, PARENT};
use serde_json::{json, Value};
use std::path::Path;

/// Where the monitor's notify socket appears inside the container.
pub const NOTIFY_PATH: &str = "/run/host/notify";
pub const JOURNALD_DROPIN: &str = "/run/systemd/journald.conf.d/berth-console.conf";

/// Inits that mean "this is a system container" under `--systemd=auto`.
pub fn is_init_command(args: &[String]) -> bool {
    let Some(cmd) = args.first() else {
        return false;
    };
    matches!(
        cmd.as_str(),
        "/sbin/init" | "/usr/sbin/init" | "/usr/lib/systemd/systemd" | "/lib/systemd/systemd"
    ) || Path::new(cmd).file_name().is_some_and(|n| n == "systemd")
}

/// Host files the systemd mounts bind into the container, all prepared by the bundle.
pub struct SystemdFiles<'a> {
    pub container_manager: &'a Path,
    pub os_release: &'a Path,
    pub notify_socket: &'a Path,
    pub journald_dropin: &'a Path,
}

/// The 32-hex `container_uuid` systemd expects, from the container id.
pub fn container_uuid(id: &str) -> String {
    id.chars().take(32).collect()
}

fn bind_ro(dest: &str, source: &Path) -> Value {
    json!({"destination": dest, "type": "bind", "source": source, "options": ["rbind", "rprivate", "ro"]})
}

fn tmpfs(dest: &str, mode: &str, extra: &[&str]) -> Value {
    let mut options = vec!["rw", "rprivate", "nosuid", "nodev"];
    options.extend_from_slice(extra);
    let mode = format!("mode={mode}");
    let mut options: Vec<String> = options.into_iter().map(String::from).collect();
    options.push(mode);
    json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": options})
}

/// Adjusts a generated config for systemd as PID 1. `user_mounts` are the
/// destinations the user mounted; systemd's tmpfs mounts never cover those.
pub fn apply(config: &mut Value, id: &str, files: &SystemdFiles, user_mounts: &[String]) {
    let mut mounts: Vec<Value> = config["mounts"].as_array().cloned().unwrap_or_default();
    let user_has = |d: &str| user_mounts.iter().any(|m| m == d);
    // /sys/fs/cgroup: the namespaced cgroup filesystem, read-write within the subtree.
    // `create` refuses a user mount there; one kept by an older berth stays and wins.
    mounts.retain(|m| m["destination"] != "/sys/fs/cgroup" || user_has("/sys/fs/cgroup"));
    let sys_pos = mounts
        .iter()
        .position(|m| m["destination"] == "/sys")
        .map(|p| p + 1)
        .unwrap_or(mounts.len());
    mounts.insert(
        sys_pos,
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["rw", "nosuid", "noexec", "nodev", "relatime"]}),
    );
    let mut early = Vec::new();
    for (dest, mode, extra) in [
        ("/run", "755", &[][..]),
        ("/run/lock", "1777", &["noexec"][..]),
        ("/tmp", "1777", &[][..]),
        ("/var/log/journal", "755", &[][..]),
    ] {
        if !user_has(dest) {
            early.push(tmpfs(dest, mode, extra));
        }
    }
    // After the tmpfs mounts, so they are not hidden by them.
    early.push(bind_ro(
        "/run/host/container-manager",
        files.container_manager,
    ));
    early.push(bind_ro("/run/host/os-release", files.os_release));
    early.push(json!({"destination": NOTIFY_PATH, "type": "bind", "source": files.notify_socket, "options": ["rbind", "rprivate"]}));
    early.push(bind_ro(JOURNALD_DROPIN, files.journald_dropin));
    config["mounts"] = Value::Array(place_among_user_mounts(mounts, early, user_mounts));

    let ns = config["linux"]["namespaces"].as_array_mut();
    if let Some(ns) = ns {
        if !ns.iter().any(|n| n["type"] == "cgroup") {
            ns.push(json!({"type": "cgroup"}));
        }
    }
    if let Some(devices) = config["linux"]["devices"].as_array_mut() {
        devices.retain(|d| !d["path"].as_str().is_some_and(is_host_tty));
    }
    let env = config["process"]["env"].as_array_mut();
    if let Some(env) = env {
        env.retain(|e| {
            !e.as_str().is_some_and(|e| {
                e.starts_with("container=")
                    || e.starts_with("container_uuid=")
                    || e.starts_with("NOTIFY_SOCKET=")
            })
        });
        env.push(json!("container=berth"));
        env.push(json!(format!("container_uuid={}", container_uuid(id))));
        env.push(json!(format!("NOTIFY_SOCKET={NOTIFY_PATH}")));
    }
    config["process"]["terminal"] = json!(true);
}

/// Puts systemd mode's own mounts among the generated and the user's ones. The
/// generated mounts come first, the user's after them; each of ours goes before the
/// user's mounts (so a user bind under /run or /tmp is not covered by our tmpfs),
/// except under a user mount of a parent directory: a user tmpfs on /run must not
/// hide /run/lock and /run/host, so those follow it.
fn place_among_user_mounts(mounts: Vec<Value>, ours: Vec<Value>, user: &[String]) -> Vec<Value> {
    let dest = |m: &Value| m["destination"].as_str().unwrap_or_default().to_string();
    let is_user = |m: &Value| user.contains(&dest(m));
    let first_user = mounts.iter().position(is_user).unwrap_or(mounts.len());
    // Each of ours with the last user mount over a parent directory of it, if any.
    let placed: Vec<(Option<usize>, Value)> = ours
        .into_iter()
        .map(|m| {
            let d = dest(&m);
            let parent = mounts
                .iter()
                .rposition(|u| is_user(u) && is_under(&d, &dest(u)));
            (parent, m)
        })
        .collect();
    let ours_at = |at: Option<usize>| {
        placed
            .iter()
            .filter(move |(p, _)| *p == at)
            .map(|(_, m)| m.clone())
    };
    let total = mounts.len();
    let mut out = Vec::with_capacity(total + placed.len());
    for (i, m) in mounts.into_iter().enumerate() {
        if i == first_user {
            out.extend(ours_at(None));
        }
        out.push(m);
        out.extend(ours_at(Some(i)));
    }
    if first_user == total {
        out.extend(ours_at(None));
    }
    out
}

/// Whether `path` lies strictly below the directory `dir`.
fn is_under(path: &str, dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// cgroup v1: binds each controller hierarchy's `berth/<id>` read-only over the
/// runtime's namespaced mount of it (the same directory: the namespace roots there),
/// right after the cgroup filesystem. systemd copes with read-only controllers; it
/// only needs its own `name=systemd` subtree writable. A no-op on cgroup v2.
pub fn hold_v1_controllers(config: &mut Value, id: &str, layout: &CgroupLayout) {
    let CgroupLayout::V1(hierarchies) = layout else {
        return;
    };
    let Some(mounts) = config["mounts"].as_array_mut() else {
        return;
    };
    let Some(cgroup_fs) = mounts.iter().position(|m| m["type"] == "cgroup") else {
        return;
    };
    let binds = hierarchies
        .iter()
        .filter(|h| !h.is_named_systemd())
        .filter_map(|h| {
            let name = h.mount_point.file_name()?.to_str()?;
            Some(json!({
                "destination": format!("/sys/fs/cgroup/{name}"),
                "type": "bind",
                "source": h.mount_point.join(PARENT).join(id),
                "options": ["bind", "ro", "nosuid", "noexec", "nodev"],
            }))
        });
    let at = cgroup_fs + 1;
    mounts.splice(at..at, binds);
}

/// Host terminals that `--privileged` must not hand a system container: its systemd
/// would start gettys on them.
fn is_host_tty(path: &str) -> bool {
    let name = path.trim_start_matches("/dev/");
    name == "console" || name == "tty" || (name.starts_with("tty") && !name.starts_with("ttyUSB"))
}

/// The journald drop-in: journal entries go to the console, which the monitor logs.
pub const JOURNALD_CONSOLE: &str =
    "[Journal]\nForwardToConsole=yes\nMaxLevelConsole=info\nTTYPath=/dev/console\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> (
        std::path::PathBuf,
        std::path::PathBuf,
        std::path::PathBuf,
        std::path::PathBuf,
    ) {
        (
            "/c/manager".into(),
            "/c/os-release".into(),
            "/r/notify.sock".into(),
            "/c/journald.conf".into(),
        )
    }

    fn base() -> Value {
        json!({
            "process": {"terminal": false, "env": ["PATH=/bin", "container=docker"]},
            "mounts": [
                {"destination": "/proc", "type": "proc"},
                {"destination": "/sys", "type": "sysfs"},
                {"destination": "/etc/hosts", "type": "bind"},
            ],
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]},
        })
    }

    fn applied(user: &[&str], extra_mounts: &[Value]) -> Value {
        let (m, o, n, j) = files();
        let mut c = base();
        for e in extra_mounts {
            c["mounts"].as_array_mut().unwrap().push(e.clone());
        }
        let files = SystemdFiles {
            container_manager: &m,
            os_release: &o,
            notify_socket: &n,
            journald_dropin: &j,
        };
        let user: Vec<String> = user.iter().map(|s| s.to_string()).collect();
        apply(
            &mut c,
            "0123456789abcdef0123456789abcdef0123",
            &files,
            &user,
        );
        c
    }

    fn dests(c: &Value) -> Vec<String> {
        c["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn detects_inits() {
        for yes in [
            "/sbin/init",
            "/usr/sbin/init",
            "/usr/lib/systemd/systemd",
            "/opt/x/systemd",
        ] {
            assert!(is_init_command(&[yes.to_string()]), "{yes}");
        }
        for no in ["/bin/sh", "init.sh", "/usr/bin/systemctl"] {
            assert!(!is_init_command(&[no.to_string()]), "{no}");
        }
        assert!(!is_init_command(&[]));
    }

    #[test]
    fn mounts_what_systemd_needs_in_order() {
        let c = applied(&[], &[]);
        let d = dests(&c);
        let pos = |p: &str| {
            d.iter()
                .position(|x| x == p)
                .unwrap_or_else(|| panic!("{p} missing in {d:?}"))
        };
        assert!(pos("/sys") < pos("/sys/fs/cgroup"));
        assert!(pos("/run") < pos("/run/lock"));
        assert!(pos("/run") < pos("/run/host/notify"));
        assert!(pos("/run") < pos(JOURNALD_DROPIN));
        for p in [
            "/tmp",
            "/var/log/journal",
            "/run/host/container-manager",
            "/run/host/os-release",
        ] {
            pos(p);
        }
        let cg = &c["mounts"][pos("/sys/fs/cgroup")];
        assert_eq!(cg["type"], "cgroup");
        assert!(cg["options"].as_array().unwrap().contains(&json!("rw")));
        assert!(
            !c.to_string()
                .contains("\"/sys/fs/cgroup\",\"type\":\"bind\""),
            "never a host bind of /sys/fs/cgroup"
        );
    }

    #[test]
    fn cgroup_namespace_env_and_terminal() {
        let c = applied(&[], &[]);
        assert!(c["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!({"type": "cgroup"})));
        let env: Vec<&str> = c["process"]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert!(env.contains(&"container=berth") && !env.contains(&"container=docker"));
        assert!(env.contains(&"container_uuid=0123456789abcdef0123456789abcdef"));
        assert!(env.contains(&"NOTIFY_SOCKET=/run/host/notify"));
        assert_eq!(c["process"]["terminal"], true);
    }

    #[test]
    fn user_mounts_win() {
        let user_tmp = json!({"destination": "/tmp", "type": "bind", "source": "/h"});
        let c = applied(&["/tmp"], &[user_tmp]);
        let d = dests(&c);
        assert_eq!(d.iter().filter(|x| *x == "/tmp").count(), 1);
        let tmp = c["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/tmp")
            .unwrap();
        assert_eq!(tmp["type"], "bind");
    }

    #[test]
    fn a_user_tmpfs_on_run_still_gets_run_lock_and_run_host() {
        // The field report: `--tmpfs /tmp --tmpfs /run` hid berth's /run/lock (and
        // the notify socket), and systemd died with "Failed to mount tmpfs at /run/lock".
        let run = json!({"destination": "/run", "type": "tmpfs", "source": "tmpfs"});
        let tmp = json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"});
        let under = json!({"destination": "/run/lock/mine", "type": "bind", "source": "/h"});
        let c = applied(&["/tmp", "/run", "/run/lock/mine"], &[tmp, run, under]);
        let d = dests(&c);
        let pos = |p: &str| d.iter().position(|x| x == p).unwrap();
        assert_eq!(d.iter().filter(|x| *x == "/run").count(), 1, "{d:?}");
        assert_eq!(c["mounts"][pos("/run")]["source"], "tmpfs");
        for ours in [
            "/run/lock",
            "/run/host/container-manager",
            "/run/host/os-release",
            NOTIFY_PATH,
            JOURNALD_DROPIN,
        ] {
            assert!(
                pos("/run") < pos(ours),
                "{ours} after the user's /run: {d:?}"
            );
        }
        assert!(pos("/run/lock") < pos("/run/lock/mine"), "{d:?}");
        assert!(pos("/tmp") < pos("/run"), "the user's order is kept: {d:?}");
    }

    #[test]
    fn a_user_bind_under_run_follows_the_run_tmpfs() {
        let under = json!({"destination": "/run/secrets/x", "type": "bind", "source": "/h"});
        let c = applied(&["/run/secrets/x"], &[under]);
        let d = dests(&c);
        let pos = |p: &str| d.iter().position(|x| x == p).unwrap();
        assert!(pos("/run") < pos("/run/secrets/x"), "{d:?}");
        assert!(pos("/etc/hosts") < pos("/run"), "{d:?}");
        assert!(is_under("/run/lock", "/run") && is_under("/run/lock", "/run/"));
        assert!(!is_under("/run", "/run") && !is_under("/runner", "/run"));
    }

    #[test]
    fn v1_controllers_are_bound_read_only_and_name_systemd_stays_writable() {
        let layout = CgroupLayout::V1(
            ["cpu,cpuacct", "memory", "systemd"]
                .iter()
                .map(|n| crate::cgroups::V1Hierarchy {
                    mount_point: Path::new("/sys/fs/cgroup").join(n),
                    options: vec![if *n == "systemd" {
                        "name=systemd".to_string()
                    } else {
                        n.to_string()
                    }],
                })
                .collect(),
        );
        let mut c = applied(&[], &[]);
        hold_v1_controllers(&mut c, "abc", &layout);
        let d = dests(&c);
        let cg = d.iter().position(|x| x == "/sys/fs/cgroup").unwrap();
        assert_eq!(
            d[cg + 1..cg + 3],
            ["/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/memory"]
        );
        let memory = &c["mounts"][cg + 2];
        assert_eq!(memory["source"], "/sys/fs/cgroup/memory/berth/abc");
        assert!(memory["options"].as_array().unwrap().contains(&json!("ro")));
        assert!(!d.contains(&"/sys/fs/cgroup/systemd".to_string()));

        let mut v2 = applied(&[], &[]);
        let before = v2.clone();
        hold_v1_controllers(&mut v2, "abc", &CgroupLayout::Unified);
        assert_eq!(v2, before);
    }

    #[test]
    fn privileged_devices_leave_out_host_ttys() {
        let (m, o, n, j) = files();
        let mut c = base();
        c["linux"]["devices"] = json!([{"path": "/dev/tty1"}, {"path": "/dev/ttyS0"}, {"path": "/dev/console"}, {"path": "/dev/fuse"}, {"path": "/dev/ttyUSB0"}]);
        let files = SystemdFiles {
            container_manager: &m,
            os_release: &o,
            notify_socket: &n,
            journald_dropin: &j,
        };
        apply(&mut c, "abc", &files, &[]);
        let left: Vec<&str> = c["linux"]["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["path"].as_str().unwrap())
            .collect();
        assert_eq!(left, vec!["/dev/fuse", "/dev/ttyUSB0"]);
    }
}
