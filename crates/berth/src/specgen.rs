//! docker's flag strings → the engine's typed `ContainerConfig`, in one place (podman's
//! `specgenutil` is the model). Sizes, cpus, ulimits, env files, networks, ports,
//! volumes, tmpfs and labels are parsed here once; the engine only ever sees typed
//! values. Resolver values (`--dns*`, `--add-host`) stay strings: create turns them
//! into resolv.conf and hosts lines, and specgen runs create's check early (before a
//! pull). Every error says what was wrong and what to write instead.

use crate::args::CreateArgs;
use anyhow::{bail, Context, Result};
use berth_engine::create::{ContainerConfig, CreateError, SystemdMode};
use berth_engine::model::{BindMount, NetworkMode, Resources, TmpfsMount, Ulimit};
use berth_engine::oci::{self, mounts};

/// What `--volumes-from` and `--mount type=volume` add to a config.
type VolumeFlags = (
    Vec<berth_engine::volumes::VolumesFrom>,
    Vec<(String, berth_engine::volumes::VolumeRequest)>,
);

/// `--mount` and `--volumes-from`, added to the `-v` binds and `--tmpfs` mounts;
/// two mounts at one path are refused, as docker refuses them. The built-in runtime
/// (libcontainer 0.7) binds with `open_tree` and never applies a propagation type,
/// so a shared or slave bind is refused there rather than silently made private.
fn mount_flags(
    m: &crate::args::MountFlags,
    builtin_runtime: bool,
    binds: &mut Vec<BindMount>,
    tmpfs: &mut Vec<TmpfsMount>,
) -> Result<VolumeFlags> {
    use berth_engine::oci::mount_flag::{parse_mount, MountFlag};
    let mut requests = Vec::new();
    for arg in &m.mount {
        match parse_mount(arg).map_err(anyhow::Error::msg)? {
            MountFlag::Bind(b) => {
                if !std::path::Path::new(&b.source).exists() {
                    bail!("invalid --mount {arg:?}: bind source path {} does not exist on the host; create it first", b.source);
                }
                binds.push(b);
            }
            MountFlag::Volume(b, req) => {
                if !b.anonymous && req != Default::default() {
                    requests.push((b.source.clone(), req));
                }
                binds.push(b);
            }
            MountFlag::Tmpfs(t) => tmpfs.push(t),
        }
    }
    if builtin_runtime {
        if let Some(p) = binds
            .iter()
            .filter_map(|b| b.propagation.as_deref())
            .find(|p| !["private", "rprivate"].contains(p))
        {
            bail!("bind propagation {p} needs an OCI runtime binary (--runtime runc): berth's built-in runtime makes every bind private");
        }
    }
    let mut seen = std::collections::HashSet::new();
    let dests = binds
        .iter()
        .map(|b| &b.destination)
        .chain(tmpfs.iter().map(|t| &t.destination));
    for d in dests {
        if !seen.insert(d.trim_end_matches('/')) {
            bail!("duplicate mount point: {d} is mounted twice (-v, --mount, --tmpfs); keep one");
        }
    }
    let from = m
        .volumes_from
        .iter()
        .map(|v| v.parse().map_err(anyhow::Error::msg))
        .collect::<Result<_>>()?;
    Ok((from, requests))
}

