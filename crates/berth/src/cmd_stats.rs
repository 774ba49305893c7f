//! `stats` and `top`: a container's resource use (`berth_engine::stats`) and its
//! processes (the host's `ps`, filtered to the container's cgroup, as docker does).

use crate::args::{StatsArgs, TopArgs};
use crate::format::{human_size, print_rows};
use anyhow::{bail, Context, Result};
use berth_engine::model::Container;
use berth_engine::stats::{self, Sample};
use berth_engine::{Engine, EngineError};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

const HEADERS: &[(&str, &str)] = &[
    ("CONTAINER ID", "ID"),
    ("NAME", "Name"),
    ("CPU %", "CPUPerc"),
    ("MEM USAGE / LIMIT", "MemUsage"),
    ("MEM %", "MemPerc"),
    ("NET I/O", "NetIO"),
    ("BLOCK I/O", "BlockIO"),
    ("PIDS", "PIDs"),
];

/// docker samples once a second.
const INTERVAL: Duration = Duration::from_secs(1);

pub fn cmd_stats(engine: &Engine, a: &StatsArgs) -> Result<i32> {
    let redraw = !a.no_stream && std::io::stdout().is_terminal();
    let mut before: HashMap<String, Sample> = targets(engine, a)?
        .iter()
        .filter_map(|(_, c)| Some((c.id.clone(), stats::sample(c)?)))
        .collect();
    loop {
        std::thread::sleep(INTERVAL);
        let mut rows = Vec::new();
        for (asked, c) in targets(engine, a)? {
            let now = stats::sample(&c);
            rows.push(row(&asked, &c, before.get(&c.id), now.as_ref(), a.no_trunc));
            match now {
                Some(s) => before.insert(c.id.clone(), s),
                None => before.remove(&c.id),
            };
        }
        if redraw {
            print!("\x1b[2J\x1b[H"); // clear the screen and go home, as docker does
        }
        let mut headers = HEADERS.to_vec();
        headers.push(("CONTAINER", "Container"));
        let format = a.format.as_deref();
        print_rows(
            format,
            if format.is_some() { &headers } else { HEADERS },
            &rows,
        )?;
        if a.no_stream {
            return Ok(0);
        }
    }
}

/// The containers to show, each with the name it was asked by: those named, or
/// the running ones (every one with `-a`).
fn targets(engine: &Engine, a: &StatsArgs) -> Result<Vec<(String, Container)>> {
    if a.containers.is_empty() {
        return Ok(engine
            .list()?
            .into_iter()
            .filter(|c| a.all || c.is_running())
            .map(|c| (c.id.clone(), c))
            .collect());
    }
    a.containers
        .iter()
        .map(|n| Ok((n.clone(), engine.find(n)?)))
        .collect()
}

fn row(
    asked: &str,
    c: &Container,
    before: Option<&Sample>,
    now: Option<&Sample>,
    no_trunc: bool,
) -> Value {
    let id = match no_trunc {
        true => c.id.clone(),
        false => c.id.chars().take(12).collect(),
    };
    let Some(now) = now else {
        return json!({
            "Container": asked, "ID": id, "Name": c.name, "CPUPerc": "0.00%",
            "MemUsage": "0B / 0B", "MemPerc": "0.00%", "NetIO": "0B / 0B",
            "BlockIO": "0B / 0B", "PIDs": "0",
        });
    };
    let cpu = before.map(|b| stats::cpu_percent(b, now)).unwrap_or(0.0);
    let limit = stats::memory_limit(&now.memory);
    let mem_pct = match limit {
        0 => 0.0,
        l => now.memory.usage as f64 / l as f64 * 100.0,
    };
    let pair = |(x, y): (u64, u64)| format!("{} / {}", human_size(x), human_size(y));
    json!({
        "Container": asked,
        "ID": id,
        "Name": c.name,
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", bytes_size(now.memory.usage), bytes_size(limit)),
        "MemPerc": format!("{mem_pct:.2}%"),
        "NetIO": pair(now.net),
        "BlockIO": pair(now.block),
        "PIDs": now.pids.to_string(),
    })
}

/// docker's `units.BytesSize`: binary units, four significant digits (`%.4g`).
fn bytes_size(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    let whole = if v < 1.0 {
        1
    } else {
        v.log10().floor() as i32 + 1
    };
    let decimals = (4 - whole).max(0) as usize;
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", units[i])
}

pub fn cmd_top(engine: &Engine, a: &TopArgs) -> Result<i32> {
    let c = engine.find(&a.container)?;
    if !c.is_running() {
        return Err(EngineError::NotRunning(c.name.clone()).into());
    }
    let pids = stats::container_pids(&c);
    let args = match a.ps_args.is_empty() {
        true => vec!["-ef".to_string()],
        false => a.ps_args.clone(),
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .context("running the host's ps (install procps)")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let (titles, rows) = filter_ps(&String::from_utf8_lossy(&out.stdout), &pids)?;
    print_tabbed(&titles, &rows);
    Ok(0)
}

/// ps's header and the rows of the processes in `pids`, split into the header's
/// columns (the last one keeps its spaces: it is the command), as docker does.
fn filter_ps(output: &str, pids: &[i32]) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(String::from)
        .collect();
    let Some(pid_col) = titles.iter().position(|t| t == "PID") else {
        bail!("couldn't find the PID field in ps output; give ps options that print it (e.g. -ef, aux, -o pid,comm)");
    };
    let mut rows = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(pid) = fields.get(pid_col).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let split = (titles.len() - 1).min(fields.len());
        let mut row: Vec<String> = fields[..split].iter().map(|s| s.to_string()).collect();
        row.push(fields[split..].join(" "));
        rows.push(row);
    }
    Ok((titles, rows))
}

/// docker's tabwriter for `top`: cells at least 20 wide, 3 spaces of padding.
fn print_tabbed(titles: &[String], rows: &[Vec<String>]) {
    let header = titles.to_vec();
    let all: Vec<&Vec<String>> = std::iter::once(&header).chain(rows).collect();
    let cols = titles.len();
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            let widest = all
                .iter()
                .filter_map(|r| r.get(i))
                .map(|s| s.chars().count())
                .max();
            (widest.unwrap_or(0) + 3).max(20)
        })
        .collect();
    for r in all {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            match i + 1 == r.len() {
                true => line.push_str(cell),
                false => line.push_str(&format!("{cell:<w$}", w = widths[i])),
            }
        }
        println!("{}", line.trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_sizes_as_docker() {
        assert_eq!(bytes_size(0), "0B");
        assert_eq!(bytes_size(1536), "1.5KiB");
        assert_eq!(bytes_size(10 * 1024 * 1024), "10MiB");
        assert_eq!(bytes_size(2_087_000_000), "1.944GiB");
    }

    #[test]
    fn ps_rows_of_the_container_only() {
        let out = "UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init splash
root         812     700  0 10:01 ?        00:00:00 sleep 1000
root         813     700  0 10:01 ?        00:00:00 sh -c echo hi
";
        let (titles, rows) = filter_ps(out, &[812, 813]).unwrap();
        assert_eq!(titles.len(), 8);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][1], "812");
        assert_eq!(rows[1][7], "sh -c echo hi");
        assert!(filter_ps("USER COMMAND\nroot x\n", &[1]).is_err());
    }
}
