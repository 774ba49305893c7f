//! Containers to images: `commit` (the container's changes as a new layer on its
//! image, with docker's config semantics), `diff` (what changed) and `export` (the
//! whole filesystem as a tar). The archiving itself is the image crate's
//! (`layer_writer`, `commit`, `diff`), shared with the builder.
//!
//! What berth leaves out: the mount points the runtime made in the container's upper
//! directory for its mounts (`/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf`,
//! volumes, tmpfs…) when the image does not have them. Docker keeps those in an
//! "init" layer that neither `diff` nor `commit` sees; berth has no such layer, so it
//! hides them by name. Volume contents are never part of the container's files.

use super::UseCaseError;
use crate::model::{Container, ContainerSpec};
use crate::{freezer, Engine, EngineError};
use berth_image::change::apply_changes;
use berth_image::commit::CommitRequest;
use berth_image::diff::{lower_stat, Change};
use berth_image::{ImageConfig, Reference};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// Name (and tag) for the new image.
    pub reference: Option<Reference>,
    /// Dockerfile instructions applied to the config (`--change`).
    pub changes: Vec<String>,
    /// The history entry's comment (`-m`).
    pub message: Option<String>,
    /// The image's author (`-a`).
    pub author: Option<String>,
    /// Freeze a running container while its files are archived (docker's default).
    pub pause: bool,
}

/// Creates an image from the container the way `docker commit` does: its image plus
/// one layer with what it changed, the config it was created with plus `changes`.
/// Returns the new image's id.
pub fn commit(engine: &Engine, c: &Container, opts: &CommitOptions) -> Result<String, EngineError> {
    let image = engine.images.config(&c.image_id)?;
    let mut config = committed_config(&c.spec, image.config().clone().unwrap_or_default());
    apply_changes(&mut config, &opts.changes).map_err(UseCaseError::from)?;
    let new = NewImage {
        config,
        created_by: c.spec.cmd.join(" "),
        comment: opts.message.clone(),
        author: opts.author.clone(),
        reference: opts.reference.clone(),
    };
    commit_as(engine, c, &new, opts.pause)
}

/// An image config and history entry chosen by the caller (the builder's RUN step).
#[derive(Debug, Clone)]
pub struct NewImage {
    pub config: ImageConfig,
    pub created_by: String,
    pub comment: Option<String>,
    pub author: Option<String>,
    pub reference: Option<Reference>,
}

/// Creates an image from the container's changes with the caller's config; `pause`
/// freezes a running container meanwhile. Returns the new image's id.
pub fn commit_as(
    engine: &Engine,
    c: &Container,
    new: &NewImage,
    pause: bool,
) -> Result<String, EngineError> {
    let upper = upper_dir(engine, c)?;
    let hidden = runtime_mount_points(engine, c)?;
    let _paused = match pause && c.is_running() {
        true => Some(freezer::pause(&c.id).map_err(UseCaseError::from)?),
        false => None,
    };
    let request = CommitRequest {
        parent: Some(&c.image_id),
        upper: &upper,
        hidden: &hidden,
        config: new.config.clone(),
        created_by: new.created_by.clone(),
        comment: new.comment.clone(),
        author: new.author.clone(),
        reference: new.reference.as_ref(),
    };
    Ok(berth_image::commit::commit(&engine.images, &request).map_err(UseCaseError::from)?)
}

/// What the container changed in its image's files, in docker's `A`/`C`/`D` terms.
pub fn diff(engine: &Engine, c: &Container) -> Result<Vec<Change>, EngineError> {
    let upper = upper_dir(engine, c)?;
    let hidden = runtime_mount_points(engine, c)?;
    let lowers = engine.images.lower_dirs(&c.image_id)?;
    Ok(berth_image::diff::changes(&upper, &lowers, &hidden).map_err(UseCaseError::from)?)
}

/// Writes the container's whole filesystem (its image with its changes, without
/// volumes or other mounts) as a tar to `out`.
pub fn export(engine: &Engine, c: &Container, out: impl Write) -> Result<(), EngineError> {
    let mut layers = vec![upper_dir(engine, c)?];
    layers.extend(engine.images.lower_dirs(&c.image_id)?);
    let hidden = runtime_mount_points(engine, c)?;
    berth_image::layer_writer::write_merged(&layers, &hidden, out).map_err(UseCaseError::from)?;
    Ok(())
}

/// The container's overlay upper directory (made, empty, for one never started).
fn upper_dir(engine: &Engine, c: &Container) -> Result<PathBuf, EngineError> {
    let upper = engine.paths.container_dir(&c.id).join("upper");
    std::fs::create_dir_all(&upper).map_err(|source| EngineError::Io {
        path: upper.clone(),
        source,
    })?;
    Ok(upper)
}

/// Mount destinations of the container's last start (its bundle's config.json) that
/// its image does not have: the runtime made them in the upper directory.
fn runtime_mount_points(engine: &Engine, c: &Container) -> Result<HashSet<PathBuf>, EngineError> {
    let path = engine.paths.container_dir(&c.id).join("config.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(HashSet::new()); // never started: the runtime made nothing
    };
    let lowers = engine.images.lower_dirs(&c.image_id)?;
    let mut hidden = HashSet::new();
    for dest in mount_destinations(&text) {
        let in_image = lower_stat(&lowers, &dest).map_err(|source| EngineError::Io {
            path: Path::new("/").join(&dest),
            source,
        })?;
        if in_image.is_none() {
            hidden.insert(dest);
        }
    }
    Ok(hidden)
}

