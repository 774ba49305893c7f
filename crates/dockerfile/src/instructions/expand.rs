//! Variable expansion of typed instructions, as buildkit does before running
//! each one: ADD/COPY (sources, destination, --chown, --chmod, --checksum,
//! --from, unquoted heredoc bodies), ENV and LABEL (names and values), EXPOSE
//! (may split into several ports), STOPSIGNAL, USER, VOLUME, WORKDIR and the
//! values of RUN --mount. ARG and FROM are expanded by [`crate::scope`]; RUN,
//! CMD, ENTRYPOINT, SHELL and HEALTHCHECK are left to the shell at run time;
//! ONBUILD triggers are stored as written and expanded when they run in a
//! build FROM this image; MAINTAINER is never expanded.

use super::mount::MountError;
use super::{Command, Instruction, Location, SourceContent};
use crate::lexer::{Env, LexError, Lexer};
use std::collections::BTreeSet;

/// An instruction whose variables could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{}: {kind}", location.file, location.position)]
pub struct ExpandError {
    /// The instruction (boxed to keep `Result`s small).
    pub location: Box<Location>,
    /// What failed.
    pub kind: ExpandErrorKind,
}

/// What failed while expanding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandErrorKind {
    /// A word did not expand.
    #[error(transparent)]
    Lex(#[from] LexError),
    /// A `--mount` value is invalid once expanded.
    #[error("invalid --mount: {0}")]
    Mount(#[from] MountError),
}

struct Expander<'a> {
    lexer: &'a Lexer,
    env: &'a dyn Env,
    used: BTreeSet<String>,
}

impl Expander<'_> {
    fn word(&mut self, s: &mut String) -> Result<(), LexError> {
        let e = self.lexer.process(s, self.env)?;
        self.used.extend(e.matched);
        *s = e.result;
        Ok(())
    }

    fn all(&mut self, items: &mut [String]) -> Result<(), LexError> {
        items.iter_mut().try_for_each(|s| self.word(s))
    }

    fn opt(&mut self, s: &mut Option<String>) -> Result<(), LexError> {
        s.as_mut().map_or(Ok(()), |s| self.word(s))
    }

    /// Heredoc bodies keep quotes: only variables (and escapes) are processed.
    fn contents(&mut self, contents: &mut [SourceContent]) -> Result<(), LexError> {
        let raw = Lexer::new('\\').skip_process_quotes(true);
        for c in contents.iter_mut().filter(|c| c.expand) {
            let e = raw.process(&c.data, self.env)?;
            self.used.extend(e.matched);
            c.data = e.result;
        }
        Ok(())
    }
}

impl Command {
    /// Expands this instruction's variables from `env` (the stage's variables
    /// at this point), in place. Returns the names of the variables that were
    /// set and used, for the build cache's "build args in use".
    pub fn expand(
        &mut self,
        lexer: &Lexer,
        env: &dyn Env,
    ) -> Result<BTreeSet<String>, ExpandError> {
        let mut x = Expander {
            lexer,
            env,
            used: BTreeSet::new(),
        };
        let located = |kind: ExpandErrorKind| ExpandError {
            location: Box::new(self.location.clone()),
            kind,
        };
        expand_instruction(&mut self.instruction, &mut x).map_err(located)?;
        Ok(x.used)
    }
}

fn expand_instruction(
    instruction: &mut Instruction,
    x: &mut Expander,
) -> Result<(), ExpandErrorKind> {
    match instruction {
        Instruction::Add(a) => {
            x.all(&mut a.sources)?;
            x.word(&mut a.dest)?;
            x.opt(&mut a.chown)?;
            x.opt(&mut a.chmod)?;
            x.opt(&mut a.checksum)?;
            x.contents(&mut a.contents)?;
        }
        Instruction::Copy(c) => {
            x.all(&mut c.sources)?;
            x.word(&mut c.dest)?;
            x.opt(&mut c.chown)?;
            x.opt(&mut c.chmod)?;
            x.opt(&mut c.from)?;
            x.contents(&mut c.contents)?;
        }
        Instruction::Env(kvs) | Instruction::Label(kvs) => {
            for kv in kvs {
                x.word(&mut kv.key)?;
                x.word(&mut kv.value)?;
            }
        }
        Instruction::Expose(ports) => {
            let mut out = Vec::new();
            for p in ports.iter() {
                let e = x.lexer.process(p, x.env)?;
                x.used.extend(e.matched);
                out.extend(e.words);
            }
            *ports = out;
        }
        Instruction::StopSignal(s) | Instruction::User(s) | Instruction::Workdir(s) => x.word(s)?,
        Instruction::Volume(v) => x.all(v)?,
        Instruction::Run(run) => {
            let mut resolved = Vec::new();
            for spec in &run.mounts {
                let mut used = BTreeSet::new();
                let mount = spec.resolve(&mut |w| {
                    let e = x.lexer.process(w, x.env)?;
                    used.extend(e.matched);
                    Ok(e.result)
                })?;
                x.used.extend(used);
                resolved.push(mount);
            }
            run.resolved_mounts = resolved;
        }
        Instruction::Arg(_)
        | Instruction::Cmd(_)
        | Instruction::Entrypoint(_)
        | Instruction::Healthcheck(_)
        | Instruction::Maintainer(_)
        | Instruction::Onbuild(_)
        | Instruction::Shell(_) => {}
    }
    Ok(())
}
