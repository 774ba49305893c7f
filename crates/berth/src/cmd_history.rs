//! `image history`: an image's steps from its config's history, newest first,
//! with the size of the layer each step made (docker's columns and flags).

use crate::args::HistoryArgs;
use crate::format::{human_duration, human_size, print_rows, seconds_since};
use anyhow::Result;
use berth_engine::Engine;
use berth_image::short_id;
use serde_json::{json, Value};

/// One step: what the image config's history says, and its layer's size.
struct Step {
    created: Option<String>,
    created_by: String,
    comment: String,
    size: u64,
}

pub fn cmd_history(engine: &Engine, a: &HistoryArgs) -> Result<i32> {
    let id = engine.images.resolve(&a.image)?;
    let steps = steps(engine, &id)?;
    let rows: Vec<Value> = steps
        .iter()
        .rev()
        .enumerate()
        .map(|(i, s)| row(s, (i == 0).then_some(id.as_str()), a))
        .collect();
    if a.quiet {
        rows.iter()
            .for_each(|r| println!("{}", r["ID"].as_str().unwrap_or_default()));
        return Ok(0);
    }
    let headers = [
        ("IMAGE", "ID"),
        ("CREATED", "CreatedSince"),
        ("CREATED BY", "CreatedBy"),
        ("SIZE", "Size"),
        ("COMMENT", "Comment"),
    ];
    print_rows(a.format.as_deref(), &headers, &rows)?;
    Ok(0)
}

/// The config's history, oldest first; each entry that made a layer gets that
/// layer's size (the bytes of its files, as docker counts it). An image without
/// history shows one anonymous step per layer.
fn steps(engine: &Engine, id: &str) -> Result<Vec<Step>> {
    let config = engine.images.config(id)?;
    let chains = berth_image::chain_ids(config.rootfs().diff_ids());
    let mut sizes = chains
        .iter()
        .map(|c| berth_image::disk_usage(&engine.images.layer_dir(c)));
    let history = config.history().clone().unwrap_or_default();
    if history.is_empty() {
        return Ok(sizes
            .map(|size| Step {
                created: config.created().clone(),
                created_by: String::new(),
                comment: String::new(),
                size,
            })
            .collect());
    }
    Ok(history
        .iter()
        .map(|h| Step {
            created: h.created().clone(),
            created_by: h.created_by().clone().unwrap_or_default(),
            comment: h.comment().clone().unwrap_or_default(),
            size: if h.empty_layer().unwrap_or(false) {
                0
            } else {
                sizes.next().unwrap_or(0)
            },
        })
        .collect())
}

fn row(s: &Step, id: Option<&str>, a: &HistoryArgs) -> Value {
    let id = match id {
        Some(id) if a.no_trunc => id.to_string(),
        Some(id) => short_id(id),
        // docker's answer for steps that are no image of their own here.
        None => "<missing>".into(),
    };
    let created_at = s
        .created
        .as_deref()
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .unwrap_or_default();
    let since = match (&s.created, a.human) {
        (None, _) => String::new(),
        (Some(c), true) => format!("{} ago", human_duration(seconds_since(c))),
        (Some(_), false) => created_at.clone(),
    };
    let created_by = s.created_by.replace('\t', " ");
    json!({
        "ID": id,
        "CreatedSince": since,
        "CreatedAt": created_at,
        "CreatedBy": if a.no_trunc { created_by } else { ellipsis(&created_by, 45) },
        "Size": if a.human { human_size(s.size) } else { s.size.to_string() },
        "Comment": s.comment,
    })
}

/// docker's `formatter.Ellipsis`: at most `max` characters, the last one "…".
fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipsis_keeps_short_text_and_cuts_long_text_to_the_width() {
        assert_eq!(ellipsis("RUN true", 45), "RUN true");
        let long = "x".repeat(60);
        let cut = ellipsis(&long, 45);
        assert_eq!(cut.chars().count(), 45);
        assert!(cut.ends_with('…'));
    }
}
