//! /etc/hosts and /etc/resolv.conf for containers on a network (pure).

use std::net::Ipv4Addr;

const LOCALHOST: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// `own` first (ip, names), then peers on the same network, then `--add-host` entries.
pub fn hosts(
    own: Option<(Ipv4Addr, &[String])>,
    peers: &[(Ipv4Addr, String)],
    extra: &[(String, String)],
) -> String {
    let mut out = String::from(LOCALHOST);
    if let Some((ip, names)) = own {
        out.push_str(&format!("{ip}\t{}\n", names.join(" ")));
    }
    for (ip, name) in peers {
        out.push_str(&format!("{ip}\t{name}\n"));
    }
    for (name, ip) in extra {
        out.push_str(&format!("{ip}\t{name}\n"));
    }
    out
}

/// What `--dns`, `--dns-search` and `--dns-option` asked for (checked by `dns`);
/// each non-empty list replaces the host's.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResolvOptions<'a> {
    pub servers: &'a [String],
    /// `.` alone means no search domains at all.
    pub search: &'a [String],
    pub options: &'a [String],
}

/// The host's resolv.conf with loopback resolvers (unreachable from a container's
/// own network namespace) replaced: by systemd-resolved's upstream list when there
/// is one, else by docker's fallback. The user's lists replace the host's.
pub fn resolv_conf(
    host: &str,
    resolved_upstream: Option<&str>,
    user: ResolvOptions,
    own_netns: bool,
) -> String {
    let ResolvOptions {
        servers: dns,
        search,
        options,
    } = user;
    let servers = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix("nameserver"))
            .map(|s| s.trim().to_string())
            .filter(|s| !own_netns || !(s.starts_with("127.") || s == "::1"))
            .collect()
    };
    let mut nameservers = if dns.is_empty() {
        servers(host)
    } else {
        dns.to_vec()
    };
    if nameservers.is_empty() {
        nameservers = resolved_upstream.map(servers).unwrap_or_default();
    }
    if nameservers.is_empty() {
        nameservers = vec!["8.8.8.8".into(), "8.8.4.4".into()];
    }
    let mut out = String::new();
    let host_search: Vec<String> = host
        .lines()
        .filter_map(|l| l.trim().strip_prefix("search"))
        .flat_map(|s| s.split_whitespace().map(String::from).collect::<Vec<_>>())
        .collect();
    let search = if search.is_empty() {
        host_search
    } else {
        search.iter().filter(|s| *s != ".").cloned().collect()
    };
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    for n in nameservers {
        out.push_str(&format!("nameserver {n}\n"));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
        return out;
    }
    for l in host.lines().filter(|l| l.trim().starts_with("options")) {
        out.push_str(l.trim());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lists_self_peers_and_extras() {
        let names = vec!["web".to_string(), "abc123".to_string()];
        let h = hosts(
            Some((Ipv4Addr::new(10, 88, 0, 2), &names)),
            &[(Ipv4Addr::new(10, 88, 0, 3), "db".into())],
            &[("gw".into(), "10.0.0.1".into())],
        );
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(
            h.contains("10.88.0.2\tweb abc123\n")
                && h.contains("10.88.0.3\tdb\n")
                && h.contains("10.0.0.1\tgw\n")
        );
    }

    #[test]
    fn loopback_resolvers_are_replaced() {
        let host = "nameserver 127.0.0.53\noptions edns0\nsearch corp\n";
        let none = ResolvOptions::default();
        assert_eq!(
            resolv_conf(host, Some("nameserver 192.0.2.1\n"), none, true),
            "search corp\nnameserver 192.0.2.1\noptions edns0\n"
        );
        assert!(resolv_conf(host, None, none, true).contains("nameserver 8.8.8.8"));
        assert!(
            resolv_conf(host, None, none, false).contains("nameserver 127.0.0.53"),
            "host network keeps them"
        );
        let user = ResolvOptions {
            servers: &["1.1.1.1".into()],
            search: &["x.y".into()],
            options: &[],
        };
        assert_eq!(
            resolv_conf(host, None, user, true),
            "search x.y\nnameserver 1.1.1.1\noptions edns0\n"
        );
    }

    #[test]
    fn user_options_replace_the_hosts_and_dot_clears_search() {
        let host = "nameserver 192.0.2.1\noptions edns0\nsearch corp\n";
        let user = ResolvOptions {
            servers: &[],
            search: &[".".into()],
            options: &["ndots:2".into(), "timeout:1".into()],
        };
        assert_eq!(
            resolv_conf(host, None, user, true),
            "nameserver 192.0.2.1\noptions ndots:2 timeout:1\n"
        );
    }
}
