//! FROM: a stage starts from an earlier stage, from `scratch`, or from an
//! image (whose ONBUILD triggers then run first).

use super::{stage_cmd, step_error, Builder, StageState};
use crate::error::{BuildError, StepError};
use crate::host::{BaseImage, PullPolicy};
use crate::image::{Image, RunConfig, DEFAULT_PATH};
use berth_dockerfile::instructions::{parse_command, Command, Location};
use berth_dockerfile::lexer::EnvList;
use berth_dockerfile::scope::{Platform, StageScope};

impl Builder<'_> {
    /// The state a stage starts from, and the ONBUILD triggers to run first.
    pub(super) fn base(&mut self, idx: usize) -> Result<(StageState, Vec<Command>), BuildError> {
        let stage = self.stages[idx].clone();
        let from = self.global.expand_from(&self.lexer, &stage)?;
        if let Some(p) = &from.platform {
            let wanted = Platform::parse(p)?;
            if wanted.os != self.platform.os || wanted.architecture != self.platform.architecture {
                return Err(BuildError::Platform {
                    requested: wanted.to_string(),
                    host: self.platform.to_string(),
                });
            }
        }
        let name = stage.name.clone();
        if let Some(j) = self.stage_index(&from.base_name, idx) {
            if from.base_name.parse::<usize>().is_err() {
                let mut state = self.stage(j)?;
                state.name = name;
                state.image.config.on_build.clear();
                state.step_no = 0;
                return Ok((state, Vec::new()));
            }
        }
        if from.base_name.eq_ignore_ascii_case("scratch") {
            return Ok((self.scratch(name), Vec::new()));
        }
        let mut state = StageState {
            name,
            image: Image::default(),
            layers: Vec::new(),
            scope: StageScope::default(),
            cmd_set: false,
            step_no: 0,
            // Counted properly once the triggers are known; FROM is step 1.
            step_total: 1 + stage
                .commands
                .iter()
                .filter(|c| super::dispatch::makes_step(c))
                .count(),
            last_created: None,
        };
        let step = self.start_step(&mut state, &format!("FROM {}", from.base_name));
        let pull = match self.opts.pull {
            true => PullPolicy::Always,
            false => PullPolicy::Missing,
        };
        let base = self
            .host
            .image(&from.base_name, pull)
            .map_err(|source| StepError::BaseImage {
                name: from.base_name.clone(),
                source,
            })
            .and_then(|b| self.check_platform(&from.base_name, b))
            .inspect_err(|e| self.progress.failed(step.0, &e.to_string()))
            .map_err(|e| step_error(stage_cmd(&stage), e))?;
        let triggers = onbuild_triggers(&base.config.config.on_build, &stage.location)
            .map_err(|e| step_error(stage_cmd(&stage), e))?;
        self.start_from_image(&mut state, base);
        self.progress.done(step.0, step.1.elapsed());
        Ok((state, triggers))
    }

    fn check_platform(&self, name: &str, base: BaseImage) -> Result<BaseImage, StepError> {
        let c = &base.config;
        let arch_ok = c.architecture.is_empty() || c.architecture == self.platform.architecture;
        let os_ok = c.os.is_empty() || c.os == self.platform.os;
        if arch_ok && os_ok {
            return Ok(base);
        }
        Err(StepError::BasePlatform {
            name: name.to_string(),
            platform: c.platform(),
            target: self.platform.to_string(),
        })
    }

    fn start_from_image(&self, state: &mut StageState, base: BaseImage) {
        let mut image = base.config;
        image.config.on_build.clear();
        image.os = self.platform.os.clone();
        image.architecture = self.platform.architecture.clone();
        image.variant = self.platform.variant.clone();
        image.rootfs.diff_ids = base.layers.iter().map(|l| l.diff_id.clone()).collect();
        state.scope = StageScope::new(EnvList::from_strings(&image.config.env));
        state.last_created = image.created.clone();
        state.image = image;
        state.layers = base.layers;
    }

    fn scratch(&self, name: Option<String>) -> StageState {
        let image = Image {
            architecture: self.platform.architecture.clone(),
            os: self.platform.os.clone(),
            variant: self.platform.variant.clone(),
            config: RunConfig {
                env: vec![DEFAULT_PATH.to_string()],
                ..RunConfig::default()
            },
            ..Image::default()
        };
        StageState {
            name,
            scope: StageScope::new(EnvList::from_strings(&image.config.env)),
            image,
            layers: Vec::new(),
            cmd_set: false,
            step_no: 0,
            step_total: 0,
            last_created: None,
        }
    }
}

/// The base image's ONBUILD triggers as commands of the new stage.
fn onbuild_triggers(triggers: &[String], at: &Location) -> Result<Vec<Command>, StepError> {
    let mut out = Vec::new();
    for trigger in triggers {
        let fail = |reason: String| StepError::Onbuild {
            trigger: trigger.clone(),
            reason,
        };
        let ast = berth_dockerfile::parse(trigger, &at.file).map_err(|e| fail(e.to_string()))?;
        let [node] = ast.children.as_slice() else {
            return Err(fail("an ONBUILD trigger must be one instruction".into()));
        };
        let keyword = node.keyword.to_ascii_uppercase();
        if matches!(keyword.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
            return Err(fail(format!(
                "{keyword} isn't allowed as an ONBUILD trigger"
            )));
        }
        let instruction = parse_command(node, &at.file).map_err(|e| fail(e.to_string()))?;
        out.push(Command {
            keyword: node.keyword.clone(),
            code: trigger.clone(),
            location: at.clone(),
            instruction,
        });
    }
    Ok(out)
}
