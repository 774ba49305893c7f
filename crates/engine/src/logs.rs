//! Container logs. The default driver is docker's json-file: one JSON object per
//! line of output, `{"log": …, "stream": "stdout"|"stderr", "time": RFC 3339 nanos}`
//! (plus `attrs` for `--log-opt labels=,env=`), rotated at `max-size` into
//! `container.log.1` … `container.log.<max-file − 1>` as docker names them.
//!
//! Unlike docker (whose json-file grows without bound unless told), berth caps every
//! container's log at [`DEFAULT_MAX_SIZE`] × [`DEFAULT_MAX_FILE`] (10 MiB × 3, podman's
//! and the docker docs' advice): a chatty container must not fill the disk.
//! `--log-opt max-size=-1` asks for docker's unbounded file.
//!
//! `--log-driver none` keeps nothing; `journald` sends each line to the systemd
//! journal over its native protocol socket, refused where the host runs no journal.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The default size at which a json-file log is rotated.
pub const DEFAULT_MAX_SIZE: u64 = 10 << 20;
/// The default number of files kept (the current one and two rotated ones).
pub const DEFAULT_MAX_FILE: u32 = 3;
/// The systemd journal's native protocol socket.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LogError {
    #[error("unknown --log-driver {0:?}: berth supports json-file (default), none and journald")]
    UnknownDriver(String),
    #[error("--log-driver journald: this host runs no systemd journal ({JOURNAL_SOCKET} is missing); use json-file (the default) or none")]
    NoJournal,
    #[error("invalid --log-opt {0:?}: use KEY=VALUE")]
    OptSyntax(String),
    #[error("unknown --log-opt {key:?} for the {driver} log driver: it takes {allowed}")]
    UnknownOpt {
        key: String,
        driver: &'static str,
        allowed: &'static str,
    },
    #[error("invalid --log-opt max-size={0:?}: use a size such as 10m, 512k or 1g (at least 1k), or -1 for no limit")]
    MaxSize(String),
    #[error("invalid --log-opt max-file={0:?}: use a whole number of files, 1 or more")]
    MaxFile(String),
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LogDriver {
    #[default]
    JsonFile,
    None,
    Journald,
}

impl LogDriver {
    pub fn as_str(&self) -> &'static str {
        match self {
            LogDriver::JsonFile => "json-file",
            LogDriver::None => "none",
            LogDriver::Journald => "journald",
        }
    }
}

/// `--log-driver` and `--log-opt`, checked.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct LogConfig {
    pub driver: LogDriver,
    /// Rotate past this many bytes; `None` never rotates (`max-size=-1`).
    pub max_size: Option<u64>,
    /// Files kept, the current one included.
    pub max_file: u32,
    /// Label names whose values go with every entry (`labels=`).
    pub labels: Vec<String>,
    /// Environment variable names whose values go with every entry (`env=`).
    pub env: Vec<String>,
    /// The options as the user gave them, for `inspect`.
    pub opts: BTreeMap<String, String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            driver: LogDriver::JsonFile,
            max_size: Some(DEFAULT_MAX_SIZE),
            max_file: DEFAULT_MAX_FILE,
            labels: vec![],
            env: vec![],
            opts: BTreeMap::new(),
        }
    }
}

/// docker's size units for max-size: k, m, g (powers of 1024), bytes without.
fn parse_size(s: &str) -> Option<u64> {
    let lower = s.trim().to_ascii_lowercase();
    let end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(end);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult).filter(|b| *b >= 1024)
}

impl LogConfig {
    /// Parses `--log-driver` and `--log-opt KEY=VALUE…`; journald only where the
    /// host runs a journal (`journal_present`).
    pub fn from_flags(
        driver: Option<&str>,
        opts: &[String],
        journal_present: bool,
    ) -> Result<LogConfig, LogError> {
        let driver = match driver.unwrap_or("json-file") {
            "json-file" | "" => LogDriver::JsonFile,
            "none" => LogDriver::None,
            "journald" if journal_present => LogDriver::Journald,
            "journald" => return Err(LogError::NoJournal),
            other => return Err(LogError::UnknownDriver(other.into())),
        };
        let mut c = LogConfig {
            driver,
            ..LogConfig::default()
        };
        let allowed = match driver {
            LogDriver::JsonFile => "max-size, max-file, labels and env",
            LogDriver::Journald => "labels and env",
            LogDriver::None => "no options",
        };
        let names = |v: &str| {
            v.split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        for o in opts {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| LogError::OptSyntax(o.clone()))?;
            match (driver, k) {
                (LogDriver::JsonFile, "max-size") => {
                    c.max_size = match v {
                        "-1" => None,
                        _ => Some(parse_size(v).ok_or_else(|| LogError::MaxSize(v.into()))?),
                    }
                }
                (LogDriver::JsonFile, "max-file") => {
                    c.max_file = v
                        .parse()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| LogError::MaxFile(v.into()))?
                }
                (LogDriver::JsonFile | LogDriver::Journald, "labels") => c.labels = names(v),
                (LogDriver::JsonFile | LogDriver::Journald, "env") => c.env = names(v),
                _ => {
                    return Err(LogError::UnknownOpt {
                        key: k.into(),
                        driver: driver.as_str(),
                        allowed,
                    })
                }
            }
            c.opts.insert(k.into(), v.into());
        }
        Ok(c)
    }

    /// The extra attributes of every entry: the named labels and env variables
    /// that the container has.
    pub fn attrs(
        &self,
        labels: &BTreeMap<String, String>,
        env: &[String],
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for l in &self.labels {
            if let Some(v) = labels.get(l) {
                out.insert(l.clone(), v.clone());
            }
        }
        for name in &self.env {
            let value = env
                .iter()
                .rev()
                .find_map(|e| e.strip_prefix(name.as_str())?.strip_prefix('='));
            if let Some(v) = value {
                out.insert(name.clone(), v.to_string());
            }
        }
        out
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogLine {
    pub log: String,
    pub stream: String,
    pub time: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
}

mod writer;
pub use writer::LogWriter;

/// The rotated files of `path`, oldest first (`container.log.2`, `.1`). Listed
/// from the directory rather than counted up from `.1`: while the writer renames
/// `.N` to `.N+1` (or was killed halfway through) there is a gap in the numbers,
/// and the older files beyond it are still part of the log.
pub fn rotated_files(path: &Path) -> Vec<PathBuf> {
    rotated_numbered(path).into_iter().map(|(_, p)| p).collect()
}

/// The rotated files of `path` with their numbers, highest (oldest) first.
fn rotated_numbered(path: &Path) -> Vec<(u32, PathBuf)> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return vec![];
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let mut numbered: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e
                .file_name()
                .to_str()?
                .strip_prefix(&prefix)?
                .parse()
                .ok()?;
            Some((n, e.path()))
        })
        .collect();
    numbered.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    numbered
}

fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Reads every complete entry from `offset`; returns entries and the new offset.
pub fn read_from(path: &Path, offset: u64) -> io::Result<(Vec<LogLine>, u64)> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((vec![], offset)),
        Err(e) => return Err(e),
    };
    file.seek(io::SeekFrom::Start(offset))?;
    let mut entries = Vec::new();
    let read = read_entries(&mut file, &mut entries)?;
    Ok((entries, offset + read))
}

/// Appends the complete entries readable from `r` to `out`; returns the bytes used
/// (a partial last line is left for the writer to finish).
fn read_entries(r: &mut impl Read, out: &mut Vec<LogLine>) -> io::Result<u64> {
    let mut reader = BufReader::new(r);
    let mut used = 0u64;
    let mut raw = String::new();
    loop {
        raw.clear();
        let n = reader.read_line(&mut raw)?;
        if n == 0 || !raw.ends_with('\n') {
            return Ok(used);
        }
        used += n as u64;
        if let Ok(line) = serde_json::from_str::<LogLine>(raw.trim_end()) {
            out.push(line);
        }
    }
}

/// Reads a log across its rotations and follows it (`logs -f`). The file being read
/// is held open: when the writer rotates it, the rest of it is still read through
/// the handle, then the next newer file, found by identity among the rotated ones
/// (so several rotations between two polls lose nothing that is still kept).
pub struct LogReader {
    path: PathBuf,
    file: Option<File>,
    pos: u64,
}

impl LogReader {
    /// Every entry so far, rotated files first, and a reader at their end.
    pub fn open(path: &Path) -> io::Result<(Vec<LogLine>, LogReader)> {
        let mut reader = LogReader {
            path: path.to_path_buf(),
            file: None,
            pos: 0,
        };
        let mut files = log_files(path)?;
        reader.file = files.pop();
        let mut lines = Vec::new();
        for mut f in files {
            read_entries(&mut f, &mut lines)?;
        }
        lines.extend(reader.poll()?);
        Ok((lines, reader))
    }

    /// The entries written since the last call, across rotations.
    pub fn poll(&mut self) -> io::Result<Vec<LogLine>> {
        let mut lines = Vec::new();
        loop {
            if self.file.is_none() {
                self.file = open_existing(&self.path)?;
                self.pos = 0;
            }
            let Some(f) = self.file.as_mut() else {
                return Ok(lines);
            };
            // Which files exist is looked at before reading: a file seen rotated
            // here is one the writer no longer writes, so the read below reaches
            // its true end (the writer writes whole entries). Looked at after the
            // read, a rotation in between would skip what was written just before.
            let files = log_files(&self.path)?;
            let at = files.iter().position(|o| same_file(o, f));
            f.seek(io::SeekFrom::Start(self.pos))?;
            self.pos += read_entries(f, &mut lines)?;
            let next = match at {
                Some(i) if i + 1 == files.len() => return Ok(lines), // still current
                Some(i) => i + 1,
                // Not among the names: dropped by the writer (no links left), so
                // go on with the oldest kept file; or caught mid-rename, so wait.
                None if is_unlinked(f) && !files.is_empty() => 0,
                None => return Ok(lines),
            };
            self.file = files.into_iter().nth(next);
            self.pos = 0;
        }
    }
}

/// Holds off rotations while held (shared by readers, exclusive by the writer's
/// rotation): a rotation renames every kept file in turn, and a reader opening the
/// files by name in the middle of it would get some of them twice and miss others.
/// A flock on the log's directory: no extra file, and the kernel drops it when a
/// holder dies (a writer killed mid-rotation blocks nobody).
fn rotation_lock(path: &Path, exclusive: bool) -> io::Result<File> {
    let dir = File::open(path.parent().unwrap_or(Path::new(".")))?;
    match exclusive {
        true => dir.lock()?,
        false => dir.lock_shared()?,
    }
    Ok(dir)
}

/// The log's files that exist now, oldest first, each once.
fn log_files(path: &Path) -> io::Result<Vec<File>> {
    let _rotations = rotation_lock(path, false)?;
    let mut out: Vec<File> = Vec::new();
    for p in rotated_files(path).into_iter().chain([path.to_path_buf()]) {
        if let Some(f) = open_existing(&p)? {
            if !out.iter().any(|o| same_file(o, &f)) {
                out.push(f);
            }
        }
    }
    Ok(out)
}

fn open_existing(path: &Path) -> io::Result<Option<File>> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn is_unlinked(f: &File) -> bool {
    f.metadata().is_ok_and(|m| m.nlink() == 0)
}

fn same_file(a: &File, b: &File) -> bool {
    match (a.metadata(), b.metadata()) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
