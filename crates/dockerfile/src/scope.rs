//! ARG and ENV scoping, as buildkit does it.
//!
//! * [`GlobalScope`]: the automatic platform ARGs (`BUILDPLATFORM`, `BUILDOS`,
//!   `BUILDARCH`, `BUILDVARIANT`, `TARGETPLATFORM`, `TARGETOS`, `TARGETARCH`,
//!   `TARGETVARIANT`) and the ARGs before the first FROM. Only FROM lines see
//!   them ([`GlobalScope::expand_from`]).
//! * [`StageScope`]: one stage's variables. An `ARG name` without default
//!   inherits the global value of the same name (that is how a stage uses a
//!   meta ARG or a platform ARG); a `--build-arg` value beats a default;
//!   defaults are expanded with the stage's variables. ARG values and ENV both
//!   live in the stage environment (expansion, RUN) and a later one replaces an
//!   earlier one of the same name; only ENV goes into the image config.
//! * Which variables a step used ([`StageScope::args_used`]) and which build
//!   args every RUN carries ([`StageScope::build_args_in_use`]) feed the
//!   builder's cache key; [`GlobalScope::unconsumed_build_args`] gives docker's
//!   "build-args were not consumed" warning.

use crate::instructions::{ArgDecl, Command, ExpandError, Instruction, Location, MetaArg, Stage};
use crate::lexer::{Env, EnvList, LexError, Lexer};
use std::collections::{BTreeMap, BTreeSet};

/// An OS/architecture/variant triple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, `arm`, ...
    pub architecture: String,
    /// `v7` for 32-bit arm, empty when none.
    pub variant: String,
}

impl Platform {
    /// A platform from its parts.
    pub fn new(os: &str, architecture: &str, variant: &str) -> Self {
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: variant.to_string(),
        }
    }

    /// The platform this program runs on.
    pub fn host() -> Self {
        let (arch, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", ""),
            "aarch64" => ("arm64", ""),
            "arm" => ("arm", "v7"),
            "x86" => ("386", ""),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", ""),
            other => (other, ""),
        };
        Platform::new(std::env::consts::OS, arch, variant)
    }

    /// Parses `os/arch[/variant]`, normalising common aliases (`x86_64`,
    /// `aarch64`, `arm64/v8`).
    pub fn parse(text: &str) -> Result<Self, ScopeError> {
        let parts: Vec<String> = text.split('/').map(|p| p.to_ascii_lowercase()).collect();
        let (os, arch, variant) = match parts.as_slice() {
            [os, arch] => (os.as_str(), arch.as_str(), ""),
            [os, arch, variant] => (os.as_str(), arch.as_str(), variant.as_str()),
            _ => return Err(ScopeError::Platform(text.to_string())),
        };
        let (arch, variant) = match (arch, variant) {
            ("x86_64" | "x86-64", "") => ("amd64", ""),
            ("aarch64" | "arm64", "v8" | "") => ("arm64", ""),
            ("armhf", "") => ("arm", "v7"),
            ("armel", "") => ("arm", "v6"),
            ("arm", "") => ("arm", "v7"),
            ("i386", "") => ("386", ""),
            (a, v) => (a, v),
        };
        if os.is_empty() || arch.is_empty() {
            return Err(ScopeError::Platform(text.to_string()));
        }
        Ok(Platform::new(os, arch, variant))
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

/// Scoping failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// An ARG default or FROM line whose variables did not expand.
    #[error("{}:{}: {source}", location.file, location.position)]
    Lex {
        /// The instruction.
        location: Box<Location>,
        /// Why.
        source: LexError,
    },
    /// FROM expanded to nothing.
    #[error("{}:{}: base name ({base}) should not be blank (is the ARG it uses declared before the first FROM and given a value?)", location.file, location.position)]
    BlankBaseName {
        /// The FROM.
        location: Box<Location>,
        /// The unexpanded image.
        base: String,
    },
    /// Another instruction did not expand.
    #[error(transparent)]
    Expand(#[from] ExpandError),
    /// A platform that is not `os/arch[/variant]`.
    #[error("invalid platform {0:?} (write os/arch[/variant], e.g. linux/arm64 or linux/arm/v7)")]
    Platform(String),
}

/// The global scope: platform ARGs, meta ARGs, `--build-arg` values.
#[derive(Debug, Clone)]
pub struct GlobalScope {
    vars: EnvList,
    build_args: BTreeMap<String, String>,
    consumed: BTreeSet<String>,
}

/// A FROM line after expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedFrom {
    /// The image or stage reference.
    pub base_name: String,
    /// `--platform`, if given.
    pub platform: Option<String>,
    /// Global variables the line used.
    pub used: BTreeSet<String>,
}

