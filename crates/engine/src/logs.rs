//! Container logs in docker's json-file format: one JSON object per chunk of output,
//! `{"log": …, "stream": "stdout"|"stderr", "time": RFC 3339 nanos}`.

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogLine {
    pub log: String,
    pub stream: String,
    pub time: String,
}

pub struct LogWriter {
    file: File,
}

impl LogWriter {
    /// Opens (creates) the log readable by root only: it holds whatever the
    /// container printed, secrets included.
    pub fn open(path: &Path) -> io::Result<Self> {
        Ok(LogWriter {
            file: crate::paths::open_private(path, true)?,
        })
    }

    /// Writes one entry per line of output so `--tail` and timestamps work per line.
    pub fn write(&mut self, stream: &str, data: &[u8]) -> io::Result<()> {
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let text = String::from_utf8_lossy(data);
        let mut out = String::new();
        for piece in text.split_inclusive('\n') {
            let line = LogLine {
                log: piece.to_string(),
                stream: stream.into(),
                time: time.clone(),
            };
            out.push_str(&serde_json::to_string(&line).map_err(io::Error::other)?);
            out.push('\n');
        }
        self.file.write_all(out.as_bytes())
    }
}

/// Reads every complete entry from `offset`; returns entries and the new offset.
pub fn read_from(path: &Path, offset: u64) -> io::Result<(Vec<LogLine>, u64)> {
    use std::io::Seek;
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((vec![], offset)),
        Err(e) => return Err(e),
    };
    file.seek(io::SeekFrom::Start(offset))?;
    let mut reader = BufReader::new(file);
    let mut entries = Vec::new();
    let mut pos = offset;
    let mut raw = String::new();
    loop {
        raw.clear();
        let n = reader.read_line(&mut raw)?;
        if n == 0 || !raw.ends_with('\n') {
            break; // a partial line is finished by the writer later
        }
        pos += n as u64;
        if let Ok(line) = serde_json::from_str::<LogLine>(raw.trim_end()) {
            entries.push(line);
        }
    }
    Ok((entries, pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_lines_and_reads_incrementally() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("log");
        let mut w = LogWriter::open(&p).unwrap();
        w.write("stdout", b"a\nb\n").unwrap();
        let (lines, off) = read_from(&p, 0).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].log, "b\n");
        w.write("stderr", b"partial").unwrap();
        let (lines, _) = read_from(&p, off).unwrap();
        assert_eq!(lines[0].stream, "stderr");
        assert_eq!(lines[0].log, "partial");
    }
}
