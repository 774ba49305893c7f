//! A RUN step as a container, through the engine's use cases: created on the
//! step's layers, started attached with its output going to the builder,
//! and once it exits 0 its upper directory (mount stubs removed) becomes the
//! step's layer. The container is removed in every case.
//!
//! The engine makes containers from images, and the step's layers are not an
//! image yet: a transient image record (a config of just the layers, labelled
//! `berth.build.step`) lets `create` find them. It is forgotten, and its
//! config and manifest blobs removed, as soon as the step's container is gone
//! (the container row refers to it until then); `berth images` shows it only
//! while a step runs.

use super::host::{register, EngineHost, HostAdapterError};
use super::layer::commit_upper;
use berth_build::host::{Layer, RunMount, RunNetwork, RunResult, RunSpec};
use berth_engine::model::{BindMount, Container, NetworkMode, TmpfsMount};
use berth_engine::usecase::{self, AttachStreams, ContainerConfig, RemoveOptions, SystemdMode};
use std::cell::RefCell;
use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;

pub fn run(
    host: &EngineHost,
    layers: &[Layer],
    spec: &RunSpec,
    output: &mut dyn Write,
) -> Result<RunResult, HostAdapterError> {
    let engine = host.engine;
    let carrier = Carrier::new(engine, layers)?;
    let result = usecase::create(engine, &container_config(&carrier.id, spec)).map(|c| {
        let result = run_attached(host, &c, layers, output);
        let removed = engine.find(&c.id).and_then(|c| {
            usecase::remove(
                engine,
                &c,
                RemoveOptions {
                    force: true,
                    volumes: true,
                },
            )
        });
        (result, removed)
    });
    // The record can go once no container refers to it.
    carrier.forget_record(engine);
    let (result, removed) = result?;
    let result = result?;
    removed?;
    Ok(result)
}

fn run_attached(
    host: &EngineHost,
    c: &Container,
    layers: &[Layer],
    output: &mut dyn Write,
) -> Result<RunResult, HostAdapterError> {
    let engine = host.engine;
    let shared = Shared(Rc::new(RefCell::new(output)));
    let (mut out, mut err) = (shared.clone(), shared);
    let streams = AttachStreams {
        stdin: None,
        stdout: &mut out,
        stderr: &mut err,
        forward_signals: false,
        detach_keys: None,
    };
    let exit_code = usecase::start_attached(engine, c, streams)?;
    if exit_code != 0 {
        return Ok(RunResult {
            exit_code,
            layer: None,
        });
    }
    let dir = engine.paths.container_dir(&c.id);
    let lowers = host.lower_dirs(layers);
    let stubs = mount_stubs(&dir.join("config.json"));
    let parent: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
    let layer = commit_upper(
        &engine.paths.root,
        &dir.join("upper"),
        &lowers,
        &stubs,
        &parent,
    )?;
    Ok(RunResult { exit_code, layer })
}

/// What the step's container is: the command as given (no image entrypoint),
/// never systemd, never a terminal.
fn container_config(image: &str, spec: &RunSpec) -> ContainerConfig {
    let mut binds = Vec::new();
    let mut tmpfs = Vec::new();
    for m in &spec.mounts {
        match m {
            RunMount::Bind {
                source,
                target,
                read_only,
            } => binds.push(BindMount {
                source: source.display().to_string(),
                destination: target.clone(),
                read_only: *read_only,
                volume: false,
                anonymous: false,
                ..Default::default()
            }),
            RunMount::Tmpfs { target, size } => tmpfs.push(TmpfsMount {
                destination: target.clone(),
                options: size.map(|s| vec![format!("size={s}")]).unwrap_or_default(),
            }),
        }
    }
    ContainerConfig {
        image: image.to_string(),
        command: spec.args.clone(),
        entrypoint: Some(Vec::new()),
        env: spec.env.clone(),
        workdir: Some(spec.workdir.clone()),
        user: Some(spec.user.clone()).filter(|u| !u.is_empty()),
        binds,
        tmpfs,
        network: Some(match spec.network {
            RunNetwork::Default => NetworkMode::Network(berth_net::DEFAULT_NETWORK.into()),
            RunNetwork::None => NetworkMode::None,
            RunNetwork::Host => NetworkMode::Host,
        }),
        systemd: SystemdMode::Never,
        ..ContainerConfig::default()
    }
}

/// Mount destinations of the container's bundle (relative paths): the
/// runtime made them in the upper directory if the image lacked them.
fn mount_stubs(config_json: &std::path::Path) -> HashSet<PathBuf> {
    let text = std::fs::read_to_string(config_json).unwrap_or_default();
    berth_engine::usecase::mount_destinations(&text)
        .into_iter()
        .collect()
}

/// A transient image of the step's layers.
struct Carrier {
    id: String,
    /// Its config and manifest blobs.
    blobs: Vec<PathBuf>,
}

impl Carrier {
    fn new(engine: &berth_engine::Engine, layers: &[Layer]) -> Result<Carrier, HostAdapterError> {
        let config = serde_json::json!({
            "os": "linux",
            "architecture": berth_image::host_go_arch(),
            "config": {"Labels": {super::owner::STEP_LABEL: format!("{}-{}", std::process::id(), berth_image::blobs::unique_suffix())}},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| &l.diff_id).collect::<Vec<_>>()},
        });
        let bytes = serde_json::to_vec(&config).unwrap_or_default();
        let id = register(&engine.images, &bytes, layers, &[])?;
        let record = engine.images.get(&id)?;
        let blobs = vec![
            engine.images.blobs.path(&id),
            engine.images.blobs.path(&record.manifest),
        ];
        Ok(Carrier { id, blobs })
    }

    /// Drops the image record (containers start from the config blob alone).
    fn forget_record(&self, engine: &berth_engine::Engine) {
        let _ = engine.images.forget(&self.id);
    }
}

impl Drop for Carrier {
    fn drop(&mut self) {
        // Only the carrier's own config and manifest; the layers are the build's.
        for b in &self.blobs {
            let _ = std::fs::remove_file(b);
        }
    }
}

/// One writer for both of the container's output streams.
#[derive(Clone)]
struct Shared<'a>(Rc<RefCell<&'a mut dyn Write>>);

impl Write for Shared<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.borrow_mut().flush()
    }
}
