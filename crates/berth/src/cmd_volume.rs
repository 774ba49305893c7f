//! `volume create|ls|inspect|rm|prune`: docker's output and exit codes (1 when a
//! volume could not be removed or inspected, as docker's CLI).

use crate::args::*;
use crate::cmd_image::print_inspect;
use crate::format::{human_size_precision, print_rows};
use anyhow::{bail, Result};
use berth_engine::volumes::{self, Volume, VolumeRequest};
use berth_engine::Engine;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub fn cmd_volume(engine: &Engine, c: &VolumeCommand) -> Result<i32> {
    match c {
        VolumeCommand::Create(a) => create(engine, a),
        VolumeCommand::Ls(a) => ls(engine, a),
        VolumeCommand::Inspect(a) => inspect(engine, a),
        VolumeCommand::Rm(a) => rm(engine, a),
        VolumeCommand::Prune(a) => prune(engine, a),
    }
}

fn key_values(flag: &str, items: &[String]) -> Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|i| match i.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => bail!("invalid {flag} {i:?}: expected KEY=VALUE"),
        })
        .collect()
}

fn create(engine: &Engine, a: &VolumeCreateArgs) -> Result<i32> {
    let name = match (&a.name, &a.name_flag) {
        (Some(p), Some(f)) if p != f => {
            bail!("conflicting volume names: {p:?} and --name {f:?}; give one")
        }
        (Some(n), _) | (None, Some(n)) => n.clone(),
        (None, None) => berth_engine::create::random_id(),
    };
    let req = VolumeRequest {
        driver: Some(a.driver.clone()),
        options: key_values("-o/--opt", &a.opt)?,
        labels: key_values("--label", &a.label)?,
    };
    let _guard = volumes::lock_shared(&engine.paths)?;
    // docker's CLI exits 1 when the daemon refuses a volume.
    match volumes::create(&engine.paths, &name, &req, true) {
        Ok((v, _)) => {
            println!("{}", v.name);
            Ok(0)
        }
        Err(e) => {
            eprintln!("Error response from berth: {e}");
            Ok(1)
        }
    }
}

/// docker's `volume inspect` object.
fn volume_json(engine: &Engine, v: &Volume) -> Value {
    let or_null = |m: &BTreeMap<String, String>| {
        if m.is_empty() {
            Value::Null
        } else {
            json!(m)
        }
    };
    json!({
        "CreatedAt": v.created_at, "Driver": v.driver, "Labels": or_null(&v.labels),
        "Mountpoint": v.mountpoint(&engine.paths), "Name": v.name,
        "Options": or_null(&v.options), "Scope": "local",
    })
}

/// `-f` of `ls` and `prune`: every filter must match (docker ANDs keys, ORs values
/// of one key; label filters are ANDed as in docker).
struct Filters {
    dangling: Option<bool>,
    names: Vec<String>,
    drivers: Vec<String>,
    labels: Vec<(String, Option<String>, bool)>,
}

impl Filters {
    fn parse(items: &[String], allowed: &[&str]) -> Result<Self> {
        let mut f = Filters {
            dangling: None,
            names: vec![],
            drivers: vec![],
            labels: vec![],
        };
        for i in items {
            let (key, negate, value) = match i.split_once("!=") {
                Some((k, v)) if !k.contains('=') => (k, true, v),
                _ => match i.split_once('=') {
                    Some((k, v)) => (k, false, v),
                    None => bail!("invalid filter {i:?}: expected KEY=VALUE"),
                },
            };
            if !allowed.contains(&key) || (negate && key != "label") {
                bail!("invalid filter {i:?}: use {}", allowed.join("=, ") + "=");
            }
            match key {
                "dangling" => {
                    f.dangling = Some(match value {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => bail!("invalid filter {i:?}: dangling takes true or false"),
                    })
                }
                "name" => f.names.push(value.to_string()),
                "driver" => f.drivers.push(value.to_string()),
                _ => {
                    let (k, v) = match value.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (value.to_string(), None),
                    };
                    f.labels.push((k, v, negate));
                }
            }
        }
        Ok(f)
    }

    fn matches(&self, v: &Volume, in_use: bool) -> bool {
        let label_ok = self.labels.iter().all(|(k, want, negate)| {
            let has = match (v.labels.get(k), want) {
                (Some(got), Some(w)) => got == w,
                (Some(_), None) => true,
                (None, _) => false,
            };
            has != *negate
        });
        self.dangling.is_none_or(|d| d != in_use)
            && (self.names.is_empty() || self.names.iter().any(|n| v.name.contains(n.as_str())))
            && (self.drivers.is_empty() || self.drivers.contains(&v.driver))
            && label_ok
    }
}