/// The typed config for `create`/`run`; `image`/`command` split off by the caller.
pub fn container_config(
    a: &CreateArgs,
    image: &str,
    command: &[String],
) -> Result<ContainerConfig> {
    let security = crate::security_opt::parse(&a.security_opt)?;
    let env = env_entries(&a.env, &a.env_file)?;
    let network = network_config(a)?;
    let systemd = a.systemd.as_deref().map(systemd_mode).transpose()?;
    if let Some(s) = &a.stop_signal {
        berth_runtime::signal::parse_signal(s)?;
    }
    let mut binds = a
        .volume
        .iter()
        .map(|v| mounts::parse_volume(v).map_err(anyhow::Error::msg))
        .collect::<Result<_>>()?;
    let mut tmpfs = a
        .tmpfs
        .iter()
        .map(|t| mounts::parse_tmpfs(t).map_err(anyhow::Error::msg))
        .collect::<Result<_>>()?;
    let (volumes_from, volume_requests) =
        mount_flags(&a.mounts, a.runtime.is_none(), &mut binds, &mut tmpfs)?;
    let config = ContainerConfig {
        image: image.to_string(),
        name: a.name.clone(),
        command: command.to_vec(),
        entrypoint: a.entrypoint.as_ref().map(|e| match e.is_empty() {
            true => vec![],
            false => vec![e.clone()],
        }),
        hostname: a.hostname.clone(),
        env,
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        tty: a.tty,
        open_stdin: a.interactive,
        auto_remove: a.rm,
        binds,
        tmpfs,
        read_only: a.read_only,
        privileged: a.privileged,
        cap_add: normalised_caps(&a.cap_add)?,
        cap_drop: normalised_caps(&a.cap_drop)?,
        no_new_privileges: security.no_new_privileges,
        seccomp: security.seccomp,
        stop_signal: a.stop_signal.clone(),
        stop_timeout: a.stop_timeout,
        ulimits: a
            .ulimit
            .iter()
            .map(|u| parse_ulimit(u))
            .collect::<Result<_>>()?,
        resources: crate::runflags::limit_update(&a.runflags.limits)?.merged(&Resources {
            memory: a.memory.as_deref().map(parse_memory).transpose()?,
            nano_cpus: a.cpus.as_deref().map(parse_cpus).transpose()?,
            pids_limit: a.pids_limit.filter(|p| *p > 0),
            ..Default::default()
        }),
        labels: labels(a)?,
        runtime: a.runtime.clone(),
        systemd: systemd.unwrap_or_default(),
        volumes_from,
        volume_requests,
        host_config: crate::runflags::host_config(&a.runflags)?,
        restart: a
            .restart
            .restart
            .as_deref()
            .map(str::parse)
            .transpose()?
            .unwrap_or_default(),
        init: a.restart.init,
        init_path: a.restart.init_path.clone(),
        healthcheck: healthcheck(&a.restart)?,
        ..network
    };
    check_aliases(&config)?;
    // Refused now, before an image is pulled for a container that cannot be made.
    berth_engine::create::check_network_values(&config)?;
    Ok(config)
}

/// `--health-*` and `--no-healthcheck`; durations in Go's syntax, as docker's.
fn healthcheck(a: &crate::args::RestartArgs) -> Result<Option<berth_engine::health::HealthConfig>> {
    let duration =
        |flag: &'static str, v: &Option<String>| -> Result<(&'static str, Option<i64>)> {
            let parsed = v
                .as_deref()
                .map(|t| {
                    berth_dockerfile::instructions::parse_go_duration(t).map_err(|why| {
                        anyhow::anyhow!(
                            "invalid {flag} {t:?}: {why}; write it like 30s, 1m30s or 500ms"
                        )
                    })
                })
                .transpose()?;
            Ok((flag, parsed))
        };
    Ok(berth_engine::health::from_flags(
        a.no_healthcheck,
        a.health_cmd.as_deref(),
        [
            duration("--health-interval", &a.health_interval)?,
            duration("--health-timeout", &a.health_timeout)?,
            duration("--health-start-period", &a.health_start_period)?,
            duration("--health-start-interval", &a.health_start_interval)?,
        ],
        a.health_retries,
    )?)
}

/// The network flags: `--network`, `-p`, `-P`, `--ip`, `--mac-address`, `--dns*`,
/// `--add-host`; the rest of the config left at its defaults.
fn network_config(a: &CreateArgs) -> Result<ContainerConfig> {
    let mut publish = Vec::new();
    for p in &a.publish {
        publish.extend(berth_net::parse_publish(p)?);
    }
    let ip =
        a.ip.as_deref()
            .map(|i| {
                i.parse()
                    .map_err(|_| anyhow::anyhow!("invalid --ip {i:?}: give an IPv4 address"))
            })
            .transpose()?;
    Ok(ContainerConfig {
        network: a.network.as_deref().map(network_mode).transpose()?,
        publish,
        publish_all: a.publish_all,
        ip,
        mac: a.mac_address.clone(),
        // Kept as given: create checks the MAC and parses these into resolv.conf
        // and hosts lines (`check_network_values` runs those checks early).
        dns: a.dns.clone(),
        dns_search: a.dns_search.clone(),
        dns_options: a.dns_option.clone(),
        add_hosts: a.add_host.clone(),
        ..Default::default()
    })
}

/// `-e` and `--env-file` entries as `KEY=VALUE`, env files first; `KEY` alone takes
/// the caller's value (and is dropped when the caller has none), as docker does.
pub fn env_entries(env: &[String], env_files: &[String]) -> Result<Vec<String>> {
    let lookup = |k: &str| std::env::var(k).ok();
    let mut out = Vec::new();
    for f in env_files {
        let text = std::fs::read_to_string(f).with_context(|| format!("reading env file {f}"))?;
        out.extend(parse_env_file(&text, lookup)?);
    }
    for e in env {
        if e.contains('=') {
            out.push(e.clone());
        } else if let Some(v) = lookup(e) {
            out.push(format!("{e}={v}"));
        }
    }
    Ok(out)
}

