//! `--sysctl KEY=VALUE`: only the kernel parameters that live in a namespace the
//! container owns, as docker and runc allow them. Anything else (kernel.modprobe,
//! vm.*, fs.* outside mqueue) would change the host for everyone and is refused.

use super::namespaces::NamespaceMode;
use crate::model::NetworkMode;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SysctlError {
    #[error("invalid --sysctl {0:?}: use KEY=VALUE, e.g. net.ipv4.ip_forward=1")]
    Syntax(String),
    #[error("--sysctl {0}: not a namespaced kernel parameter, so setting it would change the host; berth allows only net.* (with the container's own network), kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.* (with its own IPC namespace)")]
    NotNamespaced(String),
    #[error("--sysctl {key}: the container shares the {what} namespace ({mode}), so this would change {whose}; drop the sysctl or give the container its own {what} namespace")]
    SharedNamespace {
        key: String,
        what: &'static str,
        mode: String,
        whose: &'static str,
    },
}

/// The IPC namespace's parameters (runc's list).
const IPC_KEYS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Which namespace a sysctl belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Ipc,
    Net,
}

fn owner(key: &str) -> Option<Owner> {
    if IPC_KEYS.contains(&key) || key.starts_with("fs.mqueue.") {
        Some(Owner::Ipc)
    } else if key.starts_with("net.") {
        Some(Owner::Net)
    } else {
        None
    }
}

/// Splits `KEY=VALUE`; keys may be written with `/` as in /proc/sys.
pub fn parse(spec: &str) -> Result<(String, String), SysctlError> {
    let (k, v) = spec
        .split_once('=')
        .ok_or_else(|| SysctlError::Syntax(spec.into()))?;
    let key = k.trim().replace('/', ".");
    // The runtime writes /proc/sys/<key with dots as slashes>: a component that is
    // empty (`..` after the slashes became dots) or holds anything but a plain name
    // could lead elsewhere in /proc/sys.
    let plain = |c: &str| {
        !c.is_empty()
            && c.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
    };
    if !key.split('.').all(plain) {
        return Err(SysctlError::Syntax(spec.into()));
    }
    owner(&key).ok_or_else(|| SysctlError::NotNamespaced(key.clone()))?;
    Ok((key, v.to_string()))
}

/// Checks a parsed sysctl against the namespaces the container gets: a net.* needs
/// its own network namespace, an IPC one its own IPC namespace.
pub fn check(key: &str, network: &NetworkMode, ipc: &NamespaceMode) -> Result<(), SysctlError> {
    let shared = |what, mode: String, whose| {
        Err(SysctlError::SharedNamespace {
            key: key.into(),
            what,
            mode,
            whose,
        })
    };
    match owner(key) {
        None => Err(SysctlError::NotNamespaced(key.into())),
        Some(Owner::Net) => match network {
            NetworkMode::Host => shared("network", "--network host".into(), "the host"),
            NetworkMode::Container(c) => shared(
                "network",
                format!("--network container:{c}"),
                "that container",
            ),
            _ => Ok(()),
        },
        Some(Owner::Ipc) => match ipc {
            NamespaceMode::Host => shared("IPC", "--ipc host".into(), "the host"),
            NamespaceMode::Container(c) => {
                shared("IPC", format!("--ipc container:{c}"), "that container")
            }
            NamespaceMode::Private => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaced_keys_only() {
        assert_eq!(
            parse("net.ipv4.ip_forward=1").unwrap(),
            ("net.ipv4.ip_forward".into(), "1".into())
        );
        assert_eq!(parse("kernel/shmmax=1024").unwrap().0, "kernel.shmmax");
        assert!(parse("fs.mqueue.msg_max=20").is_ok());
        for host_wide in [
            "kernel.modprobe=/x",
            "vm.overcommit_memory=1",
            "fs.file-max=1",
            "kernel.core_pattern=|x",
        ] {
            assert!(
                matches!(parse(host_wide), Err(SysctlError::NotNamespaced(_))),
                "{host_wide}"
            );
        }
        assert!(matches!(parse("net.ipv4"), Err(SysctlError::Syntax(_))));
        assert!(matches!(parse("net..x=1"), Err(SysctlError::Syntax(_))));
        // A key that climbs out of net/ in /proc/sys.
        assert!(matches!(
            parse("net.ipv4/../../kernel/modprobe=/tmp/x"),
            Err(SysctlError::Syntax(_))
        ));
        assert!(matches!(
            parse("net.ipv4.ip forward=1"),
            Err(SysctlError::Syntax(_))
        ));
    }

    #[test]
    fn shared_namespaces_refuse_their_sysctls() {
        let own = NetworkMode::Network("bridge".into());
        assert!(check("net.ipv4.ip_forward", &own, &NamespaceMode::Private).is_ok());
        let e = check(
            "net.ipv4.ip_forward",
            &NetworkMode::Host,
            &NamespaceMode::Private,
        );
        assert!(e.unwrap_err().to_string().contains("change the host"));
        assert!(check("kernel.shmmax", &NetworkMode::Host, &NamespaceMode::Private).is_ok());
        assert!(check("kernel.shmmax", &own, &NamespaceMode::Host).is_err());
        assert!(check("kernel.sem", &own, &NamespaceMode::Container("x".into())).is_err());
    }
}
