//! `version` and `info` (`system info`): what berth is and what it holds, shaped like
//! docker's so `--format '{{json .}}'` and `{{.Server.Version}}`/`{{.ServerVersion}}`
//! give scripts the keys they read from docker. berth has no daemon: the "server"
//! is the engine linked into this binary, so both halves of `version` describe it.

use crate::args::FormatArgs;
use crate::format::render_value;
use anyhow::Result;
use berth_engine::cgroups::CgroupLayout;
use berth_engine::Engine;
use serde_json::{json, Value};
use std::path::Path;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The host facts both commands report.
struct Host {
    kernel: String,
    hostname: String,
    arch: String,
}

impl Host {
    fn read() -> Host {
        let uts = nix::sys::utsname::uname().ok();
        let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
            uts.as_ref()
                .map(|u| f(u).to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        Host {
            kernel: field(|u| u.release()),
            hostname: field(|u| u.nodename()),
            arch: field(|u| u.machine()),
        }
    }
}

pub fn cmd_version(a: &FormatArgs) -> Result<i32> {
    let host = Host::read();
    let v = version_json(&host);
    if let Some(f) = &a.format {
        println!("{}", render_value(f, &v)?);
        return Ok(0);
    }
    let arch = berth_image::host_go_arch();
    println!("Client:");
    println!(" Version:           {VERSION}");
    println!(" OS/Arch:           linux/{arch}");
    println!();
    println!("Server: berth (no daemon: this binary is the engine)");
    println!(" Engine:");
    println!("  Version:          {VERSION}");
    println!("  OS/Arch:          linux/{arch}");
    println!("  Kernel Version:   {}", host.kernel);
    Ok(0)
}

fn version_json(host: &Host) -> Value {
    let arch = berth_image::host_go_arch();
    json!({
        "Client": {
            "Platform": {"Name": "berth"},
            "Version": VERSION,
            "Os": "linux",
            "Arch": arch,
            "Context": "default",
        },
        "Server": {
            "Platform": {"Name": "berth"},
            "Components": [{
                "Name": "Engine",
                "Version": VERSION,
                "Details": {
                    "Os": "linux",
                    "Arch": arch,
                    "KernelVersion": host.kernel,
                    "Experimental": "false",
                },
            }],
            "Version": VERSION,
            "Os": "linux",
            "Arch": arch,
            "KernelVersion": host.kernel,
        },
    })
}

pub fn cmd_info(engine: &Engine, a: &FormatArgs) -> Result<i32> {
    let v = info_json(engine, &Host::read())?;
    if let Some(f) = &a.format {
        println!("{}", render_value(f, &v)?);
        return Ok(0);
    }
    print_info(&v);
    let settings = berth_registry::Settings::from_env()?;
    for line in settings.describe() {
        println!(" {line}");
    }
    println!(
        " Credentials: {}",
        settings.docker_config_dir.join("config.json").display()
    );
    Ok(0)
}

fn info_json(engine: &Engine, host: &Host) -> Result<Value> {
    let containers = engine.list()?;
    // The recorded status never says paused (the freezer does): ps's state name.
    let states: Vec<&str> = containers.iter().map(crate::inspect::state_name).collect();
    let count = |state: &str| states.iter().filter(|s| **s == state).count();
    let (running, paused) = (count("running"), count("paused"));
    let cgroup_version = match CgroupLayout::from_host() {
        CgroupLayout::Unified => "2",
        CgroupLayout::V1(_) => "1",
    };
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let paths = &engine.paths;
    Ok(json!({
        "ID": engine_id(&paths.root),
        "Containers": containers.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": containers.len() - running - paused,
        "Images": engine.images.list()?.len(),
        "Driver": "overlay",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version,
        "KernelVersion": host.kernel,
        "OperatingSystem": os_field(&os_release, "PRETTY_NAME").unwrap_or("Linux"),
        "OSVersion": os_field(&os_release, "VERSION_ID").unwrap_or(""),
        "OSType": "linux",
        "Architecture": host.arch,
        "NCPU": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "MemTotal": mem_total(),
        "DockerRootDir": paths.root,
        "ExecRootDir": paths.runroot,
        "Name": host.hostname,
        "ServerVersion": VERSION,
        "DefaultRuntime": "libcontainer",
        "Runtimes": {"libcontainer": {"path": "(in-process)"}, "runc": {"path": "runc"}},
        "SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns"],
        "Warnings": Value::Array(vec![]),
    }))
}

