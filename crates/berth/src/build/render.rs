//! Build progress on stderr, as docker shows it: on a terminal one line per
//! step with its time (`=> CACHED [2/5] COPY …   0.0s`) and the output of a
//! running step dimmed below it; otherwise buildkit's plain lines (`#3 [2/5]
//! RUN make`, `#3 0.215 output`, `#3 DONE 0.3s`). Nothing with `-q`.

use berth_build::progress::{Progress, StepId};
use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

/// How progress is shown (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Tty,
    Plain,
    Quiet,
}

impl Mode {
    /// `auto` picks tty when stderr is a terminal.
    pub fn parse(s: &str, quiet: bool) -> anyhow::Result<Mode> {
        use std::io::IsTerminal;
        if quiet {
            return Ok(Mode::Quiet);
        }
        Ok(match s {
            "auto" if std::io::stderr().is_terminal() => Mode::Tty,
            "auto" | "plain" => Mode::Plain,
            "tty" => Mode::Tty,
            "quiet" => Mode::Quiet,
            other => anyhow::bail!("invalid --progress {other:?}: use auto, plain, tty or quiet"),
        })
    }
}

struct Step {
    name: String,
    started: Instant,
    /// Output not yet ending in a newline.
    partial: Vec<u8>,
    /// Its header line is out (tty, once it printed output).
    shown: bool,
    cached: bool,
}

pub struct Render {
    mode: Mode,
    steps: HashMap<StepId, Step>,
    started: Instant,
    count: usize,
    out: Box<dyn Write>,
    width: usize,
}

impl Render {
    pub fn new(mode: Mode) -> Render {
        let width = berth_engine::client::window_size()
            .map_or(80, |(_, c)| c as usize)
            .max(40);
        Render {
            mode,
            steps: HashMap::new(),
            started: Instant::now(),
            count: 0,
            out: Box::new(std::io::stderr()),
            width,
        }
    }

    /// The closing line on a terminal.
    pub fn finish(&mut self, ok: bool) {
        if self.mode == Mode::Tty {
            let state = if ok { "FINISHED" } else { "ERROR" };
            let secs = self.started.elapsed().as_secs_f64();
            let _ = writeln!(
                self.out,
                "[+] Building {secs:.1}s ({n}/{n}) {state}",
                n = self.count
            );
        }
    }

    fn line(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
    }

    /// ` => name ... 0.2s`, the time at the right edge.
    fn tty_line(&mut self, prefix: &str, name: &str, elapsed: Duration) {
        let time = format!("{:.1}s", elapsed.as_secs_f64());
        let head = format!(" => {prefix}{name}");
        let room = self.width.saturating_sub(time.len() + 1);
        let head: String = match head.chars().count() > room {
            true => {
                head.chars()
                    .take(room.saturating_sub(3))
                    .collect::<String>()
                    + "..."
            }
            false => head,
        };
        let pad = self.width.saturating_sub(head.chars().count() + time.len());
        self.line(&format!("{head}{}{time}", " ".repeat(pad.max(1))));
    }

    fn flush_output(&mut self, id: StepId, all: bool) {
        let Some(step) = self.steps.get_mut(&id) else {
            return;
        };
        let mut lines = Vec::new();
        while let Some(pos) = step.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = step.partial.drain(..=pos).collect();
            lines.push(String::from_utf8_lossy(&line[..line.len() - 1]).into_owned());
        }
        if all && !step.partial.is_empty() {
            lines.push(String::from_utf8_lossy(&std::mem::take(&mut step.partial)).into_owned());
        }
        let elapsed = step.started.elapsed().as_secs_f64();
        let header = (!step.shown && !lines.is_empty()).then(|| step.name.clone());
        if header.is_some() {
            step.shown = true;
        }
        if let (Mode::Tty, Some(name)) = (self.mode, header) {
            self.line(&format!(" => {name}"));
        }
        for l in lines {
            match self.mode {
                Mode::Tty => self.line(&format!("\x1b[2m => => # {l}\x1b[0m")),
                Mode::Plain => self.line(&format!("#{id} {elapsed:.3} {l}")),
                Mode::Quiet => {}
            }
        }
    }
}

impl Progress for Render {
    fn start(&mut self, id: StepId, name: &str) {
        self.count += 1;
        self.steps.insert(
            id,
            Step {
                name: name.to_string(),
                started: Instant::now(),
                partial: Vec::new(),
                shown: false,
                cached: false,
            },
        );
        if self.mode == Mode::Plain {
            self.line(&format!("#{id} {name}"));
        }
    }

    fn cached(&mut self, id: StepId) {
        let name = self
            .steps
            .get(&id)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        match self.mode {
            Mode::Plain => self.line(&format!("#{id} CACHED\n")),
            Mode::Tty => self.tty_line("CACHED ", &name, Duration::ZERO),
            Mode::Quiet => {}
        }
        if let Some(s) = self.steps.get_mut(&id) {
            s.cached = true; // done() prints nothing more
        }
    }

    fn output(&mut self, id: StepId, data: &[u8]) {
        if let Some(s) = self.steps.get_mut(&id) {
            s.partial.extend_from_slice(data);
        }
        self.flush_output(id, false);
    }

    fn note(&mut self, id: StepId, text: &str) {
        match self.mode {
            Mode::Plain => self.line(&format!("#{id} {text}")),
            Mode::Tty => self.line(&format!(" => => {text}")),
            Mode::Quiet => {}
        }
    }

    fn done(&mut self, id: StepId, elapsed: Duration) {
        self.flush_output(id, true);
        let Some(step) = self.steps.remove(&id) else {
            return;
        };
        match self.mode {
            _ if step.cached => {}
            Mode::Plain => self.line(&format!("#{id} DONE {:.1}s\n", elapsed.as_secs_f64())),
            Mode::Tty => self.tty_line("", &step.name, elapsed),
            Mode::Quiet => {}
        }
    }

    fn failed(&mut self, id: StepId, error: &str) {
        self.flush_output(id, true);
        let Some(step) = self.steps.remove(&id) else {
            return;
        };
        let elapsed = step.started.elapsed();
        match self.mode {
            Mode::Plain => self.line(&format!("#{id} ERROR: {error}\n")),
            Mode::Tty => {
                self.tty_line("ERROR ", &step.name, elapsed);
            }
            Mode::Quiet => {}
        }
    }

    fn warning(&mut self, text: &str) {
        if self.mode != Mode::Quiet {
            self.line(&format!("WARNING: {text}"));
        }
    }
}
