//! info, inspect and logs.

use crate::args::*;
use crate::cmd_image::print_inspect;
use crate::inspect::{container_json, image_json};
use anyhow::{bail, Result};
use berth_engine::logs::{LogLine, LogReader};
use berth_engine::Engine;
use chrono::{DateTime, Utc};
use std::io::Write;

pub fn cmd_inspect(engine: &Engine, a: &InspectArgs) -> Result<i32> {
    let kind = a.kind.as_deref().unwrap_or("");
    if !["", "container", "image"].contains(&kind) {
        bail!("--type {kind:?} is not supported: use container or image");
    }
    let mut out = Vec::new();
    let mut failed = false;
    for n in &a.names {
        let container = if kind != "image" {
            engine.find(n).ok()
        } else {
            None
        };
        if let Some(mut c) = container {
            berth_engine::boot_refresh::refresh(engine, &mut c);
            out.push(container_json(engine, &c));
            continue;
        }
        let image = if kind != "container" {
            engine
                .images
                .resolve(n)
                .and_then(|id| engine.images.get(&id))
                .ok()
        } else {
            None
        };
        match image {
            Some(rec) => out.push(image_json(engine, &rec)?),
            None => {
                eprintln!("Error: No such object: {n}");
                failed = true;
            }
        }
    }
    print_inspect(&out, a.format.as_deref())?;
    Ok(if failed { 1 } else { 0 })
}

/// RFC 3339, Unix seconds, or a duration before now (`10s`, `5m`, `1h30m`).
pub fn parse_time(s: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(secs) = s.parse::<f64>() {
        return DateTime::from_timestamp(secs as i64, 0)
            .ok_or_else(|| anyhow::anyhow!("timestamp {s} is out of range"));
    }
    let mut total = 0i64;
    let mut num = String::new();
    for ch in s.chars() {
        if ch.is_ascii_digit() {
            num.push(ch);
            continue;
        }
        let n: i64 = num.parse().map_err(|_| {
            anyhow::anyhow!("invalid time {s:?}: use RFC 3339, Unix seconds or a duration like 10m")
        })?;
        num.clear();
        total += n * match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => bail!("invalid time {s:?}: duration units are s, m and h"),
        };
    }
    if !num.is_empty() {
        bail!("invalid time {s:?}: a duration needs a unit (s, m, h)");
    }
    Ok(Utc::now() - chrono::Duration::seconds(total))
}

pub fn cmd_logs(engine: &Engine, a: &LogsArgs) -> Result<i32> {
    let c = engine.find(&a.container)?;
    let path = engine.paths.log_file(&c.id);
    let since = a.since.as_deref().map(parse_time).transpose()?;
    let until = a.until.as_deref().map(parse_time).transpose()?;
    let tail: Option<usize> = match a.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse()
                .map_err(|_| anyhow::anyhow!("invalid --tail {n:?}: give a number or \"all\""))?,
        ),
    };
    crate::runflags::logs::readable(&c)?;
    let print = |lines: &[LogLine]| print_lines(lines, a.timestamps, a.details);
    // Across the rotated files, oldest first; the reader follows rotations.
    let (mut lines, mut reader) = LogReader::open(&path)?;
    lines.retain(|l| in_window(l, since, until));
    if let Some(n) = tail {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    print(&lines);
    if !a.follow {
        return Ok(0);
    }
    loop {
        let running = engine.find(&c.id).map(|c| c.is_running()).unwrap_or(false);
        let more: Vec<_> = reader
            .poll()?
            .into_iter()
            .filter(|l| in_window(l, since, until))
            .collect();
        print(&more);
        if !running && more.is_empty() {
            // One more read after seeing it stopped: the monitor may have written the
            // last lines just before recording the exit.
            print(&reader.poll()?);
            return Ok(0);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn in_window(l: &LogLine, since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> bool {
    let Ok(t) = DateTime::parse_from_rfc3339(&l.time) else {
        return true;
    };
    since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u)
}

fn print_lines(lines: &[LogLine], timestamps: bool, details: bool) {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    for l in lines {
        let text = match (timestamps, details) {
            (false, false) => l.log.clone(),
            (true, false) => format!("{} {}", l.time, l.log),
            (_, true) => crate::runflags::logs::with_details(l, timestamps),
        };
        let _ = if l.stream == "stderr" {
            err.write_all(text.as_bytes())
        } else {
            out.write_all(text.as_bytes())
        };
    }
    let _ = out.flush();
}

pub fn cmd_doctor(engine: &Engine, a: &DoctorArgs) -> Result<i32> {
    let c = engine.find(&a.container)?;
    let findings = berth_engine::doctor::diagnose(engine, &c);
    let boot = c
        .state
        .boot
        .map(|b| format!(", boot {}", b.as_str()))
        .unwrap_or_default();
    println!(
        "container {} ({}{}, exit code {}, systemd mode {})",
        c.name,
        c.state.status.as_str(),
        boot,
        c.state
            .exit_code
            .map(|x| x.to_string())
            .unwrap_or_else(|| "-".into()),
        if c.spec.systemd { "on" } else { "off" }
    );
    if findings.is_empty() {
        println!("no problem found");
        return Ok(0);
    }
    for f in &findings {
        println!("cause: {}\nfix:   {}", f.cause, f.fix);
    }
    Ok(1)
}
