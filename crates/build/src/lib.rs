//! berth-build: builds images from Dockerfiles with docker's results and no
//! daemon.
//!
//! * The Dockerfile is read by `berth-dockerfile` (parser, typed
//!   instructions, ARG/ENV scoping); this crate runs it ([`build`]).
//! * Everything that touches the machine goes through the [`host::BuildHost`]
//!   trait: looking images up, mounting snapshots, running a RUN step as a
//!   container, committing a snapshot's changes as a layer, registering the
//!   image. The berth binary implements it on the engine; this crate never
//!   depends on the engine (DESIGN.md: dependencies point downward). It does
//!   use `berth-image` below it, for the passwd/group lookup a container start
//!   uses too ([`users`]), so `USER` and `--chown` resolve as `-u` does.
//! * COPY/ADD write into the snapshot themselves ([`tree::write`]): every
//!   destination is resolved inside the snapshot root (a base image's symlink
//!   such as `/etc -> /host/etc` resolves inside the image), and sources are
//!   read without leaving the context ([`tree::read`]; a symlink in the
//!   context is copied as a symlink).
//! * Layer steps (RUN, COPY, ADD, WORKDIR) are cached ([`cache`]) by the layer
//!   chain they ran on, the instruction after expansion, the environment
//!   (build args in use included) and, for COPY/ADD, the content of the
//!   sources, hashed through a stat cache ([`statcache`]).
//! * `builder prune` removes cache ([`prune`]): dangling entries (whose
//!   layer no image has), cache mounts and stat caches, or all entries;
//!   [`cache::recorded_layers`] tells an image GC which layers the cache
//!   still refers to.
//! * The image config and history are written as buildkit writes them
//!   (`RUN /bin/sh -c … # buildkit`, `empty_layer` for metadata steps).
//!
//! Departures from buildkit: stages run one after the other (never in
//! parallel); `RUN --mount=type=cache,sharing=private` shares the cache like
//! `shared`; `--chmod` takes octal modes only; bzip2/xz/zstd archives are not
//! unpacked by ADD (an error says so); cache mounts cannot be seeded with
//! `from=`.

mod builder;
pub mod cache;
pub mod error;
pub mod glob;
mod gofmt;
pub mod host;
pub mod ignore;
pub mod image;
pub mod paths;
pub mod ports;
pub mod progress;
pub mod prune;
pub mod statcache;
pub mod tree;
pub mod users;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

pub use error::{BuildError, StepError};
pub use host::BuildHost;
pub use progress::Progress;

use berth_dockerfile::instructions;
use berth_dockerfile::lexer::Lexer;
use berth_dockerfile::scope::{GlobalScope, Platform};
use builder::Builder;
use ignore::Ignore;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The build context: a directory, with its `.dockerignore` rules.
pub struct Context {
    pub dir: PathBuf,
    pub ignore: Ignore,
    /// Unpacked from a tar for this build only: no stat cache is kept.
    pub temporary: bool,
}

/// A build secret (`--secret id=…`).
#[derive(Debug, Clone)]
pub enum Secret {
    /// `src=FILE`, read when a RUN step uses it.
    File(PathBuf),
    /// `env=VAR`, the value taken when the build started.
    Value(Vec<u8>),
}

impl Secret {
    pub fn read(&self) -> std::io::Result<Vec<u8>> {
        match self {
            Secret::File(p) => std::fs::read(p),
            Secret::Value(v) => Ok(v.clone()),
        }
    }
}

/// What to build.
pub struct BuildOptions {
    pub dockerfile: Vec<u8>,
    /// For messages (`Dockerfile:3: …`).
    pub dockerfile_name: String,
    pub context: Option<Context>,
    /// `--build-arg` values.
    pub build_args: Vec<(String, String)>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
    /// `--label`, added to the image.
    pub labels: Vec<(String, String)>,
    /// `--platform`.
    pub platform: Option<String>,
    pub tags: Vec<String>,
    pub secrets: BTreeMap<String, Secret>,
    /// The network of RUN steps that do not say (`--network`).
    pub network: host::RunNetwork,
}