/// Parses an env file: `KEY=VALUE` lines, `KEY` alone takes the caller's value,
/// `#` comments and blank lines are skipped.
pub fn parse_env_file(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((k, _)) if k.is_empty() || k.contains(char::is_whitespace) => {
                bail!("env file line {}: {line:?} is not KEY=VALUE", n + 1)
            }
            Some(_) => out.push(line.to_string()),
            None => {
                if let Some(v) = lookup(line.trim()) {
                    out.push(format!("{}={v}", line.trim()));
                }
            }
        }
    }
    Ok(out)
}

/// `--network`: bridge (default), none, host, container:NAME, or a user network.
pub fn network_mode(s: &str) -> Result<NetworkMode> {
    Ok(match s {
        "none" => NetworkMode::None,
        "host" => NetworkMode::Host,
        "bridge" | "default" => NetworkMode::Network(berth_net::DEFAULT_NETWORK.into()),
        other => match other.strip_prefix("container:") {
            Some("") => bail!("--network container: needs a container name"),
            Some(c) => NetworkMode::Container(c.to_string()),
            None => NetworkMode::Network(other.to_string()),
        },
    })
}

/// `--systemd=auto|always|false` (podman spells auto as true).
pub fn systemd_mode(s: &str) -> Result<SystemdMode> {
    Ok(match s {
        "auto" | "true" => SystemdMode::Auto,
        "always" => SystemdMode::Always,
        "false" => SystemdMode::Never,
        other => bail!("invalid --systemd {other:?}: use auto, always or false"),
    })
}

/// `--label-file` entries, then `-l` ones (which win).
fn labels(a: &CreateArgs) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for f in &a.runflags.label_file {
        out.extend(crate::runflags::label_file(f)?);
    }
    for l in &a.label {
        out.push(label(l)?);
    }
    Ok(out)
}

/// `--network-alias` names the container on a user network, as docker's does.
fn check_aliases(c: &ContainerConfig) -> Result<()> {
    let user_network =
        matches!(&c.network, Some(NetworkMode::Network(n)) if n != berth_net::DEFAULT_NETWORK);
    if !c.host_config.network_aliases.is_empty() && !user_network {
        bail!("--network-alias is supported only on user networks (berth network create NAME, then --network NAME), not on --network {}", c.network.as_ref().map(|n| n.name()).unwrap_or_else(|| "bridge".into()));
    }
    Ok(())
}

/// `-l KEY=VALUE` (`KEY` alone is an empty value).
fn label(l: &str) -> Result<(String, String)> {
    let (k, v) = l.split_once('=').unwrap_or((l, ""));
    if k.is_empty() {
        bail!(CreateError::InvalidLabel(l.into()));
    }
    Ok((k.into(), v.into()))
}

fn normalised_caps(caps: &[String]) -> Result<Vec<String>> {
    Ok(caps
        .iter()
        .map(|c| oci::security::normalise_cap(c))
        .collect::<Result<_, _>>()?)
}

/// `512m`, `1g`, `1024`, `2.5GB` → bytes (docker's RAMInBytes).
pub fn parse_memory(s: &str) -> Result<i64> {
    let bad = || {
        anyhow::anyhow!(
            "invalid memory size {s:?}: use a number with an optional unit b, k, m, g (e.g. 512m)"
        )
    };
    let bytes = size_bytes(s).ok_or_else(bad)?;
    let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
    if bytes < 6 * 1024 * 1024 {
        bail!("memory limit {s:?} is too small: the minimum is 6m");
    }
    Ok(bytes)
}

/// A size in docker's RAMInBytes units (b, k, m, g, t, with or without a trailing
/// `b`/`ib`; powers of 1024; a fraction allowed): `-m`, `--shm-size` and the other
/// size flags.
pub fn size_bytes(s: &str) -> Option<u64> {
    let lower = s.trim().to_ascii_lowercase();
    let end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(end);
    let value: f64 = num.parse().ok()?;
    let mult = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 1u64,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    Some((value * mult as f64) as u64)
}

/// `--cpus 1.5` → nano-CPUs.
pub fn parse_cpus(s: &str) -> Result<i64> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok((v * 1e9) as i64),
        _ => bail!("invalid --cpus {s:?}: give a positive number such as 0.5 or 2"),
    }
}

