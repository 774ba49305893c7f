//! Where `save` and `export` write their tar archive: a file (`-o`) or standard
//! output, never a terminal, and never half an archive left at the path.

use anyhow::{bail, Context, Result};
use std::io::{BufWriter, IsTerminal, Write};

/// Runs `write` on `path` or, without one, on standard output. A file is written
/// beside the target and renamed into place once complete, so a failed write
/// leaves nothing at `path` (and no earlier file there replaced).
pub fn write_archive(
    path: Option<&str>,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    let Some(path) = path else {
        let stdout = std::io::stdout();
        if stdout.is_terminal() {
            bail!("refusing to write a tar archive to a terminal: give -o FILE or redirect the output");
        }
        let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
        write(&mut out)?;
        return out
            .flush()
            .context("writing the archive to standard output");
    };
    let tmp = format!("{path}.berth-partial-{}", std::process::id());
    let file = std::fs::File::create(&tmp).with_context(|| format!("creating {tmp}"))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let written = write(&mut out)
        .and_then(|()| out.flush().with_context(|| format!("writing {tmp}")))
        .and_then(|()| {
            std::fs::rename(&tmp, path).with_context(|| format!("moving the archive to {path}"))
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_no_file_and_keeps_the_old_one() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("a.tar");
        let p = path.to_str().unwrap();
        write_archive(Some(p), |w| Ok(w.write_all(b"one")?)).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        let err = write_archive(Some(p), |w| {
            w.write_all(b"half")?;
            bail!("disk on fire")
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            1,
            "no partial file"
        );
    }
}
