//! EXPOSE port specs as buildkit reads them: `[ip:][hostport:]port[-end][/proto]`
//! becomes one `port/proto` per port of the range.

/// A port spec that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("no port specified: {0}<empty>")]
    Empty(String),
    #[error("invalid proto: {0} (use tcp, udp or sctp)")]
    Proto(String),
    #[error("invalid containerPort: {0} (a port 0-65535 or a range like 8000-8010)")]
    Port(String),
    #[error("invalid IP address: {0}")]
    Ip(String),
}

/// Expands the specs into `port/proto` strings.
pub fn exposed(specs: &[String]) -> Result<Vec<String>, PortError> {
    let mut out = Vec::new();
    for spec in specs {
        out.extend(one(spec)?);
    }
    Ok(out)
}

fn one(raw: &str) -> Result<Vec<String>, PortError> {
    let parts: Vec<&str> = raw.split(':').collect();
    let (ip, container) = match parts.as_slice() {
        [c] => ("".to_string(), *c),
        [_, c] => ("".to_string(), *c),
        [rest @ .., _, c] => (rest.join(":"), *c),
        [] => unreachable!("split yields at least one part"),
    };
    let (port, proto) = container.split_once('/').unwrap_or((container, ""));
    if port.is_empty() {
        return Err(PortError::Empty(raw.to_string()));
    }
    let proto = match proto.to_ascii_lowercase().as_str() {
        "" => "tcp".to_string(),
        p @ ("tcp" | "udp" | "sctp") => p.to_string(),
        other => return Err(PortError::Proto(other.to_string())),
    };
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(PortError::Ip(ip.to_string()));
    }
    let bad = || PortError::Port(port.to_string());
    let (start, end) = match port.split_once('-') {
        None => {
            let p: u16 = port.parse().map_err(|_| bad())?;
            (p, p)
        }
        Some((a, b)) => {
            let (a, b): (u16, u16) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
            if b < a {
                return Err(bad());
            }
            (a, b)
        }
    };
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn specs_expand() {
        assert_eq!(
            exposed(&s(&["80", "53/UDP", "8000-8002/tcp", "127.0.0.1:9:90"])).unwrap(),
            s(&["80/tcp", "53/udp", "8000/tcp", "8001/tcp", "8002/tcp", "90/tcp"])
        );
        assert!(matches!(exposed(&s(&["80/xyz"])), Err(PortError::Proto(_))));
        assert!(matches!(exposed(&s(&["abc"])), Err(PortError::Port(_))));
        assert!(matches!(exposed(&s(&["/tcp"])), Err(PortError::Empty(_))));
        assert!(matches!(exposed(&s(&["9-1"])), Err(PortError::Port(_))));
    }
}
