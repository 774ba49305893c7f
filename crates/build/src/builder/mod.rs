//! The build driver: stages are built on demand (the target, and the stages
//! it uses through FROM, `COPY --from` and `RUN --mount=from=`), each
//! instruction is dispatched in order, and steps that make layers go through
//! the cache ([`Builder::layer_step`]).

mod archive;
mod copy;
mod dispatch;
mod from;
mod run;
mod sources;

use crate::cache::{self, Cache, Record};
use crate::error::{BuildError, StepError};
use crate::host::{BuildHost, Layer};
use crate::image::{History, Image};
use crate::progress::{Progress, StepId};
use crate::statcache::StatCache;
use crate::{BuildOptions, ContextRoot};
use berth_dockerfile::instructions::{Command, Stage};
use berth_dockerfile::lexer::Lexer;
use berth_dockerfile::scope::{GlobalScope, Platform, StageScope};
use std::cell::RefCell;
use std::time::Instant;

/// What a layer step does on a cache miss: makes the layer (or none).
pub(crate) type StepWork<'w> =
    dyn FnMut(&mut Builder, &StageState, StepId) -> Result<Option<Layer>, StepError> + 'w;

/// The comment buildkit puts on every history entry it writes.
pub(crate) const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";

/// One stage while (and after) it is built.
#[derive(Debug, Clone)]
pub(crate) struct StageState {
    /// `AS name`, for step names.
    pub name: Option<String>,
    /// The image config being written (config, history, rootfs).
    pub image: Image,
    /// The layers so far, bottom first (`image.rootfs.diff_ids` in step).
    pub layers: Vec<Layer>,
    pub scope: StageScope,
    /// This stage set CMD (ENTRYPOINT then keeps it).
    pub cmd_set: bool,
    /// Steps shown for this stage, and how many there are.
    pub step_no: usize,
    pub step_total: usize,
    /// The time of the newest layer step (metadata entries take it, so a
    /// rebuild from the cache writes the same config).
    pub last_created: Option<String>,
}

impl StageState {
    /// The shell of shell-form commands.
    pub fn shell(&self) -> Vec<String> {
        match self.image.config.shell.is_empty() {
            true => vec!["/bin/sh".into(), "-c".into()],
            false => self.image.config.shell.clone(),
        }
    }

    /// The working directory (absolute; `/` when unset).
    pub fn workdir(&self) -> String {
        match self.image.config.working_dir.as_str() {
            "" => "/".into(),
            w => w.into(),
        }
    }

    /// Adds a history entry.
    pub fn history(&mut self, created_by: String, layer: bool, created: Option<String>) {
        self.image.history.push(History {
            created: created.or_else(|| self.last_created.clone()),
            created_by: Some(created_by),
            author: None,
            comment: Some(HISTORY_COMMENT.into()),
            empty_layer: !layer,
        });
    }

    /// The chain id of the layers so far.
    pub fn chain(&self) -> String {
        cache::chain_id(&self.layers)
    }
}

pub(crate) struct Builder<'a> {
    pub host: &'a mut dyn BuildHost,
    pub progress: &'a mut dyn Progress,
    pub opts: &'a BuildOptions,
    pub lexer: Lexer,
    pub global: GlobalScope,
    pub stages: Vec<Stage>,
    /// Built stages, by index.
    pub built: Vec<Option<StageState>>,
    /// Stages being built (a stage reached again is a cycle).
    pub building: Vec<bool>,
    pub cache: Cache,
    pub context: Option<ContextRoot>,
    /// Borrowed while the context root is (hashing reads through both).
    pub stat: RefCell<StatCache>,
    pub platform: Platform,
    pub next_step: StepId,
    /// The stage being dispatched (`--from` may only name earlier ones).
    pub current: usize,
}

impl<'a> Builder<'a> {
    /// The stage at `idx`, built if it was not yet.
    pub fn stage(&mut self, idx: usize) -> Result<StageState, BuildError> {
        if let Some(done) = &self.built[idx] {
            return Ok(done.clone());
        }
        if self.building[idx] {
            let stage = &self.stages[idx];
            return Err(step_error(
                stage_cmd(stage),
                StepError::StageCycle(stage.name.clone().unwrap_or_default()),
            ));
        }
        self.building[idx] = true;
        let outer = std::mem::replace(&mut self.current, idx);
        let result = self.build_stage(idx);
        self.current = outer;
        self.building[idx] = false;
        let state = result?;
        self.built[idx] = Some(state.clone());
        Ok(state)
    }

    fn build_stage(&mut self, idx: usize) -> Result<StageState, BuildError> {
        let (mut state, triggers) = self.base(idx)?;
        let commands: Vec<Command> = triggers
            .into_iter()
            .chain(self.stages[idx].commands.clone())
            .collect();
        state.step_total = 1 + commands.iter().filter(|c| dispatch::makes_step(c)).count();
        for cmd in commands {
            self.dispatch(&mut state, cmd)?;
        }
        Ok(state)
    }