fn print_info(v: &Value) {
    let s = |k: &str| match &v[k] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    println!("Server:");
    println!(" Containers: {}", s("Containers"));
    println!("  Running: {}", s("ContainersRunning"));
    println!("  Paused: {}", s("ContainersPaused"));
    println!("  Stopped: {}", s("ContainersStopped"));
    println!(" Images: {}", s("Images"));
    println!(" Server Version: {}", s("ServerVersion"));
    println!(" Storage Driver: {}", s("Driver"));
    println!(" Cgroup Driver: {}", s("CgroupDriver"));
    println!(" Cgroup Version: {}", s("CgroupVersion"));
    println!(" Default Runtime: {}", s("DefaultRuntime"));
    println!(" Kernel Version: {}", s("KernelVersion"));
    println!(" Operating System: {}", s("OperatingSystem"));
    println!(" OSType: {}", s("OSType"));
    println!(" Architecture: {}", s("Architecture"));
    println!(" CPUs: {}", s("NCPU"));
    let mem = v["MemTotal"].as_u64().unwrap_or(0) as f64;
    println!(" Total Memory: {:.4}GiB", mem / f64::from(1u32 << 30));
    println!(" Name: {}", s("Name"));
    println!(" ID: {}", s("ID"));
    println!(" Docker Root Dir: {}", s("DockerRootDir"));
    println!(" Run Dir: {}", s("ExecRootDir"));
}

/// A value of /etc/os-release (`KEY="value"` or `KEY=value`).
fn os_field<'a>(os_release: &'a str, key: &str) -> Option<&'a str> {
    os_release.lines().find_map(|l| {
        let value = l.strip_prefix(key)?.strip_prefix('=')?;
        Some(value.trim_matches('"'))
    })
}

/// Bytes of memory, as docker's MemTotal (from /proc/meminfo's kB).
fn mem_total() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// This store's identity, as docker's engine ID: made once (a random UUID from the
/// kernel) and kept under the root, so it stays the same across calls. Read-only
/// callers that cannot write it get an empty ID rather than an error.
fn engine_id(root: &Path) -> String {
    let file = root.join("engine-id");
    if let Ok(id) = std::fs::read_to_string(&file) {
        return id.trim().to_string();
    }
    let Ok(id) = std::fs::read_to_string("/proc/sys/kernel/random/uuid") else {
        return String::new();
    };
    let id = id.trim().to_string();
    // Written whole under a name of its own (the random id), then linked into
    // place: a link, unlike a rename, never replaces an ID another berth put there
    // first, so every caller reports the one that is kept.
    let tmp = root.join(format!("engine-id.{id}"));
    let linked = std::fs::write(&tmp, &id).and_then(|()| std::fs::hard_link(&tmp, &file));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => id,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::read_to_string(&file).map_or(String::new(), |s| s.trim().to_string())
        }
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_fields() {
        let text = "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"13\"\nPRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nID=debian\n";
        assert_eq!(
            os_field(text, "PRETTY_NAME"),
            Some("Debian GNU/Linux 13 (trixie)")
        );
        assert_eq!(os_field(text, "VERSION_ID"), Some("13"));
        assert_eq!(os_field(text, "ID"), Some("debian"));
        assert_eq!(os_field(text, "VERSION"), None);
    }

    #[test]
    fn version_has_client_and_server() {
        let host = Host {
            kernel: "6.1".into(),
            hostname: "h".into(),
            arch: "x86_64".into(),
        };
        let v = version_json(&host);
        assert_eq!(v["Server"]["Version"], VERSION);
        assert_eq!(v["Client"]["Version"], VERSION);
        assert_eq!(v["Server"]["KernelVersion"], "6.1");
        assert_eq!(v["Server"]["Components"][0]["Name"], "Engine");
    }

    #[test]
    fn engine_id_is_made_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = engine_id(dir.path());
        assert_eq!(first.len(), 36, "{first}");
        assert_eq!(engine_id(dir.path()), first);
    }

    /// Commands racing to make the ID all report the one that is kept.
    #[test]
    fn racing_callers_agree_on_the_id() {
        for _ in 0..50 {
            let dir = tempfile::tempdir().unwrap();
            let ids: Vec<String> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8).map(|_| s.spawn(|| engine_id(dir.path()))).collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let kept = engine_id(dir.path());
            assert!(ids.iter().all(|id| *id == kept), "{ids:?} but kept {kept}");
        }
    }
}
