//! docker's `HostConfig` extras (`--device`, `--sysctl`, `--pid`, `--log-opt`, …)
//! from flag strings to the engine's typed `HostConfig`, for `specgen`; and the
//! `--cidfile` and `--label-file` files.

use crate::args::{LimitFlags, RunFlags};
use anyhow::{bail, Context, Result};
use berth_engine::limits::ResourceUpdate;
use berth_engine::logs::{LogConfig, JOURNAL_SOCKET};
use berth_engine::oci::hostconfig::HostConfig;
use berth_engine::oci::{devices, namespaces, sysctls};
use std::collections::BTreeMap;
use std::path::Path;

/// The typed settings of `r`, each checked on its own (create checks them against
/// the rest of the spec).
pub fn host_config(r: &RunFlags) -> Result<HostConfig> {
    if let Some(p) = &r.cgroup_parent {
        check_cgroup_parent(p)?;
    }
    if let Some(p) = &r.platform {
        check_platform(p)?;
    }
    let ns = |flag, v: &Option<String>| -> Result<_> {
        Ok(v.as_deref()
            .map(|v| namespaces::parse_mode(flag, v))
            .transpose()?
            .unwrap_or_default())
    };
    let mut sysctl_map = BTreeMap::new();
    for s in &r.sysctl {
        let (k, v) = sysctls::parse(s)?;
        sysctl_map.insert(k, v);
    }
    Ok(HostConfig {
        devices: r
            .device
            .iter()
            .map(|d| devices::parse_device(d))
            .collect::<Result<_, _>>()?,
        device_cgroup_rules: r
            .device_cgroup_rule
            .iter()
            .map(|d| devices::parse_rule(d))
            .collect::<Result<_, _>>()?,
        group_add: r
            .group_add
            .iter()
            .map(|g| group(g))
            .collect::<Result<_>>()?,
        shm_size: r.shm_size.as_deref().map(shm_size).transpose()?,
        sysctls: sysctl_map,
        pid: ns("pid", &r.pid)?,
        ipc: ns("ipc", &r.ipc)?,
        uts: ns("uts", &r.uts)?,
        cgroupns: r
            .cgroupns
            .as_deref()
            .map(namespaces::parse_cgroupns)
            .transpose()?,
        oom_score_adj: r.oom_score_adj.map(oom_score_adj).transpose()?,
        oom_kill_disable: r.oom_kill_disable,
        expose: expose(&r.expose)?,
        domainname: r.domainname.as_deref().map(domainname).transpose()?,
        network_aliases: r
            .network_alias
            .iter()
            .map(|a| alias(a))
            .collect::<Result<_>>()?,
        annotations: r
            .annotation
            .iter()
            .map(|a| annotation(a))
            .collect::<Result<_>>()?,
        log: LogConfig::from_flags(
            r.log_driver.as_deref(),
            &r.log_opt,
            Path::new(JOURNAL_SOCKET).exists(),
        )?,
        platform: r.platform.clone(),
    })
}

/// The cgroup limits `run`/`create` and `update` share, from docker's strings,
/// checked as docker checks them (the cpusets against the host's CPUs and nodes).
pub fn limit_update(l: &LimitFlags) -> Result<ResourceUpdate> {
    Ok(ResourceUpdate {
        memory_swap: l.memory_swap.as_deref().map(memory_swap).transpose()?,
        memory_reservation: l
            .memory_reservation
            .as_deref()
            .map(crate::specgen::parse_memory)
            .transpose()
            .context("--memory-reservation")?,
        cpu_shares: l.cpu_shares.map(cpu_shares).transpose()?,
        cpuset_cpus: l
            .cpuset_cpus
            .as_deref()
            .map(|c| cpuset("--cpuset-cpus", c, "/sys/devices/system/cpu/online"))
            .transpose()?,
        cpuset_mems: l
            .cpuset_mems
            .as_deref()
            .map(|m| cpuset("--cpuset-mems", m, "/sys/devices/system/node/online"))
            .transpose()?,
        blkio_weight: l.blkio_weight.map(blkio_weight).transpose()?.flatten(),
        ..Default::default()
    })
}