impl GlobalScope {
    /// The global scope for a build on `build` producing `target` images, with
    /// the `--build-arg` values (which may also override the platform ARGs).
    pub fn new<I, K, V>(build_args: I, build: &Platform, target: &Platform) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let build_args: BTreeMap<String, String> = build_args
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let mut scope = GlobalScope {
            vars: EnvList::new(),
            build_args,
            consumed: BTreeSet::new(),
        };
        let defaults = [
            ("BUILDPLATFORM", build.to_string()),
            ("BUILDOS", build.os.clone()),
            ("BUILDARCH", build.architecture.clone()),
            ("BUILDVARIANT", build.variant.clone()),
            ("TARGETPLATFORM", target.to_string()),
            ("TARGETOS", target.os.clone()),
            ("TARGETARCH", target.architecture.clone()),
            ("TARGETVARIANT", target.variant.clone()),
        ];
        for (key, value) in defaults {
            let value = match scope.build_arg(key) {
                Some(v) => v,
                None => value,
            };
            scope.vars.set(key, &value);
        }
        scope
    }

    fn build_arg(&mut self, key: &str) -> Option<String> {
        let v = self.build_args.get(key).cloned();
        if v.is_some() {
            self.consumed.insert(key.to_string());
        }
        v
    }

    /// Declares the ARGs before the first FROM, in order.
    pub fn declare(&mut self, lexer: &Lexer, meta: &MetaArg) -> Result<(), ScopeError> {
        for decl in &meta.args {
            let inherited = self.vars.get(&decl.key).map(str::to_string);
            let build_arg = self.build_arg(&decl.key);
            let value =
                resolve_arg(lexer, decl, &self.vars, inherited, build_arg).map_err(|source| {
                    ScopeError::Lex {
                        location: Box::new(meta.location.clone()),
                        source,
                    }
                })?;
            if let Some(v) = value {
                self.vars.set(&decl.key, &v);
            }
        }
        Ok(())
    }

    /// Expands a stage's FROM line (image and `--platform`) with the global
    /// variables only.
    pub fn expand_from(&self, lexer: &Lexer, stage: &Stage) -> Result<ResolvedFrom, ScopeError> {
        let located = |source| ScopeError::Lex {
            location: Box::new(stage.location.clone()),
            source,
        };
        let base = lexer
            .process(&stage.base_name, &self.vars)
            .map_err(located)?;
        if base.result.is_empty() {
            return Err(ScopeError::BlankBaseName {
                location: Box::new(stage.location.clone()),
                base: stage.base_name.clone(),
            });
        }
        let mut used = base.matched;
        let platform = match &stage.platform {
            Some(p) => {
                let e = lexer.process(p, &self.vars).map_err(located)?;
                used.extend(e.matched);
                Some(e.result)
            }
            None => None,
        };
        Ok(ResolvedFrom {
            base_name: base.result,
            platform,
            used,
        })
    }

    /// A global variable.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name)
    }

    /// All global variables, in order.
    pub fn vars(&self) -> &EnvList {
        &self.vars
    }

    /// `--build-arg` names no ARG (global or in `stages`) declared, sorted;
    /// the proxy variables are predefined and never reported.
    pub fn unconsumed_build_args(&self, stages: &[&StageScope]) -> Vec<String> {
        let used: BTreeSet<&String> = stages
            .iter()
            .flat_map(|s| s.consumed.iter())
            .chain(&self.consumed)
            .collect();
        self.build_args
            .keys()
            .filter(|k| !used.contains(k) && !is_proxy_arg(k))
            .cloned()
            .collect()
    }

    /// The proxy build args (`HTTP_PROXY`, `https_proxy`, `NO_PROXY`, ...):
    /// docker gives them to every RUN without an ARG, and keeps them out of the
    /// cache key and the image.
    pub fn proxy_env(&self) -> Vec<(String, String)> {
        self.build_args
            .iter()
            .filter(|(k, _)| is_proxy_arg(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

fn is_proxy_arg(name: &str) -> bool {
    [
        "http_proxy",
        "https_proxy",
        "ftp_proxy",
        "no_proxy",
        "all_proxy",
    ]
    .iter()
    .any(|p| name.eq_ignore_ascii_case(p))
}

/// The value an ARG gets: a build arg beats everything; without default the
/// inherited (global or earlier) value; otherwise the default, expanded.
fn resolve_arg(
    lexer: &Lexer,
    decl: &ArgDecl,
    env: &EnvList,
    inherited: Option<String>,
    build_arg: Option<String>,
) -> Result<Option<String>, LexError> {
    if let Some(v) = build_arg {
        return Ok(Some(v));
    }
    match &decl.value {
        Some(default) => lexer.process_word(default, env).map(Some),
        None => Ok(inherited),
    }
}

/// One stage's variables.
#[derive(Debug, Clone, Default)]
pub struct StageScope {
    env: EnvList,
    image_env: EnvList,
    args: Vec<(String, Option<String>)>,
    consumed: BTreeSet<String>,
}

impl StageScope {
    /// A stage on a base image whose config has `base_env`.
    pub fn new(base_env: EnvList) -> Self {
        StageScope {
            env: base_env.clone(),
            image_env: base_env,
            args: Vec::new(),
            consumed: BTreeSet::new(),
        }
    }

    /// Declares ARGs inside the stage.
    pub fn declare_args(
        &mut self,
        lexer: &Lexer,
        decls: &[ArgDecl],
        global: &GlobalScope,
        location: &Location,
    ) -> Result<(), ScopeError> {
        for decl in decls {
            let build_arg = global.build_args.get(&decl.key).cloned();
            if build_arg.is_some() {
                self.consumed.insert(decl.key.clone());
            }
            let inherited = global.get(&decl.key).map(str::to_string);
            let value =
                resolve_arg(lexer, decl, &self.env, inherited, build_arg).map_err(|source| {
                    ScopeError::Lex {
                        location: Box::new(location.clone()),
                        source,
                    }
                })?;
            if let Some(v) = &value {
                self.env.set(&decl.key, v);
            }
            // A re-declared ARG keeps its first place (buildkit's cache key order).
            match self.args.iter_mut().find(|(k, _)| k == &decl.key) {
                Some(slot) => slot.1 = value,
                None => self.args.push((decl.key.clone(), value)),
            }
        }
        Ok(())
    }

    /// Sets an ENV variable (already expanded).
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.set(key, value);
        self.image_env.set(key, value);
    }

    /// Handles one command the way the builder must before running it: ARGs
    /// are declared, everything else is expanded in place and ENV applied.
    /// Returns the variables the command used.
    pub fn dispatch(
        &mut self,
        lexer: &Lexer,
        cmd: &mut Command,
        global: &GlobalScope,
    ) -> Result<BTreeSet<String>, ScopeError> {
        if let Instruction::Arg(decls) = &cmd.instruction {
            let decls = decls.clone();
            self.declare_args(lexer, &decls, global, &cmd.location)?;
            return Ok(decls.into_iter().map(|d| d.key).collect());
        }
        let used = cmd.expand(lexer, &self.env)?;
        if let Instruction::Env(kvs) = &cmd.instruction {
            for kv in kvs {
                self.set_env(&kv.key, &kv.value);
            }
        }
        Ok(used)
    }

    /// The stage environment: base image env, ENVs and ARG values (what
    /// expansion and RUN see).
    pub fn env(&self) -> &EnvList {
        &self.env
    }

    /// The environment for the image config (ENV only, no ARGs).
    pub fn image_env(&self) -> &EnvList {
        &self.image_env
    }

    /// ARGs declared in this stage that have a value, with the value RUN sees
    /// (an ENV of the same name wins), in declaration order. buildkit makes
    /// these part of every RUN's cache key.
    pub fn build_args_in_use(&self) -> Vec<(String, String)> {
        self.args
            .iter()
            .filter_map(|(k, v)| {
                let current = self.env.get(k).map(str::to_string).or_else(|| v.clone())?;
                Some((k.clone(), current))
            })
            .collect()
    }

    /// Of the variables a step used, those that are ARGs of this stage.
    pub fn args_used(&self, used: &BTreeSet<String>) -> BTreeSet<String> {
        used.iter()
            .filter(|u| self.args.iter().any(|(k, _)| k == *u))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests;
