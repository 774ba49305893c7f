//! Docker's security defaults: 14 capabilities, masked and read-only /proc paths, the
//! device allow-list; `--privileged` lifts them as docker does. The seccomp filter
//! is in `seccomp.rs`.

use serde_json::{json, Value};

/// Docker's default capability set (CapEff a80425fb).
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability the kernel knows (0..=40), for `--privileged` and `--cap-add ALL`.
pub const ALL_CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecurityError {
    #[error("unknown capability {0:?}: use a name like NET_ADMIN or CAP_NET_ADMIN, or ALL")]
    UnknownCapability(String),
    #[error("capability {0} is not in this host's bounding set, so no container can have it here; drop the --cap-add")]
    UnavailableCapability(String),
}

/// The capabilities berth itself may hand out (its bounding set). On this kind of
/// host CAP_SYS_RESOURCE is missing, and asking the kernel for it fails the start.
pub fn host_bounding_set() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX)
}

fn available(host_mask: u64) -> Vec<String> {
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(bit, _)| host_mask & (1u64 << bit) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// Normalises `net_admin`/`CAP_NET_ADMIN` to `CAP_NET_ADMIN`.
pub fn normalise_cap(name: &str) -> Result<String, SecurityError> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if ALL_CAPS.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(SecurityError::UnknownCapability(name.into()))
    }
}

/// The effective capability list: defaults (or all when privileged), then drops, then
/// adds — docker applies `--cap-add` after `--cap-drop`.
pub fn capabilities(
    privileged: bool,
    add: &[String],
    drop: &[String],
    host_mask: u64,
) -> Result<Vec<String>, SecurityError> {
    // Privileged gets everything the host has, as docker does.
    if privileged {
        return Ok(available(host_mask));
    }
    let mut caps: Vec<String> = DEFAULT_CAPS.iter().map(|s| s.to_string()).collect();
    for d in drop {
        match normalise_cap(d)?.as_str() {
            "ALL" => caps.clear(),
            c => caps.retain(|x| x != c),
        }
    }
    for a in add {
        match normalise_cap(a)?.as_str() {
            "ALL" => caps = available(host_mask),
            c if !available(host_mask).iter().any(|x| x == c) => {
                return Err(SecurityError::UnavailableCapability(c.into()))
            }
            c if !caps.iter().any(|x| x == c) => caps.push(c.to_string()),
            _ => {}
        }
    }
    Ok(caps)
}

pub fn capabilities_json(caps: &[String]) -> Value {
    json!({
        "bounding": caps, "effective": caps, "permitted": caps,
    })
}

/// Docker's masked paths (moby `oci/defaults.go`): files are covered by /dev/null,
/// directories by an empty read-only tmpfs.
pub const MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Docker's device cgroup rules: deny all, allow mknod of anything and use of the
/// standard character devices and ptys.
pub fn device_rules(privileged: bool) -> Value {
    if privileged {
        return json!([{ "allow": true, "access": "rwm" }]);
    }
    // An absent minor is the wildcard (`c 136:* rwm`).
    let c = |major: i64, minor: Option<i64>| match minor {
        Some(minor) => {
            json!({ "allow": true, "type": "c", "major": major, "minor": minor, "access": "rwm" })
        }
        None => json!({ "allow": true, "type": "c", "major": major, "access": "rwm" }),
    };
    json!([
        { "allow": false, "access": "rwm" },
        { "allow": true, "type": "c", "access": "m" },
        { "allow": true, "type": "b", "access": "m" },
        c(1, Some(3)), c(1, Some(5)), c(1, Some(7)), c(1, Some(8)), c(1, Some(9)),
        c(5, Some(0)), c(5, Some(1)), c(5, Some(2)), c(136, None), c(10, Some(200)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(caps: &[String]) -> u64 {
        caps.iter()
            .map(|c| 1u64 << ALL_CAPS.iter().position(|x| x == c).unwrap())
            .sum()
    }

    #[test]
    fn default_set_is_dockers() {
        let caps = capabilities(false, &[], &[], u64::MAX).unwrap();
        assert_eq!(format!("{:016x}", mask(&caps)), "00000000a80425fb");
    }

    #[test]
    fn add_after_drop_and_all() {
        let caps = capabilities(false, &["net_admin".into()], &["ALL".into()], u64::MAX).unwrap();
        assert_eq!(caps, vec!["CAP_NET_ADMIN"]);
        let caps =
            capabilities(false, &[], &["chown".into(), "CAP_KILL".into()], u64::MAX).unwrap();
        assert!(!caps.contains(&"CAP_CHOWN".into()) && !caps.contains(&"CAP_KILL".into()));
        assert_eq!(capabilities(true, &[], &[], u64::MAX).unwrap().len(), 41);
        assert!(capabilities(false, &["bogus".into()], &[], u64::MAX).is_err());
        // A host without CAP_SYS_RESOURCE (bit 24): privileged leaves it out, adding it fails.
        let mask = !(1u64 << 24);
        assert!(!capabilities(true, &[], &[], mask)
            .unwrap()
            .contains(&"CAP_SYS_RESOURCE".into()));
        assert!(matches!(
            capabilities(false, &["SYS_RESOURCE".into()], &[], mask),
            Err(SecurityError::UnavailableCapability(_))
        ));
    }
}