/// `--cgroup-parent`: berth keeps every container in its own `berth/<id>` cgroup
/// (its cleanup, limits and system containers' cgroup trees rely on that), so only
/// berth's own parent is accepted; a path out of it (`..`, `/sys/fs/cgroup/…`, the
/// host's slices) is refused by name.
fn check_cgroup_parent(p: &str) -> Result<()> {
    let trimmed = p.trim_matches('/');
    if trimmed == berth_engine::cgroups::PARENT {
        return Ok(());
    }
    let escapes = p.split('/').any(|c| c == "..") || p.starts_with("/sys");
    let why = if escapes {
        "it leads out of berth's cgroup parent, into the host's own cgroups"
    } else {
        "berth places every container in its own cgroup under its parent `berth` (limits, cleanup and system containers' cgroup trees depend on it)"
    };
    bail!("--cgroup-parent {p:?} is refused: {why}; drop the flag (or give --cgroup-parent berth), and set limits with --memory, --cpus, --cpu-shares, --cpuset-cpus")
}

/// `--platform`: this host's only (berth runs images natively, never emulated).
fn check_platform(p: &str) -> Result<()> {
    use berth_registry::platform::Platform;
    let host = Platform::host();
    let want = match p {
        "linux" => return Ok(()),
        _ => Platform::parse(p)?,
    };
    if !host.matches(&want) {
        bail!("--platform {p}: this host runs {host} and berth does not emulate other platforms; use --platform {host} (or leave the flag out)");
    }
    Ok(())
}

/// `--group-add`: a group name or a gid (ids up to 2³¹−1, as for `-u`).
fn group(g: &str) -> Result<String> {
    let ok_name = !g.is_empty()
        && g.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    match g.parse::<u64>() {
        Ok(n) if n > berth_image::users::MAX_ID => {
            bail!("--group-add {g}: gids run from 0 to 2147483647")
        }
        Ok(_) => Ok(g.into()),
        Err(_) if ok_name => Ok(g.into()),
        Err(_) => bail!("invalid --group-add {g:?}: give a group name from the image's /etc/group or a numeric gid"),
    }
}

/// `--shm-size 128m`: docker's units, more than zero.
fn shm_size(s: &str) -> Result<u64> {
    let bytes = crate::specgen::size_bytes(s).filter(|b| *b > 0);
    bytes.with_context(|| format!("invalid --shm-size {s:?}: use a size such as 64m or 1g"))
}

fn memory_swap(s: &str) -> Result<i64> {
    match s {
        "-1" => Ok(-1),
        _ => crate::specgen::parse_memory(s).context("--memory-swap"),
    }
}

fn cpu_shares(n: u64) -> Result<u64> {
    if !(2..=262_144).contains(&n) {
        bail!("invalid --cpu-shares {n}: give a weight from 2 to 262144 (1024 is the default)");
    }
    Ok(n)
}

/// `--cpuset-cpus 0-1,3`: the list's syntax, and every number available on this
/// host (`online`), as docker checks it.
fn cpuset(flag: &str, list: &str, online: &str) -> Result<String> {
    let numbers = parse_list(list).with_context(|| {
        format!("invalid {flag} {list:?}: use numbers and ranges such as 0-2,4")
    })?;
    let available = std::fs::read_to_string(online)
        .ok()
        .and_then(|s| parse_list(s.trim()));
    if let Some(available) = available {
        if let Some(n) = numbers.iter().find(|n| !available.contains(n)) {
            bail!(
                "{flag} {list}: {n} is not available on this host (available: {})",
                std::fs::read_to_string(online).unwrap_or_default().trim()
            );
        }
    }
    Ok(list.to_string())
}

