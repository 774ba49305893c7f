//! IPv4 subnets and address allocation arithmetic (pure).

use std::net::Ipv4Addr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IpamError {
    #[error("invalid subnet {0:?}: use CIDR notation such as 10.90.0.0/24 (prefix 8-30)")]
    BadSubnet(String),
    #[error("subnet {0} has no free addresses left")]
    Exhausted(String),
    #[error("address {ip} is not inside subnet {subnet}")]
    Outside { ip: String, subnet: String },
}

impl Subnet {
    pub fn parse(s: &str) -> Result<Self, IpamError> {
        let bad = || IpamError::BadSubnet(s.into());
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&prefix) {
            return Err(bad());
        }
        let mask = Self::mask_of(prefix);
        Ok(Subnet {
            network: Ipv4Addr::from(u32::from(addr) & mask),
            prefix,
        })
    }

    fn mask_of(prefix: u8) -> u32 {
        u32::MAX << (32 - prefix as u32)
    }

    pub fn mask(&self) -> u32 {
        Self::mask_of(self.prefix)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        let shorter = if self.prefix <= other.prefix {
            self.mask()
        } else {
            other.mask()
        };
        u32::from(self.network) & shorter == u32::from(other.network) & shorter
    }

    /// The first usable address: docker's gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !self.mask())
    }

    /// The lowest address that is not the network, gateway, broadcast or in `used`.
    pub fn first_free(&self, gateway: Ipv4Addr, used: &[Ipv4Addr]) -> Result<Ipv4Addr, IpamError> {
        let start = u32::from(self.network) + 1;
        let end = u32::from(self.broadcast());
        // A set, not a scan of `used` per candidate: with a thousand containers on
        // a network the scan made each start compare a million addresses.
        let used: std::collections::HashSet<Ipv4Addr> = used.iter().copied().collect();
        (start..end)
            .map(Ipv4Addr::from)
            .find(|ip| *ip != gateway && !used.contains(ip))
            .ok_or_else(|| IpamError::Exhausted(self.to_string()))
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Subnets of the host's routes and addresses (`ip -4 route`), to avoid clashes.
pub fn host_subnets(route_output: &str) -> Vec<Subnet> {
    route_output
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|dst| {
            if dst == "default" {
                return None;
            }
            let with_prefix = if dst.contains('/') {
                dst.to_string()
            } else {
                format!("{dst}/32")
            };
            let (a, p) = with_prefix.split_once('/')?;
            let prefix: u8 = p.parse().ok()?;
            let addr: Ipv4Addr = a.parse().ok()?;
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix as u32)
            };
            Some(Subnet {
                network: Ipv4Addr::from(u32::from(addr) & mask),
                prefix,
            })
        })
        .collect()
}

/// The first of `candidates` that overlaps none of `taken`.
pub fn pick_subnet(
    candidates: impl IntoIterator<Item = Subnet>,
    taken: &[Subnet],
) -> Option<Subnet> {
    candidates
        .into_iter()
        .find(|c| !taken.iter().any(|t| t.overlaps(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_arithmetic() {
        let s = Subnet::parse("10.88.5.7/16").unwrap();
        assert_eq!(s.to_string(), "10.88.0.0/16");
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 88, 0, 1));
        assert_eq!(s.broadcast(), Ipv4Addr::new(10, 88, 255, 255));
        assert!(s.contains(Ipv4Addr::new(10, 88, 200, 1)));
        assert!(!s.contains(Ipv4Addr::new(10, 89, 0, 1)));
        let used = [Ipv4Addr::new(10, 88, 0, 2)];
        assert_eq!(
            s.first_free(s.gateway(), &used).unwrap(),
            Ipv4Addr::new(10, 88, 0, 3)
        );
        assert!(Subnet::parse("10.0.0.0/31").is_err());
        assert!(Subnet::parse("nonsense").is_err());
    }

    #[test]
    fn exhaustion_and_overlap() {
        let s = Subnet::parse("10.1.1.0/30").unwrap();
        let used = [Ipv4Addr::new(10, 1, 1, 2)];
        assert!(s.first_free(s.gateway(), &used).is_err());
        let a = Subnet::parse("10.88.0.0/16").unwrap();
        assert!(a.overlaps(&Subnet::parse("10.88.3.0/24").unwrap()));
        assert!(!a.overlaps(&Subnet::parse("10.89.0.0/24").unwrap()));
    }

    #[test]
    fn avoids_host_routes() {
        let routes = "default via 10.0.2.2 dev eth0\n10.0.2.0/24 dev eth0 proto kernel\n10.88.0.0/16 dev x\n";
        let taken = host_subnets(routes);
        let cands = ["10.88.0.0/16", "10.89.0.0/16"].map(|c| Subnet::parse(c).unwrap());
        assert_eq!(
            pick_subnet(cands, &taken).unwrap().to_string(),
            "10.89.0.0/16"
        );
    }
}