    /// Writes the image: `--label`s added, created time set, registered
    /// under the tags.
    pub fn finish(&mut self, st: &mut StageState) -> Result<String, BuildError> {
        for (k, v) in &self.opts.labels {
            st.image.config.labels.insert(k.clone(), v.clone());
        }
        st.image.created = Some(st.last_created.clone().unwrap_or_else(crate::now));
        self.next_step += 1;
        let id = self.next_step;
        let started = Instant::now();
        self.progress.start(id, "exporting to image");
        let config = st.image.to_json();
        let image_id = self
            .host
            .register(&config, &st.layers, &self.opts.tags)
            .inspect_err(|e| self.progress.failed(id, &e.to_string()))
            .map_err(BuildError::Register)?;
        self.progress
            .note(id, &format!("writing image {image_id} done"));
        for t in &self.opts.tags {
            self.progress.note(id, &format!("naming to {t} done"));
        }
        self.progress.done(id, started.elapsed());
        Ok(image_id)
    }

    /// The index of a stage named `name` defined before stage `before`.
    pub fn stage_index(&self, name: &str, before: usize) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        if let Ok(n) = name.parse::<usize>() {
            return (n < before).then_some(n);
        }
        self.stages[..before]
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
    }

    /// Starts a shown step: `[stage 2/5] RUN make`.
    pub fn start_step(&mut self, st: &mut StageState, text: &str) -> (StepId, Instant) {
        self.next_step += 1;
        st.step_no += 1;
        let width = st.step_total.to_string().len();
        let stage = st
            .name
            .as_deref()
            .map(|n| format!("{n} "))
            .unwrap_or_default();
        let name = format!("[{stage}{:>width$}/{}] {text}", st.step_no, st.step_total);
        self.progress.start(self.next_step, &name);
        (self.next_step, Instant::now())
    }

    /// A step whose result is a layer: looked up in the cache by `inputs`
    /// (with the stage's layer chain), otherwise made by `work` and stored.
    /// Adds the layer and its history entry to the stage.
    pub fn layer_step(
        &mut self,
        st: &mut StageState,
        step: (StepId, Instant),
        inputs: serde_json::Value,
        created_by: String,
        work: &mut StepWork,
    ) -> Result<(), StepError> {
        let key = cache::key(&st.chain(), &inputs);
        self.keyed_step(st, step, key, created_by, work)
    }

    /// [`Builder::layer_step`] with the key already made (`COPY --link`
    /// leaves the layer chain out of it).
    pub fn keyed_step(
        &mut self,
        st: &mut StageState,
        step: (StepId, Instant),
        key: String,
        created_by: String,
        work: &mut StepWork,
    ) -> Result<(), StepError> {
        let (id, started) = step;
        let hit = self.cache.get(&key).filter(|r| self.usable(st, r));
        let record = match hit {
            Some(r) => {
                self.cache.touch(&key);
                self.progress.cached(id);
                r
            }
            None => {
                let layer = work(self, st, id)?;
                let chain = layer.as_ref().map(|l| {
                    let mut chain = st.layers.clone();
                    chain.push(l.clone());
                    cache::chain_id(&chain)
                });
                let record = Record {
                    layer,
                    created: crate::now(),
                    chain,
                };
                if let Err(e) = self.cache.put(&key, &record) {
                    self.progress
                        .warning(&format!("could not store the build cache entry: {e}"));
                }
                record
            }
        };
        if let Some(layer) = &record.layer {
            st.image.rootfs.diff_ids.push(layer.diff_id.clone());
            st.layers.push(layer.clone());
        }
        st.last_created = Some(record.created.clone());
        st.history(created_by, record.layer.is_some(), Some(record.created));
        self.progress.done(id, started.elapsed());
        Ok(())
    }

    /// A cached layer is only usable while the host still has it.
    fn usable(&self, st: &StageState, r: &Record) -> bool {
        match &r.layer {
            None => true,
            Some(l) => {
                let mut chain = st.layers.clone();
                chain.push(l.clone());
                self.host.has_layers(&chain)
            }
        }
    }
}

/// A step failure, located.
pub(crate) fn step_error(cmd: (&str, String), e: StepError) -> BuildError {
    BuildError::Step {
        at: cmd.1,
        instruction: cmd.0.to_string(),
        source: Box::new(e),
    }
}

/// The FROM line of a stage and where it is, for errors.
pub(crate) fn stage_cmd(stage: &Stage) -> (&str, String) {
    (
        stage.code.as_str(),
        format!("{}:{}", stage.location.file, stage.location.start_line),
    )
}

/// An instruction and where it is, for errors.
pub(crate) fn located(cmd: &Command) -> (&str, String) {
    (
        cmd.code.as_str(),
        format!("{}:{}", cmd.location.file, cmd.location.start_line),
    )
}
