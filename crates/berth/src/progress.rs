//! Drawing a pull's or push's progress: one bar per layer with bytes and rate on a
//! terminal (like docker), one plain line per state change otherwise.

use berth_registry::Progress;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

/// What to draw for this invocation: nothing with `-q`, bars on a terminal.
/// `verb` names the transfer: Downloading or Pushing.
pub fn for_stdout(quiet: bool, verb: &'static str) -> Arc<dyn Progress> {
    if quiet {
        Arc::new(berth_registry::Silent)
    } else {
        drawn(false, verb)
    }
}

/// For `run`/`create`, whose stdout belongs to the container id: progress on stderr.
pub fn for_stderr() -> Arc<dyn Progress> {
    drawn(true, "Downloading")
}

/// Bars when the stream is a terminal, plain lines otherwise.
fn drawn(stderr: bool, verb: &'static str) -> Arc<dyn Progress> {
    let (terminal, target) = if stderr {
        (
            std::io::stderr().is_terminal(),
            ProgressDrawTarget::stderr(),
        )
    } else {
        (
            std::io::stdout().is_terminal(),
            ProgressDrawTarget::stdout(),
        )
    };
    if terminal {
        Arc::new(Bars::new(target, verb))
    } else {
        Arc::new(Lines { stderr, verb })
    }
}

struct Bars {
    verb: &'static str,
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    fn new(target: ProgressDrawTarget, verb: &'static str) -> Self {
        Bars {
            verb,
            multi: MultiProgress::with_draw_target(target),
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn bar(&self, id: &str) -> ProgressBar {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        bars.entry(id.to_string())
            .or_insert_with(|| {
                let b = self.multi.add(ProgressBar::new(0));
                b.set_style(
                    ProgressStyle::with_template(
                        "{prefix}: {msg:<16} {bar:30} {bytes:>10}/{total_bytes:<10} {bytes_per_sec}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                b.set_prefix(id.to_string());
                b
            })
            .clone()
    }

    fn done(&self, id: &str, what: &str) {
        let b = self.bar(id);
        b.set_style(
            ProgressStyle::with_template("{prefix}: {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b.finish_with_message(what.to_string());
    }
}

impl Progress for Bars {
    fn exists(&self, id: &str) {
        self.done(id, "Already exists");
    }
    fn start(&self, id: &str, total: u64, from: u64) {
        let b = self.bar(id);
        b.set_length(total);
        b.set_position(from);
        b.reset_eta();
        b.set_message(if from > 0 { "Resuming" } else { self.verb });
    }
    fn advance(&self, id: &str, done: u64) {
        self.bar(id).set_position(done);
    }
    fn finish(&self, id: &str, what: &str) {
        self.done(id, what);
    }
    fn note(&self, id: &str, what: &str) {
        self.bar(id).set_message(what.to_string());
    }
}

/// Plain lines for logs and pipes: `<id>: <state>`.
struct Lines {
    stderr: bool,
    verb: &'static str,
}

impl Lines {
    fn line(&self, id: &str, what: &str) {
        if self.stderr {
            eprintln!("{id}: {what}");
        } else {
            println!("{id}: {what}");
        }
    }
}

impl Progress for Lines {
    fn exists(&self, id: &str) {
        self.line(id, "Already exists");
    }
    fn start(&self, id: &str, total: u64, from: u64) {
        if from > 0 {
            self.line(id, &format!("Resuming download at {from} of {total} bytes"));
        } else {
            self.line(id, &format!("{} {total} bytes", self.verb));
        }
    }
    fn advance(&self, _: &str, _: u64) {}
    fn finish(&self, id: &str, what: &str) {
        self.line(id, what);
    }
    fn note(&self, id: &str, what: &str) {
        self.line(id, what);
    }
}
