//! The builder's host on the engine: images come from the image store,
//! snapshots and views are overlay mounts of unpacked layers, RUN steps are
//! containers made through the engine's use cases, and the result is
//! registered like any image. This adapter lives in the binary crate so that
//! `berth-build` never depends on the engine (DESIGN.md).

use super::layer::{commit_upper, LayerError};
use super::mounts::{MountError, Overlay};
use berth_build::host::{
    BaseImage, BuildHost, Fetched, HostError, Layer, PullPolicy, RunResult, RunSpec, Snapshot, View,
};
use berth_build::image::Image;
use berth_engine::Engine;
use berth_image::Reference;
use oci_spec::image::{Descriptor, Digest, ImageManifestBuilder, MediaType};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum HostAdapterError {
    #[error("Unable to find image '{0}' locally: import it (berth import ROOTFS.tar {0}), build it, or pull it")]
    NotLocal(String),
    #[error("{0:#}")]
    Pull(anyhow::Error),
    #[error(transparent)]
    Store(#[from] berth_image::StoreError),
    #[error(transparent)]
    Blob(#[from] berth_image::blobs::BlobError),
    #[error("the config of image {id} is not valid JSON: {source}")]
    Config {
        id: String,
        source: serde_json::Error,
    },
    #[error("invalid tag {tag:?}: {source}")]
    Tag {
        tag: String,
        source: berth_image::reference::ReferenceError,
    },
    #[error("writing the image manifest: {0}")]
    Manifest(String),
    #[error(transparent)]
    Mount(#[from] MountError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error(transparent)]
    Engine(#[from] berth_engine::EngineError),
    #[error("downloading {url}: {reason}")]
    Fetch { url: String, reason: String },
}

fn host(e: impl Into<HostAdapterError>) -> HostError {
    HostError::new(e.into())
}

pub struct EngineHost<'e> {
    pub engine: &'e Engine,
    state: PathBuf,
}

impl<'e> EngineHost<'e> {
    pub fn new(engine: &'e Engine) -> EngineHost<'e> {
        EngineHost {
            state: engine.paths.root.join("build"),
            engine,
        }
    }

    /// The unpacked directories of a chain, top-most first (overlay order).
    pub fn lower_dirs(&self, layers: &[Layer]) -> Vec<PathBuf> {
        let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
        let mut dirs: Vec<PathBuf> = berth_image::chain_ids(&diff_ids)
            .iter()
            .map(|c| self.engine.images.layer_dir(c))
            .collect();
        dirs.reverse();
        dirs
    }

    fn mnt(&self) -> PathBuf {
        self.state.join("mnt")
    }
}

/// A working snapshot: an overlay with an upper directory.
pub struct EngineSnapshot {
    overlay: Overlay,
    store_root: PathBuf,
    parent: Vec<String>,
    lowers: Vec<PathBuf>,
}

impl Snapshot for EngineSnapshot {
    fn root(&self) -> &Path {
        &self.overlay.merged
    }

    fn commit(mut self: Box<Self>) -> Result<Option<Layer>, HostError> {
        self.overlay.unmount();
        commit_upper(
            &self.store_root,
            &self.overlay.upper,
            &self.lowers,
            &HashSet::new(),
            &self.parent,
        )
        .map_err(host)
    }
}

/// A read-only view.
pub struct EngineView(Overlay);

impl View for EngineView {
    fn root(&self) -> &Path {
        &self.0.merged
    }
}

impl BuildHost for EngineHost<'_> {
    fn image(&mut self, name: &str, pull: PullPolicy) -> Result<BaseImage, HostError> {
        // FROM and COPY --from pull as `run` does: when the image is missing, or
        // every time with `build --pull`.
        let policy = match pull {
            PullPolicy::Missing => crate::args::PullPolicy::Missing,
            PullPolicy::Always => crate::args::PullPolicy::Always,
        };
        let name = crate::cmd_registry::ensure_image(self.engine, name, policy)
            .map_err(|e| host(HostAdapterError::Pull(e)))?;
        let name = name.as_str();
        let store = &self.engine.images;
        let id = store.resolve(name).map_err(|e| match e {
            berth_image::StoreError::NotFound(_) => {
                host(HostAdapterError::NotLocal(name.to_string()))
            }
            other => host(other),
        })?;
        let raw = store.blobs.read(&id).map_err(host)?;
        let config = Image::from_json(&raw).map_err(|source| {
            host(HostAdapterError::Config {
                id: id.clone(),
                source,
            })
        })?;
        let record = store.get(&id).map_err(host)?;
        let manifest = store.manifest(&record).map_err(host)?;
        let layers = manifest
            .layers()
            .iter()
            .zip(&config.rootfs.diff_ids)
            .map(|(d, diff_id)| Layer {
                diff_id: diff_id.clone(),
                digest: d.digest().to_string(),
                size: d.size(),
                media_type: d.media_type().to_string(),
            })
            .collect();
        Ok(BaseImage { id, config, layers })
    }

    fn has_layers(&self, layers: &[Layer]) -> bool {
        let store = &self.engine.images;
        self.lower_dirs(layers).iter().all(|d| d.is_dir())
            && layers.iter().all(|l| store.blobs.exists(&l.digest))
    }

    fn snapshot(&mut self, layers: &[Layer]) -> Result<Box<dyn Snapshot>, HostError> {
        let lowers = self.lower_dirs(layers);
        let overlay = Overlay::mount(&self.mnt(), &lowers, true).map_err(host)?;
        Ok(Box::new(EngineSnapshot {
            overlay,
            store_root: self.engine.paths.root.clone(),
            parent: layers.iter().map(|l| l.diff_id.clone()).collect(),
            lowers,
        }))
    }

    fn view(&mut self, layers: &[Layer]) -> Result<Box<dyn View>, HostError> {
        let overlay = Overlay::mount(&self.mnt(), &self.lower_dirs(layers), false).map_err(host)?;
        Ok(Box::new(EngineView(overlay)))
    }

    fn run(
        &mut self,
        layers: &[Layer],
        spec: &RunSpec,
        output: &mut dyn Write,
    ) -> Result<RunResult, HostError> {
        super::runstep::run(self, layers, spec, output).map_err(host)
    }

    fn fetch(&mut self, url: &str, out: &mut dyn Write) -> Result<Fetched, HostError> {
        super::fetch::fetch(url, out).map_err(|reason| {
            host(HostAdapterError::Fetch {
                url: url.to_string(),
                reason,
            })
        })
    }

    fn register(
        &mut self,
        config: &[u8],
        layers: &[Layer],
        tags: &[String],
    ) -> Result<String, HostError> {
        register(&self.engine.images, config, layers, tags).map_err(host)
    }

    fn state_dir(&self) -> PathBuf {
        self.state.clone()
    }
}

/// Stores the config blob as given, a manifest for it, the image record and
/// its tags; returns the image id.
pub fn register(
    store: &berth_image::ImageStore,
    config: &[u8],
    layers: &[Layer],
    tags: &[String],
) -> Result<String, HostAdapterError> {
    let refs: Vec<Reference> = tags
        .iter()
        .map(|t| {
            Reference::parse(t).map_err(|source| HostAdapterError::Tag {
                tag: t.clone(),
                source,
            })
        })
        .collect::<Result<_, _>>()?;
    let spec = |e: &dyn std::fmt::Display| HostAdapterError::Manifest(e.to_string());
    let digest = |d: &str| Digest::from_str(d).map_err(|e| spec(&e));
    let id = store.blobs.put_bytes(config)?;
    let descriptors: Vec<Descriptor> = layers
        .iter()
        .map(|l| {
            Ok(Descriptor::new(
                MediaType::from(l.media_type.as_str()),
                l.size,
                digest(&l.digest)?,
            ))
        })
        .collect::<Result<_, HostAdapterError>>()?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(Descriptor::new(
            MediaType::ImageConfig,
            config.len() as u64,
            digest(&id)?,
        ))
        .layers(descriptors)
        .build()
        .map_err(|e| spec(&e))?;
    let manifest_json = serde_json::to_vec(&manifest).map_err(|e| spec(&e))?;
    let manifest_digest = store.blobs.put_bytes(&manifest_json)?;
    let created = Image::from_json(config)
        .ok()
        .and_then(|i| i.created)
        .unwrap_or_else(berth_engine::now);
    let size = layers.iter().map(|l| l.size).sum();
    store.record(&id, &manifest_digest, &created, size)?;
    for r in &refs {
        store.tag(r, &id)?;
    }
    Ok(id)
}
