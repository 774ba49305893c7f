//! The monitor's side of the logs: each chunk of output becomes entries of the
//! container's log driver (json-file with rotation, the journal, or nothing).

use super::{rotated, LogConfig, LogDriver, JOURNAL_SOCKET};
use crate::model::Container;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

pub struct LogWriter {
    sink: Sink,
    attrs: BTreeMap<String, String>,
    /// Per stream (stdout, stderr): the first bytes of a UTF-8 character the last
    /// read ended in, kept for the next one (output that ends inside a character
    /// leaves those bytes out: they never were text).
    carry: [Vec<u8>; 2],
}

enum Sink {
    File(FileSink),
    Journal(Journal),
    Discard,
}

struct FileSink {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: Option<u64>,
    max_file: u32,
}

struct Journal {
    socket: UnixDatagram,
    /// The fields every entry carries (container id and name, attrs).
    fields: Vec<u8>,
}

impl LogWriter {
    /// Opens (creates) a json-file log with the default rotation, readable by root
    /// only: it holds whatever the container printed, secrets included.
    pub fn open(path: &Path) -> io::Result<Self> {
        Self::open_with(path, &LogConfig::default(), BTreeMap::new())
    }

    /// The writer the container's log settings ask for.
    pub fn for_container(path: &Path, c: &Container) -> io::Result<Self> {
        let config = &c.spec.host_config.log;
        let attrs = config.attrs(&c.spec.labels, &c.spec.env);
        match config.driver {
            LogDriver::JsonFile => Self::open_with(path, config, attrs),
            LogDriver::None => Ok(LogWriter {
                sink: Sink::Discard,
                attrs,
                carry: Default::default(),
            }),
            LogDriver::Journald => Ok(LogWriter {
                sink: Sink::Journal(Journal::connect(Path::new(JOURNAL_SOCKET), c, &attrs)?),
                attrs,
                carry: Default::default(),
            }),
        }
    }

    pub(super) fn open_with(
        path: &Path,
        config: &LogConfig,
        attrs: BTreeMap<String, String>,
    ) -> io::Result<Self> {
        let file = crate::paths::open_private(path, true)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            sink: Sink::File(FileSink {
                path: path.to_path_buf(),
                file,
                size,
                max_size: config.max_size,
                max_file: config.max_file.max(1),
            }),
            attrs,
            carry: Default::default(),
        })
    }

    /// Writes one entry per line of output so `--tail` and timestamps work per line.
    /// `data` is one read of the container's output: a character it ends in the
    /// middle of is written with the next read of that stream.
    pub fn write(&mut self, stream: &str, data: &[u8]) -> io::Result<()> {
        let carry = &mut self.carry[usize::from(stream == "stderr")];
        let joined;
        let data = match carry.is_empty() {
            true => data,
            false => {
                carry.extend_from_slice(data);
                joined = std::mem::take(carry);
                &joined[..]
            }
        };
        let cut = incomplete_tail(data);
        carry.extend_from_slice(&data[cut..]);
        let text = String::from_utf8_lossy(&data[..cut]);
        match &mut self.sink {
            Sink::Discard => Ok(()),
            Sink::Journal(j) => j.send(stream, &text),
            Sink::File(f) => {
                let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
                let mut entries = Vec::new();
                for piece in text.split_inclusive('\n') {
                    let line = Entry {
                        log: piece,
                        stream,
                        time: &time,
                        attrs: &self.attrs,
                    };
                    let mut entry = serde_json::to_string(&line).map_err(io::Error::other)?;
                    entry.push('\n');
                    entries.push(entry);
                }
                f.write(&entries)
            }
        }
    }
}

/// Where a UTF-8 character that `data` ends in the middle of starts (its length if
/// it ends with a whole one, or with bytes that are not UTF-8 at all).
fn incomplete_tail(data: &[u8]) -> usize {
    let last_lead = (data.len().saturating_sub(3)..data.len())
        .rev()
        .find(|&i| data[i] & 0xC0 != 0x80);
    match last_lead.map(|i| (i, std::str::from_utf8(&data[i..]))) {
        Some((i, Err(e))) if e.error_len().is_none() => i,
        _ => data.len(),
    }
}

/// A [`super::LogLine`] as written, borrowing its fields: the monitor writes one per line
/// of output, and the attrs map and time are the same for every line of a chunk.
#[derive(serde::Serialize)]
struct Entry<'a> {
    log: &'a str,
    stream: &'a str,
    time: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    attrs: &'a BTreeMap<String, String>,
}

impl FileSink {
    /// Appends whole entries, rotating between two entries when the next would take
    /// the file past max-size (a file never ends in the middle of an entry, so a
    /// reader that finished the old file has read all of it). One chunk of output
    /// holds many lines: they are written in as few writes as the rotations allow.
    fn write(&mut self, entries: &[String]) -> io::Result<()> {
        let mut batch = String::new();
        for e in entries {
            let after = self.size + (batch.len() + e.len()) as u64;
            if self.max_size.is_some_and(|max| after > max) && self.size + batch.len() as u64 > 0 {
                self.append(batch.as_bytes())?;
                batch.clear();
                self.rotate()?;
            }
            batch.push_str(e);
        }
        self.append(batch.as_bytes())
    }

    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data)?;
        self.size += data.len() as u64;
        Ok(())
    }

    /// container.log.N-2 → .N-1, …, container.log → .1, then a new container.log.
    /// With max-file=1 the one file starts over, as docker's does.
    fn rotate(&mut self) -> io::Result<()> {
        let _readers = super::rotation_lock(&self.path, true)?;
        if self.max_file > 1 {
            // The files there are, not every number up to max-file: a large
            // max-file would cost a stat per number at each rotation.
            for (n, from) in super::rotated_numbered(&self.path) {
                if n + 1 < self.max_file {
                    std::fs::rename(&from, rotated(&self.path, n + 1))?;
                }
            }
            std::fs::rename(&self.path, rotated(&self.path, 1))?;
        } else {
            std::fs::remove_file(&self.path)?;
        }
        self.file = crate::paths::open_private(&self.path, true)?;
        self.size = 0;
        Ok(())
    }
}