/// `nofile=1024[:2048]`, `nproc=unlimited`.
pub fn parse_ulimit(s: &str) -> Result<Ulimit> {
    let bad = || {
        anyhow::anyhow!("invalid --ulimit {s:?}: expected NAME=SOFT[:HARD], e.g. nofile=1024:2048")
    };
    let (name, values) = s.split_once('=').ok_or_else(bad)?;
    oci::check_ulimit_name(name)?;
    let num = |v: &str| -> Result<u64> {
        match v {
            "unlimited" | "-1" => Ok(u64::MAX),
            _ => v.parse().map_err(|_| bad()),
        }
    };
    let (soft, hard) = match values.split_once(':') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(values)?, num(values)?),
    };
    if soft > hard {
        bail!("invalid --ulimit {s:?}: the soft limit is above the hard limit");
    }
    Ok(Ulimit {
        name: name.into(),
        soft,
        hard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;

    /// `berth create ARGV…` through clap and specgen, as the CLI does it.
    fn config(argv: &[&str]) -> Result<ContainerConfig> {
        let mut full = vec!["berth", "create"];
        full.extend_from_slice(argv);
        let Command::Create(a) = Cli::try_parse_from(full).unwrap().command else {
            panic!("not a create");
        };
        let (image, command) = a.image_and_command.split_first().unwrap();
        container_config(&a, image, command)
    }

    fn err(argv: &[&str]) -> String {
        format!("{:#}", config(argv).unwrap_err())
    }

    #[test]
    fn sizes_and_limits_become_numbers() {
        let c = config(&[
            "-m",
            "512m",
            "--cpus",
            "1.5",
            "--pids-limit",
            "-1",
            "--ulimit",
            "nofile=1024:2048",
            "--ulimit",
            "nproc=unlimited",
            "img",
        ])
        .unwrap();
        assert_eq!(c.resources.memory, Some(512 << 20));
        assert_eq!(c.resources.nano_cpus, Some(1_500_000_000));
        assert_eq!(c.resources.pids_limit, None, "-1 is unlimited");
        assert_eq!((c.ulimits[0].soft, c.ulimits[0].hard), (1024, 2048));
        assert_eq!(c.ulimits[1].hard, u64::MAX);
        assert_eq!(parse_memory("1GB").unwrap(), 1 << 30);
        assert_eq!(parse_memory("2.5g").unwrap(), 5 << 29);
    }

    #[test]
    fn bad_sizes_and_limits_say_what_to_write() {
        assert_eq!(
            err(&["-m", "1k", "img"]),
            "memory limit \"1k\" is too small: the minimum is 6m"
        );
        assert!(err(&["-m", "lots", "img"]).contains("(e.g. 512m)"));
        assert!(err(&["--cpus=-1", "img"]).contains("positive number"));
        assert!(err(&["--ulimit", "nofile=2:1", "img"]).contains("soft limit is above"));
        assert!(err(&["--ulimit", "bogus=1", "img"]).contains("unknown limit"));
        assert!(err(&["--ulimit", "nofile", "img"]).contains("NAME=SOFT[:HARD]"));
    }

    #[test]
    fn network_flags_become_typed() {
        let c = config(&[
            "--network",
            "container:web",
            "--add-host",
            "db:10.0.0.5",
            "--dns",
            "1.1.1.1",
            "img",
        ])
        .unwrap();
        assert_eq!(c.network, Some(NetworkMode::Container("web".into())));
        assert_eq!(c.add_hosts, vec!["db:10.0.0.5"]);
        assert_eq!(c.dns, vec!["1.1.1.1"]);
        let c = config(&[
            "-p",
            "127.0.0.1:8080:80/udp",
            "-p",
            "9000-9001:90-91",
            "--ip",
            "10.88.0.9",
            "--mac-address",
            "02:42:ac:11:00:02",
            "img",
        ])
        .unwrap();
        assert_eq!(c.network, None, "the default bridge");
        assert_eq!(c.publish.len(), 3);
        assert_eq!(c.publish[0].to_string(), "127.0.0.1:8080->80/udp");
        assert_eq!(c.ip, Some("10.88.0.9".parse().unwrap()));
        assert_eq!(
            network_mode("bridge").unwrap(),
            NetworkMode::Network("bridge".into())
        );
        assert_eq!(network_mode("host").unwrap(), NetworkMode::Host);
        assert_eq!(
            network_mode("front").unwrap(),
            NetworkMode::Network("front".into())
        );
    }

    #[test]
    fn bad_network_flags_are_refused() {
        assert_eq!(
            err(&["--network", "container:", "img"]),
            "--network container: needs a container name"
        );
        assert_eq!(
            err(&["--ip", "10.0.0", "img"]),
            "invalid --ip \"10.0.0\": give an IPv4 address"
        );
        assert!(err(&["--mac-address", "02:42", "img"]).contains("six hex pairs"));
        assert!(err(&["--add-host", "db", "img"]).contains("use NAME:IP"));
        assert!(err(&["--add-host", ":10.0.0.1", "img"]).contains("use NAME:IP"));
        assert!(err(&["-p", "70000", "img"]).contains("invalid port specification"));
        assert!(err(&["--dns-option", "nd ots", "img"]).contains("like ndots:2"));
        // Refused here, before --pull fetches an image for a container create refuses.
        assert!(
            err(&["--network", "host", "--add-host", "gw:host-gateway", "img"])
                .contains("use --network bridge")
        );
    }

    #[test]
    fn mounts_caps_labels_and_modes() {
        let c = config(&[
            "-v",
            "/h:/c:ro",
            "-v",
            "/anon",
            "--tmpfs",
            "/run:size=64m",
            "--cap-add",
            "net_admin",
            "--cap-drop",
            "ALL",
            "-l",
            "a=1",
            "-l",
            "flag",
            "--systemd",
            "always",
            "--security-opt",
            "no-new-privileges",
            "--entrypoint",
            "",
            "--stop-signal",
            "RTMIN+3",
            "img",
            "sh",
            "-c",
            "x",
        ])
        .unwrap();
        assert!(c.binds[0].read_only && !c.binds[0].volume);
        assert!(c.binds[1].anonymous && c.binds[1].source.is_empty());
        assert_eq!(c.tmpfs[0].options, vec!["size=64m"]);
        assert_eq!(c.cap_add, vec!["CAP_NET_ADMIN"]);
        assert_eq!(c.cap_drop, vec!["ALL"]);
        assert_eq!(
            c.labels,
            vec![("a".into(), "1".into()), ("flag".into(), "".into())]
        );
        assert_eq!(c.systemd, SystemdMode::Always);
        assert!(c.no_new_privileges);
        assert_eq!(c.entrypoint, Some(vec![]), "--entrypoint '' clears it");
        assert_eq!(c.command, vec!["sh", "-c", "x"]);
        assert_eq!(c.image, "img");
        let c = config(&["--entrypoint", "/bin/top", "--systemd", "true", "img"]).unwrap();
        assert_eq!(c.entrypoint, Some(vec!["/bin/top".to_string()]));
        assert_eq!(c.systemd, SystemdMode::Auto);
    }

    #[test]
    fn bad_mounts_caps_labels_and_modes_are_refused() {
        assert!(err(&["-v", "/h:rel", "img"]).contains("must be absolute"));
        assert!(err(&["--tmpfs", "run", "img"]).contains("must be absolute"));
        assert!(err(&["--cap-add", "bogus", "img"]).contains("bogus"));
        assert_eq!(
            err(&["-l", "=v", "img"]),
            "invalid label \"=v\": expected KEY=VALUE"
        );
        assert_eq!(
            err(&["--systemd", "maybe", "img"]),
            "invalid --systemd \"maybe\": use auto, always or false"
        );
        assert!(err(&["--security-opt", "label=x", "img"]).contains("not supported"));
        assert!(err(&["--stop-signal", "SIGNOPE", "img"]).contains("invalid signal"));
    }

    #[test]
    fn env_files_then_flags() {
        let got = parse_env_file("# c\n\nA=1\nFROMHOST\nMISSING\n", |k| {
            (k == "FROMHOST").then(|| "h".to_string())
        })
        .unwrap();
        assert_eq!(got, vec!["A=1", "FROMHOST=h"]);
        assert!(parse_env_file("=x", |_| None).is_err());
        let dir = std::env::temp_dir().join(format!("berth-specgen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("env");
        std::fs::write(&file, "A=file\nB=2\n").unwrap();
        let c = config(&["--env-file", file.to_str().unwrap(), "-e", "A=flag", "img"]).unwrap();
        assert_eq!(c.env, vec!["A=file", "B=2", "A=flag"]);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err(&["--env-file", "/nonexistent/env", "img"])
            .starts_with("reading env file /nonexistent/env: "));
    }
}