/// Relative mount destinations in an OCI config.json (the runtime made each in
/// the upper directory if the image lacked it). The builder drops them too.
pub fn mount_destinations(config_json: &str) -> Vec<PathBuf> {
    let config: serde_json::Value = serde_json::from_str(config_json).unwrap_or_default();
    config["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["destination"].as_str())
        .map(|d| PathBuf::from(d.trim_start_matches('/')))
        .filter(|d| !d.as_os_str().is_empty())
        .collect()
}

/// The image config docker's commit writes: the image's, with what the container
/// was created with (command, entrypoint, env, workdir, user, labels, published
/// ports as exposed ones, anonymous volumes, an explicit stop signal).
pub fn committed_config(spec: &ContainerSpec, image: ImageConfig) -> ImageConfig {
    let mut c = image;
    let some = |v: &[String]| (!v.is_empty()).then(|| v.to_vec());
    let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let default_signal = match spec.systemd {
        true => "SIGRTMIN+3".to_string(),
        false => c.stop_signal().clone().unwrap_or_else(|| "SIGTERM".into()),
    };
    if spec.stop_signal != default_signal {
        c.set_stop_signal(Some(spec.stop_signal.clone()));
    }
    let mut ports = c.exposed_ports().clone().unwrap_or_default();
    for p in &spec.net.publish {
        let port = format!("{}/{}", p.container_port, p.proto.as_str());
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    let mut volumes = c.volumes().clone().unwrap_or_default();
    for b in spec.binds.iter().filter(|b| b.anonymous) {
        if !volumes.contains(&b.destination) {
            volumes.push(b.destination.clone());
        }
    }
    let labels: HashMap<String, String> = spec.labels.clone().into_iter().collect();
    c.set_cmd(some(&spec.cmd))
        .set_entrypoint(some(&spec.entrypoint))
        .set_env(some(&spec.env))
        .set_working_dir(text(&spec.workdir))
        .set_user(text(&spec.user))
        .set_labels((!labels.is_empty()).then_some(labels))
        .set_exposed_ports((!ports.is_empty()).then_some(ports))
        .set_volumes((!volumes.is_empty()).then_some(volumes));
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BindMount;

    fn spec() -> ContainerSpec {
        ContainerSpec {
            cmd: vec!["sh".into(), "-c".into(), "echo > /x".into()],
            env: vec!["PATH=/bin".into(), "X=1".into()],
            workdir: "/w".into(),
            stop_signal: "SIGTERM".into(),
            net: crate::model::NetworkOptions {
                publish: berth_net::parse_publish("8080:80").unwrap(),
                ..Default::default()
            },
            binds: vec![
                BindMount {
                    source: "abc".into(),
                    destination: "/data".into(),
                    read_only: false,
                    volume: true,
                    anonymous: true,
                    ..Default::default()
                },
                BindMount {
                    source: "/host".into(),
                    destination: "/bound".into(),
                    read_only: false,
                    volume: false,
                    anonymous: false,
                    ..Default::default()
                },
            ],
            labels: [("k".to_string(), "v".to_string())].into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_container_config_goes_into_the_image() {
        let mut image = ImageConfig::default();
        image.set_cmd(Some(vec!["/bin/sh".into()]));
        image.set_exposed_ports(Some(vec!["22/tcp".into()]));
        let c = committed_config(&spec(), image);
        assert_eq!(c.cmd().clone().unwrap(), vec!["sh", "-c", "echo > /x"]);
        assert_eq!(c.entrypoint(), &None);
        assert_eq!(c.env().clone().unwrap(), vec!["PATH=/bin", "X=1"]);
        assert_eq!(c.working_dir().as_deref(), Some("/w"));
        assert_eq!(c.user(), &None);
        assert_eq!(c.exposed_ports().clone().unwrap(), vec!["22/tcp", "80/tcp"]);
        assert_eq!(c.volumes().clone().unwrap(), vec!["/data"], "not the bind");
        assert_eq!(c.labels().clone().unwrap()["k"], "v");
        assert_eq!(c.stop_signal(), &None, "SIGTERM was only the default");
    }

    #[test]
    fn only_an_explicit_stop_signal_is_kept() {
        let mut s = spec();
        s.stop_signal = "SIGUSR1".into();
        let c = committed_config(&s, ImageConfig::default());
        assert_eq!(c.stop_signal().as_deref(), Some("SIGUSR1"));
        let mut s = spec();
        s.systemd = true;
        s.stop_signal = "SIGRTMIN+3".into();
        let c = committed_config(&s, ImageConfig::default());
        assert_eq!(c.stop_signal(), &None, "systemd mode finds it again");
    }

    #[test]
    fn mount_destinations_come_from_the_bundle() {
        let json = r#"{"mounts": [{"destination": "/proc"}, {"destination": "/etc/hostname"}, {"destination": "/"}]}"#;
        assert_eq!(
            mount_destinations(json),
            vec![PathBuf::from("proc"), PathBuf::from("etc/hostname")]
        );
        assert!(mount_destinations("not json").is_empty());
    }
}
