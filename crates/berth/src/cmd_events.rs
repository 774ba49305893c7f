//! `events`: berth's journal of its own state changes (`berth_engine::events`)
//! printed as docker prints its daemon's events. With `--since`/`--until` the
//! journal's past is shown first; without `--until` new events follow until the
//! command is interrupted, with it the command ends at that time.

use crate::args::EventsArgs;
use anyhow::{bail, Context, Result};
use berth_engine::events::{Event, Journal};
use berth_engine::Engine;
use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

/// How often the journal is checked for new lines while following.
const POLL: Duration = Duration::from_millis(100);

pub fn cmd_events(engine: &Engine, a: &EventsArgs) -> Result<i32> {
    match stream(engine, a) {
        // `berth events | head -3`: the reader is gone, which ends the command.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(0)
        }
        other => other.map(|()| 0),
    }
}

fn stream(engine: &Engine, a: &EventsArgs) -> Result<()> {
    let now = now_nanos();
    let since = a.since.as_deref().map(|s| parse_time(s, now)).transpose()?;
    let until = a.until.as_deref().map(|s| parse_time(s, now)).transpose()?;
    let filter = Filter::parse(&a.filter)?;
    let journal = Journal::at(&engine.paths.root);
    let (past, mut follower) = match since.is_some() || until.is_some() {
        true => journal.replay(),
        false => (vec![], journal.follow()),
    };
    let mut out = std::io::stdout().lock();
    let in_window = |e: &Event| {
        since.is_none_or(|s| e.time_nano >= s) && until.is_none_or(|u| e.time_nano <= u)
    };
    let mut print = |e: &Event| -> Result<()> {
        if in_window(e) && filter.matches(e) {
            writeln!(out, "{}", render(e, a.format.as_deref())?)?;
            out.flush()?;
        }
        Ok(())
    };
    for e in &past {
        print(e)?;
    }
    loop {
        if until.is_some_and(|u| now_nanos() > u) {
            // Whatever was written up to the deadline is still shown.
            for e in follower.poll() {
                print(&e)?;
            }
            return Ok(());
        }
        std::thread::sleep(POLL);
        for e in follower.poll() {
            print(&e)?;
        }
    }
}

fn now_nanos() -> i64 {
    Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// docker's default line, or the event through `--format`.
fn render(e: &Event, format: Option<&str>) -> Result<String> {
    let value = serde_json::to_value(e)?;
    match format {
        Some("json") => Ok(value.to_string()),
        Some(tpl) => crate::format::render(tpl, &value),
        None => {
            let when = Local.timestamp_nanos(e.time_nano);
            let attrs: Vec<String> = e
                .actor
                .attributes
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            Ok(format!(
                "{} {} {} {} ({})",
                when.format("%Y-%m-%dT%H:%M:%S%.9f%:z"),
                e.kind,
                e.action,
                e.actor.id,
                attrs.join(", ")
            ))
        }
    }
}

/// docker's timestamps: RFC 3339 (with or without zone or fraction, a date
/// alone), Unix seconds with an optional fraction, or a duration before now
/// (`10m`, `1h30m`, `1.5h`, `500ms`). Nanoseconds since the epoch.
fn parse_time(s: &str, now: i64) -> Result<i64> {
    let nanos = |t: DateTime<Utc>| t.timestamp_nanos_opt().context("time out of range");
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return nanos(t.with_timezone(&Utc));
    }
    // Without a zone, local time (as docker reads them).
    let local = |t: NaiveDateTime| -> Result<i64> {
        let t = Local
            .from_local_datetime(&t)
            .earliest()
            .context("no such local time")?;
        nanos(t.with_timezone(&Utc))
    };
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return local(t);
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return local(d.and_hms_opt(0, 0, 0).expect("midnight exists"));
    }
    if let Some((secs, frac)) = unix_seconds(s) {
        return Ok(secs * 1_000_000_000 + frac);
    }
    match go_duration(s) {
        Some(d) => Ok(now - d),
        None => bail!(
            "invalid time {s:?}: give RFC 3339 (2024-05-01T10:00:00Z), Unix seconds (1714557600.5) or a duration before now (10m, 1h30m)"
        ),
    }
}

/// `1714557600` or `1714557600.123456789`: (seconds, nanoseconds).
fn unix_seconds(s: &str) -> Option<(i64, i64)> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_nanos = format!("{frac:0<9}").parse().ok()?;
    Some((secs.parse().ok()?, frac_nanos))
}

/// Go's `time.ParseDuration` for positive durations, in nanoseconds.
fn go_duration(s: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * unit;
        rest = &rest[unit_end..];
    }
    Some(total as i64)
}

/// `-f key=value`: values of one key are alternatives, different keys must all match.
#[derive(Debug, Default)]
struct Filter(BTreeMap<String, Vec<String>>);

const KEYS: [&str; 7] = [
    "container",
    "event",
    "image",
    "label",
    "network",
    "type",
    "volume",
];

