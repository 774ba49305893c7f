//! network create/ls/inspect/rm and port.

use crate::args::*;
use crate::cmd_image::print_inspect;
use crate::format::print_rows;
use anyhow::{bail, Result};
use berth_engine::Engine;
use berth_net::network;
use serde_json::json;

pub fn cmd_network(engine: &Engine, c: &NetworkCommand) -> Result<i32> {
    let conn = engine.conn();
    match c {
        NetworkCommand::Create(a) => {
            if a.driver != "bridge" {
                bail!(
                    "network driver {:?} is not supported: berth networks are bridges (-d bridge)",
                    a.driver
                );
            }
            let n = network::create(conn, &a.name, a.subnet.as_deref(), a.gateway.as_deref())?;
            println!("{}", n.id);
        }
        NetworkCommand::Ls(a) => {
            network::ensure_default(conn, &engine.net_config())?;
            let nets = berth_net::store::list(conn)?;
            if a.quiet {
                nets.iter().for_each(|n| println!("{}", n.name));
                return Ok(0);
            }
            let mut rows: Vec<_> = nets
                .iter()
                .map(|n| json!({"ID": &n.id[..12], "Name": n.name, "Driver": "bridge", "Scope": "local", "Subnet": n.subnet.to_string()}))
                .collect();
            rows.push(json!({"ID": "host", "Name": "host", "Driver": "host", "Scope": "local", "Subnet": ""}));
            rows.push(json!({"ID": "none", "Name": "none", "Driver": "null", "Scope": "local", "Subnet": ""}));
            print_rows(
                a.format.as_deref(),
                &[
                    ("NETWORK ID", "ID"),
                    ("NAME", "Name"),
                    ("DRIVER", "Driver"),
                    ("SCOPE", "Scope"),
                    ("SUBNET", "Subnet"),
                ],
                &rows,
            )?;
        }
        NetworkCommand::Inspect(a) => {
            let mut out = Vec::new();
            for name in &a.names {
                let n = if name == berth_net::DEFAULT_NETWORK {
                    network::ensure_default(conn, &engine.net_config())?
                } else {
                    network::get(conn, name)?
                };
                let containers: serde_json::Map<String, serde_json::Value> = network::members(
                    conn, &n.name,
                )?
                .into_iter()
                .map(|(id, ip)| {
                    let name = engine.container(&id).map(|c| c.name).unwrap_or_default();
                    (
                        id,
                        json!({"Name": name, "IPv4Address": format!("{ip}/{}", n.subnet.prefix)}),
                    )
                })
                .collect();
                out.push(json!({
                    "Name": n.name, "Id": n.id, "Created": n.created, "Driver": "bridge", "Scope": "local",
                    "IPAM": {"Driver": "default", "Config": [{"Subnet": n.subnet.to_string(), "Gateway": n.gateway.to_string()}]},
                    "Options": {"com.docker.network.bridge.name": n.bridge},
                    "Containers": containers,
                }));
            }
            print_inspect(&out, None)?;
        }
        NetworkCommand::Rm(a) => {
            let mut failed = false;
            for name in &a.names {
                match network::remove(conn, &engine.net_config(), name) {
                    Ok(()) => println!("{name}"),
                    Err(e) => {
                        eprintln!("Error response from berth: {e}");
                        failed = true;
                    }
                }
            }
            return Ok(if failed { 1 } else { 0 });
        }
        NetworkCommand::Prune(a) => return crate::cmd_prune::cmd_network_prune(engine, a),
        NetworkCommand::Connect(a) => {
            let c = engine.find(&a.container)?;
            berth_engine::usecase::connect_network(engine, &c, &a.network, a.ip)?;
        }
        NetworkCommand::Disconnect(a) => {
            let c = engine.find(&a.container)?;
            berth_engine::usecase::disconnect_network(engine, &c, &a.network)?;
        }
    }
    Ok(0)
}

pub fn cmd_port(engine: &Engine, a: &PortArgs) -> Result<i32> {
    let c = engine.find(&a.container)?;
    let ports = c.state.network.map(|n| n.ports).unwrap_or_default();
    let want = a.port.as_deref().map(|p| {
        if p.contains('/') {
            p.to_string()
        } else {
            format!("{p}/tcp")
        }
    });
    let mut shown = 0;
    for p in ports {
        let key = format!("{}/{}", p.container_port, p.proto.as_str());
        if want.as_ref().is_some_and(|w| *w != key) {
            continue;
        }
        let ip = p
            .host_ip
            .map(|i| i.to_string())
            .unwrap_or_else(|| "0.0.0.0".into());
        if want.is_some() {
            println!("{ip}:{}", p.host_port);
        } else {
            println!("{key} -> {ip}:{}", p.host_port);
        }
        shown += 1;
    }
    if shown == 0 && want.is_some() {
        bail!(
            "no public port {} published for {}",
            want.unwrap_or_default(),
            c.name
        );
    }
    Ok(0)
}
