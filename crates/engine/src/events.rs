//! The journal behind `berth events`: docker prints its daemon's events; berth has
//! no daemon, so every command and monitor that changes something appends one
//! JSON line (docker's event fields) to `<root>/events.jsonl`, and `events` reads
//! and follows that file.
//!
//! * Atomic lines with concurrent writers: the file is opened `O_APPEND` and each
//!   event is one `write(2)` of a whole line, which the kernel places at the end
//!   under the inode's lock, so lines from different processes never interleave.
//! * Bounded: past [`MAX_BYTES`] the file is renamed to `events.jsonl.1` (the one
//!   before is dropped) under an exclusive flock, so at most two files' worth stay
//!   (docker keeps its last 256 events in memory; this keeps a few thousand).
//! * Best effort: an event that cannot be written never fails the operation.

use crate::model::Container;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Size past which the journal is rotated.
pub const MAX_BYTES: u64 = 1 << 20;
const FILE: &str = "events.jsonl";
const OLD: &str = "events.jsonl.1";
const LOCK: &str = "events.lock";

/// What an event is about (docker's `Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Container,
    Image,
    Network,
    Volume,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Image => "image",
            Kind::Network => "network",
            Kind::Volume => "volume",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

/// One event, in docker's JSON shape (including its older `status`/`id`/`from`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Event {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    #[serde(default)]
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

impl Event {
    /// An event now.
    pub fn new(kind: Kind, action: &str, id: &str, attributes: &[(&str, &str)]) -> Event {
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let attributes = attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let legacy = kind == Kind::Container || kind == Kind::Image;
        Event {
            status: legacy.then(|| action.to_string()),
            id: legacy.then(|| id.to_string()),
            from: None,
            kind: kind.as_str().into(),
            action: action.into(),
            actor: Actor {
                id: id.into(),
                attributes,
            },
            scope: "local".into(),
            time: nanos.div_euclid(1_000_000_000),
            time_nano: nanos,
        }
    }

    /// A container event: docker's attributes are the container's labels, its
    /// image and name, then the event's own (`exitCode`, `signal`, …).
    pub fn of_container(c: &Container, action: &str, extra: &[(&str, &str)]) -> Event {
        let mut e = Event::new(Kind::Container, action, &c.id, extra);
        let attrs = &mut e.actor.attributes;
        for (k, v) in &c.spec.labels {
            attrs.entry(k.clone()).or_insert_with(|| v.clone());
        }
        attrs.insert("image".into(), c.spec.image.clone());
        attrs.insert("name".into(), c.name.clone());
        e.from = Some(c.spec.image.clone());
        e
    }
}

/// Appends a container event to the journal under `root`; never fails the caller.
pub fn container(root: &Path, c: &Container, action: &str, extra: &[(&str, &str)]) {
    Journal::at(root).record(&Event::of_container(c, action, extra));
}

/// Appends any other event (image, network, volume); never fails the caller.
pub fn record(root: &Path, kind: Kind, action: &str, id: &str, attributes: &[(&str, &str)]) {
    Journal::at(root).record(&Event::new(kind, action, id, attributes));
}

/// A container event for the row `id` as it is now (its name may have changed
/// since the caller read it).
pub fn container_id(engine: &crate::Engine, id: &str, action: &str, extra: &[(&str, &str)]) {
    if let Ok(c) = engine.container(id) {
        container(&engine.paths.root, &c, action, extra);
    }
}

/// `kill`: docker's attribute is the signal's number.
pub fn killed(root: &Path, c: &Container, signal: &str) {
    let number =
        berth_runtime::signal::parse_signal(signal).map_or(signal.to_string(), |n| n.to_string());
    container(root, c, "kill", &[("signal", &number)]);
}

/// An image event (`pull`, `tag`, `untag`, `delete`); docker's Actor.ID is the
/// image id for most, the reference for `pull`, with the reference as `name`.
pub fn image(root: &Path, action: &str, image_id: &str, reference: &str) {
    let id = if action == "pull" {
        reference
    } else {
        image_id
    };
    record(root, Kind::Image, action, id, &[("name", reference)]);
}

/// A network event about container `container_id` (docker's `connect`/`disconnect`).
pub fn network(engine: &crate::Engine, name: &str, action: &str, container_id: &str) {
    let id = berth_net::network::get(engine.conn(), name).map_or(name.to_string(), |n| n.id);
    let attrs = [
        ("container", container_id),
        ("name", name),
        ("type", "bridge"),
    ];
    record(&engine.paths.root, Kind::Network, action, &id, &attrs);
}

