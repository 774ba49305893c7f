//! `--add-host`, `--dns`, `--dns-search` and `--dns-option` values, checked when
//! a container is created (pure). Each ends up on a line of the container's
//! /etc/hosts or /etc/resolv.conf, so a space or newline inside one would add
//! entries nobody asked for; docker's CLI checks the same values
//! (`opts.ValidateExtraHost`, `ValidateIPAddress`, `ValidateDNSSearch`).

use std::net::IpAddr;

/// `--add-host NAME:host-gateway`: the container's gateway, i.e. the host as seen
/// from the container's bridge network.
pub const HOST_GATEWAY: &str = "host-gateway";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DnsError {
    #[error("invalid --add-host {0:?}: use NAME:IP or NAME=IP (IPv6 as NAME:::1 or NAME=[::1]), or NAME:host-gateway")]
    AddHostFormat(String),
    #[error("invalid --add-host {value:?}: {name:?} is not a host name (letters, digits, '-', '_' and '.', labels of 1 to 63 characters)")]
    HostName { value: String, name: String },
    #[error("invalid --add-host {value:?}: {addr:?} is not an IP address")]
    HostAddress { value: String, addr: String },
    #[error("--add-host {0:?}: host-gateway is the container's gateway on its bridge network, and this container has none; use --network bridge or a user network, or give an address")]
    HostGatewayWithoutBridge(String),
    #[error("invalid --dns {0:?}: give a name server's IP address, like --dns 192.0.2.53")]
    Server(String),
    #[error(
        "invalid --dns-search {0:?}: give a domain like example.com (or . for no search domains)"
    )]
    Search(String),
    #[error("invalid --dns-option {0:?}: give one resolv.conf option like ndots:2 or edns0 (letters, digits, '.', '_', ':' and '-')")]
    Option(String),
}

/// `NAME:IP`, `NAME=IP`, `NAME:[IPv6]` or `NAME:host-gateway` as (name, address);
/// the address as given (brackets dropped), or [`HOST_GATEWAY`].
pub fn parse_add_host(value: &str) -> Result<(String, String), DnsError> {
    // As docker: '=' first, else the first ':' (an IPv6 address holds more).
    let (name, addr) = value
        .split_once('=')
        .or_else(|| value.split_once(':'))
        .ok_or_else(|| DnsError::AddHostFormat(value.into()))?;
    if name.is_empty() || name.contains(':') {
        return Err(DnsError::AddHostFormat(value.into()));
    }
    if !is_host_name(name) {
        return Err(DnsError::HostName {
            value: value.into(),
            name: name.into(),
        });
    }
    if addr == HOST_GATEWAY {
        return Ok((name.into(), addr.into()));
    }
    let bare = addr
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(addr);
    if bare.parse::<IpAddr>().is_err() {
        return Err(DnsError::HostAddress {
            value: value.into(),
            addr: addr.into(),
        });
    }
    Ok((name.into(), bare.into()))
}

/// A name /etc/hosts can hold: dot-separated labels of letters, digits, '-' and
/// '_' (common in internal names, and harmless here), 253 characters at most.
fn is_host_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// `--dns`: an IP address, in its usual spelling.
pub fn parse_server(value: &str) -> Result<String, DnsError> {
    value
        .trim()
        .parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| DnsError::Server(value.into()))
}

/// `--dns-search`: a domain (one trailing dot allowed), or "." for none.
pub fn parse_search(value: &str) -> Result<String, DnsError> {
    if value == "." {
        return Ok(value.into());
    }
    let domain = value.strip_suffix('.').unwrap_or(value);
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if value.len() > 255 || !domain.split('.').all(label_ok) {
        return Err(DnsError::Search(value.into()));
    }
    Ok(value.into())
}

/// `--dns-option`: one resolv.conf option such as `ndots:2`, `timeout:1` or
/// `edns0`. Only the characters such options use: the resolver reads the
/// whole `options` line, so anything else could only smuggle in more.
pub fn parse_option(value: &str) -> Result<String, DnsError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c));
    if !ok {
        return Err(DnsError::Option(value.into()));
    }
    Ok(value.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, addr: &str) -> Result<(String, String), DnsError> {
        Ok((name.into(), addr.into()))
    }

    #[test]
    fn add_host_in_dockers_forms() {
        assert_eq!(parse_add_host("db:10.0.0.5"), host("db", "10.0.0.5"));
        assert_eq!(parse_add_host("db=10.0.0.5"), host("db", "10.0.0.5"));
        assert_eq!(parse_add_host("v6:::1"), host("v6", "::1"));
        assert_eq!(parse_add_host("v6=::1"), host("v6", "::1"));
        assert_eq!(
            parse_add_host("v6:[2001:db8::1]"),
            host("v6", "2001:db8::1")
        );
        assert_eq!(
            parse_add_host("my_host.internal:192.0.2.1"),
            host("my_host.internal", "192.0.2.1")
        );
        assert_eq!(
            parse_add_host("host.docker.internal:host-gateway"),
            host("host.docker.internal", HOST_GATEWAY)
        );
    }

    #[test]
    fn add_host_refuses_what_would_break_etc_hosts() {
        for bad in ["db", ":10.0.0.5", "=10.0.0.5", "db:", "a:b:c"] {
            assert!(
                matches!(
                    parse_add_host(bad),
                    Err(DnsError::AddHostFormat(_) | DnsError::HostAddress { .. })
                ),
                "{bad}"
            );
        }
        for bad in [
            "two names:10.0.0.5",
            "evil\n10.6.6.6 bank:10.0.0.5",
            "a..b:10.0.0.5",
            "#c:10.0.0.5",
        ] {
            let err = parse_add_host(bad).unwrap_err();
            assert!(matches!(err, DnsError::HostName { .. }), "{bad}: {err}");
        }
        let err = parse_add_host("db:10.0.0.5 other").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid --add-host \"db:10.0.0.5 other\": \"10.0.0.5 other\" is not an IP address"
        );
        assert!(parse_add_host("db:999.1.1.1").is_err());
        assert!(parse_add_host(&format!("{}:10.0.0.5", "a".repeat(64))).is_err());
    }

    #[test]
    fn dns_servers_are_addresses() {
        assert_eq!(parse_server("1.1.1.1").as_deref(), Ok("1.1.1.1"));
        assert_eq!(
            parse_server(" 2001:db8::53 ").as_deref(),
            Ok("2001:db8::53")
        );
        for bad in ["", "dns.example", "1.1.1.1\nnameserver 6.6.6.6", "1.1.1"] {
            assert_eq!(
                parse_server(bad),
                Err(DnsError::Server(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn search_domains_and_options() {
        for good in ["example.com", "corp", "a-b.example.", ".", "x1.y2"] {
            assert_eq!(parse_search(good).as_deref(), Ok(good));
        }
        for bad in [
            "",
            "-a.com",
            "a..com",
            "a com",
            "a.com\nnameserver 6.6.6.6",
            "a_b.com",
        ] {
            assert_eq!(
                parse_search(bad),
                Err(DnsError::Search(bad.into())),
                "{bad}"
            );
        }
        assert!(parse_search(&"a.".repeat(130)).is_err(), "over 255");
        for good in [
            "ndots:2",
            "edns0",
            "timeout:1",
            "single-request-reopen",
            "use-vc",
        ] {
            assert_eq!(parse_option(good).as_deref(), Ok(good));
        }
        for bad in ["", "ndots: 2", "edns0\nnameserver 6.6.6.6", "a#b"] {
            assert_eq!(
                parse_option(bad),
                Err(DnsError::Option(bad.into())),
                "{bad}"
            );
        }
    }
}