/// The context while a build reads it.
pub(crate) struct ContextRoot {
    pub root: pathrs::Root,
    pub ignore: Ignore,
}

/// Builds the image; returns its id.
pub fn build(
    host: &mut dyn BuildHost,
    progress: &mut dyn Progress,
    opts: &BuildOptions,
) -> Result<String, BuildError> {
    let ast = berth_dockerfile::parse_bytes(&opts.dockerfile, &opts.dockerfile_name)?;
    for w in &ast.warnings {
        progress.warning(&format!(
            "{}:{}: {}",
            opts.dockerfile_name, w.line, w.message
        ));
    }
    let (metas, stages) = instructions::parse_stages(&ast)?;
    if stages.is_empty() {
        return Err(BuildError::NoStages);
    }
    let platform = target_platform(opts.platform.as_deref())?;
    let lexer = Lexer::new(ast.escape);
    let mut global = GlobalScope::new(opts.build_args.clone(), &platform, &platform);
    for meta in &metas {
        global.declare(&lexer, meta)?;
    }
    let target = match &opts.target {
        None => stages.len() - 1,
        Some(t) => stages
            .iter()
            .position(|s| s.name.as_deref() == Some(t.to_ascii_lowercase().as_str()))
            .ok_or_else(|| BuildError::TargetNotFound {
                target: t.clone(),
                known: stages
                    .iter()
                    .filter_map(|s| s.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?,
    };
    let state_dir = host.state_dir();
    let (context, stat) = open_context(opts, &state_dir)?;
    let n = stages.len();
    let mut b = Builder {
        cache: cache::Cache::new(&state_dir, !opts.no_cache),
        stat: RefCell::new(stat),
        context,
        host,
        progress,
        opts,
        lexer,
        global,
        stages,
        built: vec![None; n],
        building: vec![false; n],
        platform,
        next_step: 0,
        current: target,
    };
    let result = b.stage(target);
    b.stat.borrow().save();
    let mut state = result?;
    let scopes: Vec<_> = b.built.iter().flatten().map(|s| s.scope.clone()).collect();
    let unused = b
        .global
        .unconsumed_build_args(&scopes.iter().collect::<Vec<_>>());
    if !unused.is_empty() {
        b.progress.warning(&format!(
            "[Warning] One or more build-args [{}] were not consumed",
            unused.join(" ")
        ));
    }
    b.finish(&mut state)
}

/// The platform this build is for: the host's (berth does not emulate).
fn target_platform(requested: Option<&str>) -> Result<Platform, BuildError> {
    let host = Platform::host();
    let Some(r) = requested else {
        return Ok(host);
    };
    let wanted = Platform::parse(r)?;
    if wanted.os != host.os || wanted.architecture != host.architecture {
        return Err(BuildError::Platform {
            requested: wanted.to_string(),
            host: host.to_string(),
        });
    }
    Ok(host)
}

fn open_context(
    opts: &BuildOptions,
    state_dir: &std::path::Path,
) -> Result<(Option<ContextRoot>, statcache::StatCache), BuildError> {
    let Some(ctx) = &opts.context else {
        return Ok((None, statcache::StatCache::memory()));
    };
    let root = pathrs::Root::open(&ctx.dir).map_err(|e| BuildError::Context {
        path: ctx.dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let stat = match ctx.temporary {
        true => statcache::StatCache::memory(),
        false => statcache::StatCache::load(state_dir, &ctx.dir),
    };
    Ok((
        Some(ContextRoot {
            root,
            ignore: ctx.ignore.clone(),
        }),
        stat,
    ))
}

/// Now, as docker writes times (RFC 3339, nanoseconds, UTC).
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// A name no other build on the machine uses at the same time.
pub(crate) fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}-{t}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The platform builds are for (the host's).
#[cfg(test)]
pub(crate) fn builder_platform() -> Platform {
    Platform::host()
}
