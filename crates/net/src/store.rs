//! Networks, address allocations and published ports, in the shared SQLite database.

use crate::ipam::Subnet;
use crate::ports::{PortMapping, Proto};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::net::Ipv4Addr;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Network {
    pub name: String,
    pub id: String,
    pub bridge: String,
    #[serde(serialize_with = "as_string")]
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    pub created: String,
}

fn as_string<S: serde::Serializer>(s: &Subnet, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(&s.to_string())
}

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS networks (
    name TEXT PRIMARY KEY, id TEXT NOT NULL, bridge TEXT NOT NULL UNIQUE,
    subnet TEXT NOT NULL, gateway TEXT NOT NULL, created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS net_allocations (
    network TEXT NOT NULL, ip TEXT NOT NULL, container TEXT NOT NULL,
    PRIMARY KEY (network, ip), UNIQUE (network, container)
);
CREATE TABLE IF NOT EXISTS net_ports (
    host_ip TEXT NOT NULL, host_port INTEGER NOT NULL, proto TEXT NOT NULL, container TEXT NOT NULL,
    PRIMARY KEY (host_ip, host_port, proto)
);
";

fn row_to_network(r: &rusqlite::Row) -> rusqlite::Result<Network> {
    let subnet: String = r.get(3)?;
    let gateway: String = r.get(4)?;
    Ok(Network {
        name: r.get(0)?,
        id: r.get(1)?,
        bridge: r.get(2)?,
        subnet: Subnet::parse(&subnet).unwrap_or(Subnet {
            network: Ipv4Addr::UNSPECIFIED,
            prefix: 32,
        }),
        gateway: gateway.parse().unwrap_or(Ipv4Addr::UNSPECIFIED),
        created: r.get(5)?,
    })
}

pub fn get(conn: &Connection, name: &str) -> rusqlite::Result<Option<Network>> {
    conn.query_row("SELECT name, id, bridge, subnet, gateway, created FROM networks WHERE name = ?1 OR id LIKE ?2", params![name, format!("{name}%")], row_to_network).optional()
}

pub fn list(conn: &Connection) -> rusqlite::Result<Vec<Network>> {
    let mut st = conn
        .prepare("SELECT name, id, bridge, subnet, gateway, created FROM networks ORDER BY name")?;
    let rows = st.query_map([], row_to_network)?.collect();
    rows
}

pub fn insert(conn: &Connection, n: &Network) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO networks (name, id, bridge, subnet, gateway, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![n.name, n.id, n.bridge, n.subnet.to_string(), n.gateway.to_string(), n.created],
    )?;
    Ok(())
}

pub fn delete(conn: &Connection, name: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM networks WHERE name = ?1", params![name])?;
    Ok(())
}

pub fn used_ips(conn: &Connection, network: &str) -> rusqlite::Result<Vec<Ipv4Addr>> {
    let mut st = conn.prepare("SELECT ip FROM net_allocations WHERE network = ?1")?;
    let ips: Vec<String> = st
        .query_map(params![network], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ips.iter().filter_map(|s| s.parse().ok()).collect())
}

pub fn members(conn: &Connection, network: &str) -> rusqlite::Result<Vec<(String, Ipv4Addr)>> {
    let mut st =
        conn.prepare("SELECT container, ip FROM net_allocations WHERE network = ?1 ORDER BY ip")?;
    let rows: Vec<(String, String)> = st
        .query_map(params![network], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(c, ip)| Some((c, ip.parse().ok()?)))
        .collect())
}

/// Records an address; false when someone else took it first.
pub fn claim_ip(
    conn: &Connection,
    network: &str,
    ip: Ipv4Addr,
    container: &str,
) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "INSERT OR IGNORE INTO net_allocations (network, ip, container) VALUES (?1, ?2, ?3)",
        params![network, ip.to_string(), container],
    )?;
    Ok(n == 1)
}

/// Records a host port; false when it is already published.
pub fn claim_port(conn: &Connection, p: &PortMapping, container: &str) -> rusqlite::Result<bool> {
    let ip = p
        .host_ip
        .map(|i| i.to_string())
        .unwrap_or_else(|| "0.0.0.0".into());
    // A wildcard and a specific address clash on the same port.
    let clash: Option<String> = conn
        .query_row(
            "SELECT container FROM net_ports WHERE host_port = ?1 AND proto = ?2 AND (host_ip = ?3 OR host_ip = '0.0.0.0' OR ?3 = '0.0.0.0')",
            params![p.host_port, p.proto.as_str(), ip],
            |r| r.get(0),
        )
        .optional()?;
    if clash.is_some() {
        return Ok(false);
    }
    conn.execute(
        "INSERT INTO net_ports (host_ip, host_port, proto, container) VALUES (?1, ?2, ?3, ?4)",
        params![ip, p.host_port, p.proto.as_str(), container],
    )?;
    Ok(true)
}

/// The networks a container holds an address on.
pub fn networks_of(conn: &Connection, container: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = conn.prepare("SELECT network FROM net_allocations WHERE container = ?1")?;
    let rows = st.query_map(params![container], |r| r.get(0))?;
    rows.collect()
}

/// A container's addresses, with the bridge of each one's network.
pub fn bridged_addresses_of(
    conn: &Connection,
    container: &str,
) -> rusqlite::Result<Vec<(String, Ipv4Addr)>> {
    let mut st = conn.prepare(
        "SELECT n.bridge, a.ip FROM net_allocations a JOIN networks n ON n.name = a.network WHERE a.container = ?1",
    )?;
    let rows: Vec<(String, String)> = st
        .query_map(params![container], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(b, ip)| Some((b, ip.parse().ok()?)))
        .collect())
}

/// Frees a container's address on one network.
pub fn release_on(conn: &Connection, container: &str, network: &str) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM net_allocations WHERE container = ?1 AND network = ?2",
        params![container, network],
    )?;
    Ok(())
}

/// Whether any container holds an address on any network.
pub fn any_allocation(conn: &Connection) -> rusqlite::Result<bool> {
    Ok(conn
        .query_row("SELECT 1 FROM net_allocations LIMIT 1", [], |_| Ok(()))
        .optional()?
        .is_some())
}

pub fn release(conn: &Connection, container: &str) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM net_allocations WHERE container = ?1",
        params![container],
    )?;
    conn.execute(
        "DELETE FROM net_ports WHERE container = ?1",
        params![container],
    )?;
    Ok(())
}

pub fn ports_of(conn: &Connection, container: &str) -> rusqlite::Result<Vec<PortMapping>> {
    let mut st = conn.prepare(
        "SELECT host_ip, host_port, proto FROM net_ports WHERE container = ?1 ORDER BY host_port",
    )?;
    let rows: Vec<(String, u16, String)> = st
        .query_map(params![container], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows
        .into_iter()
        .map(|(ip, port, proto)| PortMapping {
            host_ip: ip.parse().ok().filter(|i: &Ipv4Addr| !i.is_unspecified()),
            host_port: port,
            container_port: 0,
            proto: if proto == "udp" {
                Proto::Udp
            } else {
                Proto::Tcp
            },
        })
        .collect())
}