impl Journal {
    fn connect(
        socket_path: &Path,
        c: &Container,
        attrs: &BTreeMap<String, String>,
    ) -> io::Result<Journal> {
        let socket = UnixDatagram::unbound()?;
        socket.connect(socket_path)?;
        let mut fields = Vec::new();
        let short = &c.id[..12.min(c.id.len())];
        for (k, v) in [
            ("CONTAINER_ID", short),
            ("CONTAINER_ID_FULL", c.id.as_str()),
            ("CONTAINER_NAME", c.name.as_str()),
            ("CONTAINER_TAG", short),
            ("SYSLOG_IDENTIFIER", short),
        ] {
            field(&mut fields, k, v);
        }
        for (k, v) in attrs {
            field(&mut fields, &journal_name(k), v);
        }
        Ok(Journal { socket, fields })
    }

    /// One datagram per line: MESSAGE and PRIORITY (info for stdout, err for
    /// stderr), after the container's fields.
    fn send(&self, stream: &str, text: &str) -> io::Result<()> {
        for line in text.lines() {
            let mut msg = self.fields.clone();
            field(
                &mut msg,
                "PRIORITY",
                if stream == "stderr" { "3" } else { "6" },
            );
            field(&mut msg, "MESSAGE", line);
            // A full journal drops the entry rather than stall the container.
            let _ = self.socket.send(&msg);
        }
        Ok(())
    }
}

/// A journal field in the native protocol: `KEY=value\n`, or the length-prefixed
/// form for a value holding a newline.
fn field(out: &mut Vec<u8>, key: &str, value: &str) {
    out.extend_from_slice(key.as_bytes());
    if value.contains('\n') {
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        out.push(b'=');
    }
    out.extend_from_slice(value.as_bytes());
    out.push(b'\n');
}

/// Journal field names are upper-case letters, digits and underscores.
fn journal_name(k: &str) -> String {
    let name: String = k
        .chars()
        .map(|c| match c.to_ascii_uppercase() {
            c @ ('A'..='Z' | '0'..='9') => c,
            _ => '_',
        })
        .collect();
    name.trim_start_matches(|c: char| c == '_' || c.is_ascii_digit())
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_entries_carry_the_container_and_its_attrs() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("socket");
        let journal = UnixDatagram::bind(&path).unwrap();
        let c = Container {
            id: "0123456789abcdef".into(),
            name: "web".into(),
            image_id: String::new(),
            created: String::new(),
            spec: Default::default(),
            state: Default::default(),
        };
        let attrs: BTreeMap<String, String> = [("tier".to_string(), "a".to_string())].into();
        let j = Journal::connect(&path, &c, &attrs).unwrap();
        j.send("stderr", "oops\nsecond\n").unwrap();
        let mut buf = [0u8; 4096];
        let n = journal.recv(&mut buf).unwrap();
        let first = String::from_utf8_lossy(&buf[..n]).into_owned();
        for field in [
            "CONTAINER_ID=0123456789ab\n",
            "CONTAINER_ID_FULL=0123456789abcdef\n",
            "CONTAINER_NAME=web\n",
            "TIER=a\n",
            "PRIORITY=3\n",
            "MESSAGE=oops\n",
        ] {
            assert!(first.contains(field), "{field:?} in {first:?}");
        }
        let n = journal.recv(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).contains("MESSAGE=second\n"));
    }

    #[test]
    fn entries_are_written_as_log_lines_serialize() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("log");
        for attrs in [BTreeMap::new(), [("k".into(), "v".into())].into()] {
            let mut w = LogWriter::open_with(&p, &LogConfig::default(), attrs.clone()).unwrap();
            w.write("stderr", b"a\"b\nc").unwrap();
            let text = std::fs::read_to_string(&p).unwrap();
            let mut lines = text.lines();
            for log in ["a\"b\n", "c"] {
                let got = lines.next().unwrap();
                let time = serde_json::from_str::<super::super::LogLine>(got)
                    .unwrap()
                    .time;
                let want = super::super::LogLine {
                    log: log.into(),
                    stream: "stderr".into(),
                    time,
                    attrs: attrs.clone(),
                };
                assert_eq!(got, serde_json::to_string(&want).unwrap());
            }
            std::fs::remove_file(&p).unwrap();
        }
    }

    #[test]
    fn journal_fields_use_the_native_format() {
        let mut out = Vec::new();
        field(&mut out, "MESSAGE", "hi");
        field(&mut out, "X", "a\nb");
        let mut want = b"MESSAGE=hi\nX\n".to_vec();
        want.extend_from_slice(&3u64.to_le_bytes());
        want.extend_from_slice(b"a\nb\n");
        assert_eq!(out, want);
        assert_eq!(journal_name("com.example.tier"), "COM_EXAMPLE_TIER");
        assert_eq!(journal_name("_x"), "X");
    }
}