/// The journal files under berth's root.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    pub fn at(root: &Path) -> Journal {
        Journal { dir: root.into() }
    }

    fn current(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    fn old(&self) -> PathBuf {
        self.dir.join(OLD)
    }

    /// [`Journal::append`], a failure only noted on stderr (a monitor's goes to its log).
    pub fn record(&self, e: &Event) {
        if let Err(err) = self.append(e) {
            eprintln!(
                "berth: warning: could not record the {} event: {err}",
                e.action
            );
        }
    }

    /// One line, one write (see the module docs).
    pub fn append(&self, e: &Event) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(e).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.rotate_if_full()?;
        let mut f = crate::paths::open_private(&self.current(), true)?;
        let n = f.write(&line)?;
        if n != line.len() {
            return Err(std::io::Error::other("short write to the event journal"));
        }
        Ok(())
    }

    fn rotate_if_full(&self) -> std::io::Result<()> {
        let full = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.len() >= MAX_BYTES);
        if !full(&self.current()) {
            return Ok(());
        }
        let lock = crate::paths::open_private(&self.dir.join(LOCK), true)?;
        let _held = Flock::lock(lock, FlockArg::LockExclusive).map_err(|(_, e)| e)?;
        // Another writer may have rotated while we waited for the lock.
        if full(&self.current()) {
            std::fs::rename(self.current(), self.old())?;
        }
        Ok(())
    }

    /// Every event still in the journal, oldest first.
    pub fn read_all(&self) -> Vec<Event> {
        let mut events = Vec::new();
        for path in [self.old(), self.current()] {
            if let Ok(text) = std::fs::read(&path) {
                events.extend(parse_lines(&text));
            }
        }
        // A writer that opened the file just before a rotation lands in the old
        // one, a little out of order.
        events.sort_by_key(|e| e.time_nano);
        events
    }

    /// The events already in the journal and a reader of those appended after
    /// them, with nothing lost or repeated in between: the current file is
    /// opened first and read through the reader.
    pub fn replay(&self) -> (Vec<Event>, Follower) {
        let mut f = Follower {
            path: self.current(),
            file: None,
            partial: Vec::new(),
        };
        f.reopen(false);
        let inode = |m: std::io::Result<std::fs::Metadata>| m.ok().map(|m| m.ino());
        let current = f.file.as_ref().and_then(|file| inode(file.metadata()));
        let mut events = match inode(std::fs::metadata(self.old())) {
            // Rotated since we opened it: the reader has that file.
            old if old.is_some() && old == current => vec![],
            _ => std::fs::read(self.old())
                .map(|b| parse_lines(&b).collect())
                .unwrap_or_default(),
        };
        events.extend(f.poll());
        events.sort_by_key(|e| e.time_nano);
        (events, f)
    }

    /// A reader of events appended from now on.
    pub fn follow(&self) -> Follower {
        let mut f = Follower {
            path: self.current(),
            file: None,
            partial: Vec::new(),
        };
        f.reopen(true);
        f
    }
}

fn parse_lines(bytes: &[u8]) -> impl Iterator<Item = Event> + '_ {
    bytes
        .split(|b| *b == b'\n')
        .filter_map(|l| serde_json::from_slice(l).ok())
}

/// Reads what is appended to the journal, across rotations. Polled, not
/// inotify-driven: `events` checks a few times a second, which costs nothing and
/// needs no watch that a rename would break.
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    partial: Vec<u8>,
}

impl Follower {
    fn reopen(&mut self, at_end: bool) {
        self.file = File::open(&self.path).ok();
        if let (Some(f), true) = (&mut self.file, at_end) {
            let _ = f.seek(SeekFrom::End(0));
        }
        self.partial.clear();
    }

    /// The whole events appended since the last call.
    pub fn poll(&mut self) -> Vec<Event> {
        let mut out = self.drain();
        let rotated = match (&self.file, std::fs::metadata(&self.path)) {
            (Some(f), Ok(now)) => f.metadata().map(|m| m.ino() != now.ino()).unwrap_or(true),
            (None, Ok(_)) => true,
            (_, Err(_)) => false,
        };
        if rotated {
            // What the old file got before the rename was drained above; the
            // new one is read from its start.
            out.extend(self.drain());
            self.reopen(false);
            out.extend(self.drain());
        }
        out
    }