/// The kernel's list format: `0-2,4`.
fn parse_list(list: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if a > b || b - a > 4096 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// `--blkio-weight`: 10 to 1000; 0 leaves the default weight (docker).
fn blkio_weight(w: u16) -> Result<Option<u16>> {
    match w {
        0 => Ok(None),
        10..=1000 => Ok(Some(w)),
        _ => bail!(
            "invalid --blkio-weight {w}: give a weight from 10 to 1000 (or 0 for the default)"
        ),
    }
}

fn oom_score_adj(n: i32) -> Result<i32> {
    if !(-1000..=1000).contains(&n) {
        bail!("invalid --oom-score-adj {n}: give a value from -1000 to 1000");
    }
    Ok(n)
}

/// `--expose 80`, `--expose 53/udp`, `--expose 8000-8002`: each port as
/// `PORT/PROTO`, as docker adds them to the exposed ports.
fn expose(values: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for v in values {
        let (ports, proto) = v.split_once('/').unwrap_or((v, "tcp"));
        let bad = || {
            anyhow::anyhow!(
                "invalid --expose {v:?}: use PORT[-PORT][/tcp|udp|sctp], e.g. 80 or 53/udp"
            )
        };
        if !["tcp", "udp", "sctp"].contains(&proto) {
            return Err(bad());
        }
        let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad);
        let (first, last) = match ports.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => (port(ports)?, port(ports)?),
        };
        if first > last {
            return Err(bad());
        }
        out.extend((first..=last).map(|p| format!("{p}/{proto}")));
    }
    Ok(out)
}

/// A host or domain name: labels of letters, digits and '-', dot separated.
fn dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
        })
}

fn domainname(d: &str) -> Result<String> {
    if !dns_name(d) {
        bail!("invalid --domainname {d:?}: use a domain name such as example.com");
    }
    Ok(d.into())
}

fn alias(a: &str) -> Result<String> {
    if !dns_name(a) {
        bail!("invalid --network-alias {a:?}: use a host name (letters, digits, '-' and '.')");
    }
    Ok(a.into())
}

fn annotation(a: &str) -> Result<(String, String)> {
    match a.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.into(), v.into())),
        _ => bail!("invalid --annotation {a:?}: use KEY=VALUE"),
    }
}

/// `--label-file`: `KEY=VALUE` lines (a `KEY` alone is an empty value); `#`
/// comments and blank lines skipped.
pub fn label_file(path: &str) -> Result<Vec<(String, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading label file {path}"))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line.split_once('=').unwrap_or((line, ""));
        if k.is_empty() || k.contains(char::is_whitespace) {
            bail!(
                "label file {path} line {}: {line:?} is not KEY=VALUE",
                n + 1
            );
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// `--cidfile`: made before the container is (so a second `run` with the same file
/// fails before it creates anything, as docker's does), never through a link or
/// over an existing file; the id is written once the container exists.
pub struct CidFile {
    path: String,
    file: std::fs::File,
    written: bool,
}

impl CidFile {
    pub fn create(path: &str) -> Result<CidFile> {
        use std::os::unix::fs::OpenOptionsExt;
        // O_EXCL refuses any existing name, a symlink (even a dangling one)
        // included, so the id is never written where a link points.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                    "container ID file found, make sure the other container isn't running or delete {path}"
                ),
                _ => anyhow::anyhow!("--cidfile {path}: {e}"),
            })?;
        Ok(CidFile {
            path: path.into(),
            file,
            written: false,
        })
    }

    pub fn write(mut self, id: &str) -> Result<()> {
        use std::io::Write;
        self.file
            .write_all(id.as_bytes())
            .with_context(|| format!("writing the container ID to {}", self.path))?;
        self.written = true;
        Ok(())
    }
}

impl Drop for CidFile {
    /// A file whose container was never created goes again.
    fn drop(&mut self) {
        if !self.written {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

pub mod inspect;
pub mod logs;
#[cfg(test)]
mod tests;