impl Filter {
    fn parse(args: &[String]) -> Result<Filter> {
        let mut f = Filter::default();
        for a in args {
            let Some((k, v)) = a.split_once('=') else {
                bail!("bad format of filter {a:?}: expected key=value");
            };
            if !KEYS.contains(&k) {
                bail!(
                    "invalid filter {k:?}: supported filters are {}",
                    KEYS.join(", ")
                );
            }
            f.0.entry(k.to_string()).or_default().push(v.to_string());
        }
        Ok(f)
    }

    fn matches(&self, e: &Event) -> bool {
        self.0
            .iter()
            .all(|(k, values)| values.iter().any(|v| matches_one(e, k, v)))
    }
}

fn matches_one(e: &Event, key: &str, v: &str) -> bool {
    let attr = |k: &str| e.actor.attributes.get(k).map(String::as_str);
    let id_or_name =
        |id: &str| id == v || (v.len() >= 3 && id.starts_with(v)) || attr("name") == Some(v);
    match key {
        "type" => e.kind == v,
        "event" => e.action == v || e.action.split(':').next() == Some(v),
        "container" => match e.kind.as_str() {
            "container" => id_or_name(&e.actor.id),
            _ => attr("container").is_some_and(|c| c == v || c.starts_with(v)),
        },
        "image" => {
            let same = |name: &str| name == v || name == format!("{v}:latest");
            attr("image").is_some_and(same)
                || (e.kind == "image" && (e.actor.id == v || attr("name").is_some_and(same)))
        }
        "label" => match v.split_once('=') {
            Some((k, val)) => attr(k) == Some(val),
            None => attr(v).is_some(),
        },
        "network" => e.kind == "network" && id_or_name(&e.actor.id),
        "volume" => e.kind == "volume" && e.actor.id == v,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_engine::events::Kind;

    fn ev(kind: Kind, action: &str, id: &str, attrs: &[(&str, &str)]) -> Event {
        Event::new(kind, action, id, attrs)
    }

    fn filter(f: &[&str]) -> Filter {
        Filter::parse(&f.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn filters_as_docker() {
        let die = ev(
            Kind::Container,
            "die",
            "abcdef",
            &[
                ("name", "web"),
                ("image", "busybox:latest"),
                ("exitCode", "3"),
                ("tier", "front"),
            ],
        );
        let exec = ev(
            Kind::Container,
            "exec_start: sh -c true",
            "abcdef",
            &[("name", "web")],
        );
        assert!(filter(&["event=die"]).matches(&die));
        assert!(!filter(&["event=die"]).matches(&exec));
        assert!(filter(&["event=exec_start"]).matches(&exec));
        assert!(
            filter(&["event=start", "event=die"]).matches(&die),
            "one key: any value"
        );
        assert!(
            !filter(&["event=die", "container=other"]).matches(&die),
            "keys: all"
        );
        assert!(filter(&["container=web"]).matches(&die));
        assert!(filter(&["container=abc"]).matches(&die));
        assert!(filter(&["image=busybox"]).matches(&die));
        assert!(filter(&["label=tier"]).matches(&die));
        assert!(filter(&["label=tier=front"]).matches(&die));
        assert!(!filter(&["label=tier=back"]).matches(&die));
        assert!(!filter(&["type=image"]).matches(&die));
        let net = ev(
            Kind::Network,
            "connect",
            "n1",
            &[("name", "front"), ("container", "abcdef")],
        );
        assert!(filter(&["container=abcdef", "type=network"]).matches(&net));
        assert!(Filter::parse(&["bogus=1".into()]).is_err());
        assert!(Filter::parse(&["event".into()]).is_err());
    }

    #[test]
    fn times_as_docker() {
        let now = 1_000_000 * 1_000_000_000;
        assert_eq!(parse_time("10m", now).unwrap(), now - 600 * 1_000_000_000);
        assert_eq!(
            parse_time("1h30m", now).unwrap(),
            now - 5400 * 1_000_000_000
        );
        assert_eq!(parse_time("1.5", now).unwrap(), 1_500_000_000);
        assert_eq!(parse_time("12.000000001", now).unwrap(), 12_000_000_001);
        assert_eq!(
            parse_time("2024-05-01T10:00:00Z", now).unwrap(),
            1_714_557_600 * 1_000_000_000
        );
        let midnight = NaiveDate::from_ymd_opt(2024, 5, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let local = Local.from_local_datetime(&midnight).unwrap().timestamp();
        assert_eq!(
            parse_time("2024-05-01", now).unwrap(),
            local * 1_000_000_000
        );
        assert!(parse_time("yesterday", now).is_err());
        assert!(parse_time("10x", now).is_err());
    }

    #[test]
    fn default_line_has_sorted_attributes() {
        let e = ev(
            Kind::Container,
            "die",
            "abc",
            &[("name", "web"), ("exitCode", "3")],
        );
        let line = render(&e, None).unwrap();
        assert!(
            line.ends_with(" container die abc (exitCode=3, name=web)"),
            "{line}"
        );
        assert_eq!(
            render(&e, Some("{{.Action}} {{.Actor.Attributes.exitCode}}")).unwrap(),
            "die 3"
        );
    }
}
