//! What the builder reports while it works. The CLI renders these events the
//! way docker does (one line per step with its time on a terminal, buildkit's
//! `#N` lines otherwise); the builder never prints.

use std::io::{self, Write};
use std::time::Duration;

/// A step's number (buildkit's `#N`), unique within a build.
pub type StepId = usize;

/// Receives the build's progress.
pub trait Progress {
    /// A step starts; `name` is docker's (`[stage 2/5] RUN make`).
    fn start(&mut self, id: StepId, name: &str);
    /// The step's result came from the cache.
    fn cached(&mut self, id: StepId);
    /// Output of the step's process.
    fn output(&mut self, id: StepId, data: &[u8]);
    /// A line of the step's own (`writing image sha256:…`).
    fn note(&mut self, id: StepId, text: &str);
    /// The step finished after `elapsed`.
    fn done(&mut self, id: StepId, elapsed: Duration);
    /// The step failed with `error`.
    fn failed(&mut self, id: StepId, error: &str);
    /// A warning about the Dockerfile or the build (unused build args, …).
    fn warning(&mut self, text: &str);
}

/// Discards everything (`-q`, tests).
pub struct Silent;

impl Progress for Silent {
    fn start(&mut self, _: StepId, _: &str) {}
    fn cached(&mut self, _: StepId) {}
    fn output(&mut self, _: StepId, _: &[u8]) {}
    fn note(&mut self, _: StepId, _: &str) {}
    fn done(&mut self, _: StepId, _: Duration) {}
    fn failed(&mut self, _: StepId, _: &str) {}
    fn warning(&mut self, _: &str) {}
}

/// A RUN step's output stream, forwarded to [`Progress::output`].
pub(crate) struct OutputSink<'a> {
    pub progress: &'a mut dyn Progress,
    pub id: StepId,
}

impl Write for OutputSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.progress.output(self.id, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
