//! `-p [IP:][HOSTPORT:]CTRPORT[/PROTO]` as docker parses it, ranges included.

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(&self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One published port. `host_port` 0 means "pick a free one" until allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PortError {
    #[error(
        "invalid port specification {spec:?}: {why}; use [IP:][HOSTPORT:]CONTAINERPORT[/tcp|/udp]"
    )]
    Invalid { spec: String, why: String },
}

fn range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let p = |x: &str| {
        x.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("{x:?} is not a port (1-65535)"))
    };
    let (a, b) = (p(a)?, p(b)?);
    if a > b {
        return Err(format!("range {s:?} runs backwards"));
    }
    Ok((a, b))
}

/// Two mappings for unit tests: TCP 8080→80 on every address, UDP
/// 127.0.0.1:5353→53.
#[cfg(test)]
pub(crate) fn sample_ports() -> [PortMapping; 2] {
    [
        PortMapping {
            host_ip: None,
            host_port: 8080,
            container_port: 80,
            proto: Proto::Tcp,
        },
        PortMapping {
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_port: 5353,
            container_port: 53,
            proto: Proto::Udp,
        },
    ]
}

/// Parses one `-p` value into one mapping per port of the range.
pub fn parse_publish(spec: &str) -> Result<Vec<PortMapping>, PortError> {
    let invalid = |why: String| PortError::Invalid {
        spec: spec.into(),
        why,
    };
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, "tcp")) => (r, Proto::Tcp),
        Some((r, "udp")) => (r, Proto::Udp),
        Some((_, p)) => return Err(invalid(format!("protocol {p:?} is not tcp or udp"))),
        None => (spec, Proto::Tcp),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, ctr) = match parts.as_slice() {
        [c] => (None, "", *c),
        [h, c] => (None, *h, *c),
        [i, h, c] => (Some(*i), *h, *c),
        _ => return Err(invalid("too many ':'".into())),
    };
    let host_ip = match ip {
        None | Some("") | Some("0.0.0.0") => None,
        Some(i) => Some(
            i.parse::<Ipv4Addr>()
                .map_err(|_| invalid(format!("{i:?} is not an IPv4 address")))?,
        ),
    };
    let (c0, c1) = range(ctr).map_err(invalid)?;
    let (h0, h1) = if host.is_empty() {
        (0, 0)
    } else {
        range(host).map_err(invalid)?
    };
    if host.is_empty() {
        return Ok((c0..=c1)
            .map(|c| PortMapping {
                host_ip,
                host_port: 0,
                container_port: c,
                proto,
            })
            .collect());
    }
    if h1 - h0 != c1 - c0 {
        return Err(invalid("host and container ranges differ in length".into()));
    }
    Ok((c0..=c1)
        .zip(h0..=h1)
        .map(|(c, h)| PortMapping {
            host_ip,
            host_port: h,
            container_port: c,
            proto,
        })
        .collect())
}

impl std::fmt::Display for PortMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ip = self
            .host_ip
            .map(|i| i.to_string())
            .unwrap_or_else(|| "0.0.0.0".into());
        write!(
            f,
            "{ip}:{}->{}/{}",
            self.host_port,
            self.container_port,
            self.proto.as_str()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(ip: Option<&str>, h: u16, c: u16, proto: Proto) -> PortMapping {
        PortMapping {
            host_ip: ip.map(|i| i.parse().unwrap()),
            host_port: h,
            container_port: c,
            proto,
        }
    }

    #[test]
    fn docker_forms() {
        assert_eq!(
            parse_publish("80").unwrap(),
            vec![m(None, 0, 80, Proto::Tcp)]
        );
        assert_eq!(
            parse_publish("8080:80").unwrap(),
            vec![m(None, 8080, 80, Proto::Tcp)]
        );
        assert_eq!(
            parse_publish("127.0.0.1:8080:80/udp").unwrap(),
            vec![m(Some("127.0.0.1"), 8080, 80, Proto::Udp)]
        );
        assert_eq!(
            parse_publish("127.0.0.1::80").unwrap(),
            vec![m(Some("127.0.0.1"), 0, 80, Proto::Tcp)]
        );
        assert_eq!(
            parse_publish("8000-8001:80-81").unwrap(),
            vec![m(None, 8000, 80, Proto::Tcp), m(None, 8001, 81, Proto::Tcp)]
        );
        assert_eq!(
            m(None, 8080, 80, Proto::Tcp).to_string(),
            "0.0.0.0:8080->80/tcp"
        );
    }

    #[test]
    fn rejects_bad_specs() {
        for bad in [
            "",
            "0",
            "70000",
            "a:80",
            "8000-8002:80-81",
            "80/sctp",
            "1.2.3:80:80",
            "1:2:3:4",
            "90-80",
        ] {
            assert!(parse_publish(bad).is_err(), "{bad}");
        }
    }
}
