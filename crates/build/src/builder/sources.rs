//! Where COPY/ADD and `RUN --mount=type=bind` take files from: the build
//! context (with `.dockerignore`), an earlier stage, or an image, and how
//! their wildcards expand.

use super::run::Scratch;
use super::Builder;
use crate::error::StepError;
use crate::glob::{has_wildcards, unescape, Glob};
use crate::host::{Layer, PullPolicy, View};
use crate::ignore::Ignore;
use crate::paths;
use crate::tree::read::{scan, Filter, ReadError};
use berth_dockerfile::instructions::Mount;
use pathrs::flags::OpenFlags;
use pathrs::Root;
use serde_json::{json, Value};
use std::path::PathBuf;

/// A tree files are taken from.
pub(super) enum SourceRoot {
    /// The build context.
    Context,
    /// A stage or image, mounted read-only for the step; `chain` identifies its files.
    View {
        view: Box<dyn View>,
        root: Root,
        chain: String,
    },
}

impl Builder<'_> {
    /// The layers of `--from=` (an earlier stage by name or index, or an image).
    pub(super) fn layers_of(&mut self, from: &str) -> Result<Vec<Layer>, StepError> {
        let current = self.current;
        let is_stage = from.parse::<usize>().is_ok()
            || self
                .stages
                .iter()
                .any(|s| s.name.as_deref() == Some(from.to_ascii_lowercase().as_str()));
        if is_stage {
            let Some(j) = self.stage_index(from, current) else {
                return Err(StepError::StageOrder {
                    from: from.to_string(),
                });
            };
            let state = self.stage(j).map_err(|e| StepError::Onbuild {
                trigger: format!("--from={from}"),
                reason: e.to_string(),
            })?;
            self.current = current;
            return Ok(state.layers);
        }
        let pull = if self.opts.pull {
            PullPolicy::Always
        } else {
            PullPolicy::Missing
        };
        let base = self
            .host
            .image(from, pull)
            .map_err(|source| StepError::BaseImage {
                name: from.to_string(),
                source,
            })?;
        Ok(base.layers)
    }

    /// Opens the source root of a step: a view of `--from`, or the context.
    pub(super) fn source_root(&mut self, from: Option<&str>) -> Result<SourceRoot, StepError> {
        let Some(from) = from else {
            if self.context.is_none() {
                return Err(StepError::NoContext);
            }
            return Ok(SourceRoot::Context);
        };
        let layers = self.layers_of(from)?;
        let chain = crate::cache::chain_id(&layers);
        let view = self.host.view(&layers)?;
        let root = Root::open(view.root()).map_err(|e| StepError::Io {
            path: view.root().display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(SourceRoot::View { view, root, chain })
    }

    /// The pathrs root of a source.
    pub(super) fn root_of<'r>(&'r self, src: &'r SourceRoot) -> &'r Root {
        match src {
            SourceRoot::Context => &self.context.as_ref().expect("checked by source_root").root,
            SourceRoot::View { root, .. } => root,
        }
    }

    /// The ignore rules of a source (only the context has them).
    pub(super) fn ignore_of(&self, src: &SourceRoot) -> Option<&Ignore> {
        match src {
            SourceRoot::Context => self
                .context
                .as_ref()
                .map(|c| &c.ignore)
                .filter(|i| !i.is_empty()),
            SourceRoot::View { .. } => None,
        }
    }

    /// Expands a source path with wildcards into the matching paths (relative
    /// to the source root, sorted). A path without wildcards is returned as
    /// is; a wildcard matching nothing gives nothing (buildkit allows that).
    pub(super) fn expand(&self, src: &SourceRoot, pattern: &str) -> Result<Vec<String>, StepError> {
        let rel = paths::in_root(pattern);
        if !has_wildcards(&rel) {
            return Ok(vec![unescape(&rel)]);
        }
        let root = self.root_of(src);
        let mut current = vec![String::new()];
        for part in rel.split('/') {
            let mut next = Vec::new();
            for prefix in &current {
                if !has_wildcards(part) {
                    next.push(join(prefix, &unescape(part)));
                    continue;
                }
                let glob = Glob::new(part)?;
                for name in list_dir(root, prefix) {
                    if glob.matches(&name) {
                        next.push(join(prefix, &name));
                    }
                }
            }
            current = next;
        }
        if let Some(ig) = self.ignore_of(src) {
            current.retain(|p| !ig.matches_or_parent(p));
        }
        current.sort();
        Ok(current)
    }

    /// The host path and cache identity of a `RUN --mount=type=bind` source.
    /// Read-write binds get a private copy (writes are discarded, as in
    /// buildkit); so do context binds when `.dockerignore` hides files.
    pub(super) fn bind_source(
        &mut self,
        m: &Mount,
        scratch: &Scratch,
        views: &mut Vec<Box<dyn View>>,
    ) -> Result<(PathBuf, Value), StepError> {
        let src = self.source_root(m.from.as_deref())?;
        let path = paths::in_root(m.source.as_deref().unwrap_or("."));
        let root = self.root_of(&src);
        let filter = Filter {
            ignore: self.ignore_of(&src),
            exclude: None,
        };
        let key = match &src {
            SourceRoot::Context => {
                let entries = scan(root, &path, true, &filter)?;
                let ctx = self.context.as_ref().expect("context checked");
                let hash = crate::statcache::hash_entries(
                    &ctx.root,
                    &path,
                    &entries,
                    &mut self.stat.borrow_mut(),
                )?;
                json!({"context": path, "hash": hash})
            }
            SourceRoot::View { chain, .. } => json!({"from": chain, "path": path}),
        };
        let needs_copy = !m.read_only || filter.ignore.is_some();
        let host_path = match needs_copy {
            true => {
                let dest = scratch.dir.join(format!("bind-{}", crate::unique()));
                super::copy::copy_out(root, &path, &filter, &dest)?;
                dest
            }
            false => real_path(root, &path)?,
        };
        if let SourceRoot::View { view, .. } = src {
            views.push(view);
        }
        Ok((host_path, key))
    }
}

/// The names in directory `rel` of `root` (empty when it is not one).
fn list_dir(root: &Root, rel: &str) -> Vec<String> {
    let path = if rel.is_empty() { "." } else { rel };
    let Ok(f) = root.open_subpath(path, OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY) else {
        return Vec::new();
    };
    let Ok(dir) = nix::dir::Dir::from_fd(std::os::fd::IntoRawFd::into_raw_fd(f)) else {
        return Vec::new();
    };
    let mut dir = dir;
    dir.iter()
        .flatten()
        .map(|e| String::from_utf8_lossy(e.file_name().to_bytes()).into_owned())
        .filter(|n| n != "." && n != "..")
        .collect()
}

fn join(a: &str, b: &str) -> String {
    match a.is_empty() {
        true => b.to_string(),
        false => format!("{a}/{b}"),
    }
}

/// The host path of `rel` resolved inside `root` (symlinks followed inside
/// it), checked to be below the root's own path.
fn real_path(root: &Root, rel: &str) -> Result<PathBuf, StepError> {
    let shown = format!("/{rel}");
    let path = if rel.is_empty() { "." } else { rel };
    let handle = root
        .resolve(path)
        .map_err(|_| ReadError::NotFound(shown.clone()))?;
    let f = handle
        .reopen(OpenFlags::O_PATH)
        .map_err(|_| ReadError::NotFound(shown.clone()))?;
    let real = std::fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&f)
    ))
    .map_err(|source| StepError::Io {
        path: shown.clone(),
        source,
    })?;
    let top = root
        .resolve(".")
        .ok()
        .and_then(|h| h.reopen(OpenFlags::O_PATH).ok());
    let top = top
        .and_then(|t| {
            std::fs::read_link(format!(
                "/proc/self/fd/{}",
                std::os::fd::AsRawFd::as_raw_fd(&t)
            ))
            .ok()
        })
        .unwrap_or_default();
    if !real.starts_with(&top) || top.as_os_str().is_empty() {
        return Err(ReadError::NotFound(shown).into());
    }
    Ok(real)
}
