//! The session side of `run` (`-a`, `--sig-proxy`, `--detach-keys`) and
//! `--cidfile` for `run` and `create`.

use crate::args::{RunArgs, RunSessionFlags};
use crate::runflags::CidFile;
use anyhow::{bail, Result};
use berth_engine::usecase::{AttachStreams, OnCreated};
use berth_engine::EngineError;
use std::os::fd::AsFd;

/// Which of the three streams `-a` names (all but stdin when it names none).
struct Attached {
    stdin: bool,
    stdout: bool,
    stderr: bool,
}

fn attached(s: &RunSessionFlags, interactive: bool) -> Attached {
    if s.attach.is_empty() {
        return Attached {
            stdin: interactive,
            stdout: true,
            stderr: true,
        };
    }
    let has = |n: &str| s.attach.iter().any(|a| a.eq_ignore_ascii_case(n));
    Attached {
        stdin: has("stdin"),
        stdout: has("stdout"),
        stderr: has("stderr"),
    }
}

/// Refuses combinations docker refuses, and parses the detach keys.
pub fn check(a: &RunArgs) -> Result<Option<Vec<u8>>> {
    if a.detach && !a.session.attach.is_empty() {
        bail!("conflicting options: -a and -d (a detached container has nothing attached)");
    }
    let keys = a
        .session
        .detach_keys
        .as_deref()
        .unwrap_or(berth_engine::detachkeys::DEFAULT);
    Ok(Some(berth_engine::detachkeys::parse(keys)?))
}

/// `-a stdin` keeps the container's stdin open, as `-i` does (docker).
pub fn wants_stdin(a: &RunArgs) -> bool {
    attached(&a.session, a.create.interactive).stdin
}

/// The CLI's own streams as `-a`, `--sig-proxy` and `--detach-keys` say.
pub fn with_session_streams<T>(
    a: &RunArgs,
    detach_keys: Option<Vec<u8>>,
    f: impl FnOnce(AttachStreams) -> T,
) -> T {
    let which = attached(&a.session, a.create.interactive);
    let input = std::io::stdin();
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let (mut no_out, mut no_err) = (std::io::sink(), std::io::sink());
    f(AttachStreams {
        stdin: which.stdin.then(|| input.as_fd()),
        stdout: if which.stdout { &mut out } else { &mut no_out },
        stderr: if which.stderr { &mut err } else { &mut no_err },
        forward_signals: a.session.sig_proxy,
        detach_keys,
    })
}

/// `--cidfile`: the file made now, the id written once the container exists.
pub fn cidfile(path: Option<&str>) -> Result<Option<CidFile>> {
    path.map(CidFile::create).transpose()
}

/// The `run` hook that writes the id.
pub fn on_created<'a>(cid: Option<CidFile>) -> Option<OnCreated<'a>> {
    let cid = cid?;
    Some(Box::new(move |id: &str| {
        cid.write(id).map_err(|e| EngineError::Io {
            path: "--cidfile".into(),
            source: std::io::Error::other(format!("{e:#}")),
        })
    }))
}