    fn drain(&mut self) -> Vec<Event> {
        let Some(f) = &mut self.file else {
            return vec![];
        };
        let _ = f.read_to_end(&mut self.partial);
        let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return vec![];
        };
        let complete: Vec<u8> = self.partial.drain(..=end).collect();
        parse_lines(&complete).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(action: &str) -> Event {
        Event::new(Kind::Container, action, "abc", &[("name", "web")])
    }

    #[test]
    fn lines_have_dockers_fields() {
        let v = serde_json::to_value(ev("die")).unwrap();
        assert_eq!(v["Type"], "container");
        assert_eq!(v["Action"], "die");
        assert_eq!(v["status"], "die");
        assert_eq!(v["Actor"]["ID"], "abc");
        assert_eq!(v["Actor"]["Attributes"]["name"], "web");
        assert_eq!(v["scope"], "local");
        assert_eq!(
            v["time"].as_i64().unwrap(),
            v["timeNano"].as_i64().unwrap() / 1_000_000_000
        );
        let net = serde_json::to_value(Event::new(Kind::Network, "connect", "n", &[])).unwrap();
        assert!(
            net.get("status").is_none(),
            "docker has no legacy fields there"
        );
    }

    #[test]
    fn appends_and_reads_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::at(dir.path());
        for a in ["create", "start", "die"] {
            j.append(&ev(a)).unwrap();
        }
        let actions: Vec<_> = j.read_all().into_iter().map(|e| e.action).collect();
        assert_eq!(actions, ["create", "start", "die"]);
    }

    #[test]
    fn stays_bounded_and_the_follower_crosses_rotations() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::at(dir.path());
        let mut follower = j.follow();
        let per_line = serde_json::to_vec(&ev("start")).unwrap().len() as u64 + 1;
        let lines = 2 * MAX_BYTES / per_line + 10;
        let mut seen = 0;
        for _ in 0..lines {
            j.append(&ev("start")).unwrap();
            seen += follower.poll().len();
        }
        seen += follower.poll().len();
        assert_eq!(
            seen as u64, lines,
            "every line once, none lost at a rotation"
        );
        let total: u64 = [FILE, OLD]
            .iter()
            .map(|f| {
                std::fs::metadata(dir.path().join(f))
                    .map(|m| m.len())
                    .unwrap_or(0)
            })
            .sum();
        assert!(total <= 2 * MAX_BYTES + per_line, "{total} bytes kept");
    }

    #[test]
    fn concurrent_writers_never_interleave_lines() {
        let dir = tempfile::tempdir().unwrap();
        let workers: Vec<_> = (0..4)
            .map(|i| {
                let root = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    let long = "x".repeat(1000 + i);
                    for _ in 0..200 {
                        let e = Event::new(Kind::Container, "start", "abc", &[("pad", &long)]);
                        Journal::at(&root).append(&e).unwrap();
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        let text = std::fs::read(dir.path().join(FILE)).unwrap();
        let old = std::fs::read(dir.path().join(OLD)).unwrap_or_default();
        let lines = text
            .split(|b| *b == b'\n')
            .chain(old.split(|b| *b == b'\n'));
        let mut whole = 0;
        for l in lines.filter(|l| !l.is_empty()) {
            serde_json::from_slice::<Event>(l).expect("a whole event per line");
            whole += 1;
        }
        assert_eq!(whole, 800);
    }

    #[test]
    fn replay_then_follow_repeats_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::at(dir.path());
        j.append(&ev("create")).unwrap();
        let (past, mut f) = j.replay();
        j.append(&ev("start")).unwrap();
        let later: Vec<_> = f.poll().into_iter().map(|e| e.action).collect();
        assert_eq!(past.len(), 1);
        assert_eq!(later, ["start"]);
    }

    #[test]
    fn a_follower_sees_only_new_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::at(dir.path());
        j.append(&ev("create")).unwrap();
        let mut f = j.follow();
        assert!(f.poll().is_empty(), "history is not followed");
        let mut file = crate::paths::open_private(&j.current(), true).unwrap();
        let line = serde_json::to_vec(&ev("start")).unwrap();
        file.write_all(&line[..10]).unwrap();
        assert!(f.poll().is_empty(), "half a line waits");
        file.write_all(&line[10..]).unwrap();
        file.write_all(b"\n").unwrap();
        let got: Vec<_> = f.poll().into_iter().map(|e| e.action).collect();
        assert_eq!(got, ["start"]);
    }
}