fn ls(engine: &Engine, a: &VolumeLsArgs) -> Result<i32> {
    let filters = Filters::parse(&a.filter, &["dangling", "name", "label", "driver"])?;
    let containers = berth_engine::store::list(engine.conn())?;
    let vols: Vec<Volume> = volumes::list(&engine.paths)?
        .into_iter()
        .filter(|v| filters.matches(v, !volumes::users(&containers, &v.name).is_empty()))
        .collect();
    if a.quiet {
        vols.iter().for_each(|v| println!("{}", v.name));
        return Ok(0);
    }
    let rows: Vec<Value> = vols
        .iter()
        .map(|v| {
            let labels: Vec<String> = v.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            json!({
                "Availability": "N/A", "Driver": v.driver, "Group": "N/A",
                "Labels": labels.join(","), "Links": "N/A",
                "Mountpoint": v.mountpoint(&engine.paths), "Name": v.name,
                "Scope": "local", "Size": "N/A", "Status": "N/A",
            })
        })
        .collect();
    print_rows(
        a.format.as_deref(),
        &[("DRIVER", "Driver"), ("VOLUME NAME", "Name")],
        &rows,
    )?;
    Ok(0)
}

fn inspect(engine: &Engine, a: &VolumeInspectArgs) -> Result<i32> {
    let mut out = Vec::new();
    let mut failed = false;
    for name in &a.names {
        match volumes::get(&engine.paths, name) {
            Ok(v) => out.push(volume_json(engine, &v)),
            Err(e) => {
                eprintln!("Error response from berth: {e}");
                failed = true;
            }
        }
    }
    if !out.is_empty() || !failed {
        print_inspect(&out, a.format.as_deref())?;
    }
    Ok(if failed { 1 } else { 0 })
}

fn rm(engine: &Engine, a: &VolumeRmArgs) -> Result<i32> {
    let _guard = volumes::lock_exclusive(&engine.paths)?;
    let containers = berth_engine::store::list(engine.conn())?;
    let mut failed = false;
    for name in &a.names {
        match volumes::remove(&engine.paths, &containers, name) {
            Ok(()) => println!("{name}"),
            Err(volumes::VolumeError::NotFound(_)) if a.force => {}
            Err(e) => {
                eprintln!("Error response from berth: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

fn prune(engine: &Engine, a: &VolumePruneArgs) -> Result<i32> {
    let filters = Filters::parse(&a.filter, &["label"])?;
    let warning = if a.all {
        "This will remove all local volumes not used by at least one container."
    } else {
        "This will remove anonymous local volumes not used by at least one container."
    };
    if !crate::cmd_prune::confirmed(warning, a.force) {
        return Ok(0);
    }
    let p = volumes::prune(engine, a.all, |v| filters.matches(v, false))?;
    if !p.removed.is_empty() {
        println!("Deleted Volumes:");
        p.removed.iter().for_each(|r| println!("{r}"));
        println!();
    }
    p.failed
        .iter()
        .for_each(|f| eprintln!("berth: could not remove {f}"));
    println!(
        "Total reclaimed space: {}",
        human_size_precision(p.bytes, 3)
    );
    Ok(if p.failed.is_empty() { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(name: &str, labels: &[(&str, &str)]) -> Volume {
        Volume {
            name: name.into(),
            driver: "local".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            options: BTreeMap::new(),
            created_at: String::new(),
        }
    }

    fn filters(items: &[&str]) -> Result<Filters> {
        let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        Filters::parse(&items, &["dangling", "name", "label", "driver"])
    }

    #[test]
    fn filters_as_docker() {
        let db = vol("db-data", &[("tier", "db")]);
        let web = vol("web", &[("tier", "web"), ("x", "")]);
        let f = filters(&["label=tier=db"]).unwrap();
        assert!(f.matches(&db, false) && !f.matches(&web, false));
        let f = filters(&["label=x"]).unwrap();
        assert!(!f.matches(&db, false) && f.matches(&web, false));
        let f = filters(&["label!=tier=db"]).unwrap();
        assert!(!f.matches(&db, false) && f.matches(&web, false));
        // Values of one key are ORed, keys ANDed.
        let f = filters(&["name=db", "name=we", "dangling=true"]).unwrap();
        assert!(f.matches(&db, false) && f.matches(&web, false));
        assert!(!f.matches(&web, true));
        let f = filters(&["driver=local", "dangling=false"]).unwrap();
        assert!(f.matches(&db, true) && !f.matches(&db, false));
        for bad in ["colour=red", "dangling=maybe", "name!=x", "nothing"] {
            assert!(filters(&[bad]).is_err(), "{bad}");
        }
        let items = vec!["name=x".to_string()];
        assert!(
            Filters::parse(&items, &["label"]).is_err(),
            "prune takes labels only"
        );
    }
}
