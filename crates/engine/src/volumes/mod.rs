//! Volumes of docker's `local` driver, without a daemon. Each volume is a directory
//! `volumes/NAME/` under the state root holding `_data/` (what containers see) and
//! `volume.json` (driver, options, labels, creation time): the directory is the one
//! source of truth, so a volume made by an older berth (a bare `_data`) still lists.
//! Not a SQLite row, unlike networks: the directory has to exist anyway, and a row
//! beside it would be a second truth that a crash between the two could split; a
//! rename gives "made once, whole" for free.
//!
//! A volume appears whole or not at all: it is assembled in a `.new-*` directory and
//! renamed into place with `RENAME_NOREPLACE`, so two containers racing to create the
//! same named volume both end up using the one that won. A volume leaves the same
//! way (renamed to `.gone-*`, then deleted), so nothing reads half a volume.
//!
//! "In use" means a container row (any state, as docker) mounts it. Creating a
//! container that mounts volumes holds the volumes lock shared from the moment its
//! volumes exist until its row is stored; `volume rm`/`prune` hold it exclusive
//! while they check and take a volume away, so a volume never disappears under a
//! container being created.

mod claim;
mod copyup;
mod options;

pub use claim::{claim, Claim, VolumesFrom};
pub use copyup::copy_up;
pub use options::{DriverOptions, OptionsError};

use crate::model::Container;
use crate::paths::Paths;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// docker (23+) marks the volumes it makes for `-v /path` and image VOLUMEs with
/// this label; `volume prune` without `-a` removes only those.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";
const META: &str = "volume.json";
const DATA: &str = "_data";

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("{0}")]
    InvalidName(String),
    #[error("volume driver {0:?} is not supported: berth has the local driver only (-d local)")]
    UnsupportedDriver(String),
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error("No such volume: {0}")]
    NotFound(String),
    #[error("remove {name}: volume is in use by {}; remove those containers first (berth rm {})", .users.join(", "), .users.join(" "))]
    InUse { name: String, users: Vec<String> },
    #[error("volume {0} already exists with other options or labels; remove it first (berth volume rm {0}) or use another name")]
    Conflict(String),
    #[error("volume {name}: {path}: {source}")]
    Io {
        name: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("volume {name}: its metadata {path} is unreadable ({why}); remove the volume directory by hand")]
    BadMetadata {
        name: String,
        path: PathBuf,
        why: String,
    },
    #[error("volume {name} binds the host directory {device}, which is gone; create it again or remove the volume (berth volume rm {name})")]
    DeviceGone { name: String, device: PathBuf },
    #[error("copying the image's {path} into volume {name}: {why}")]
    CopyUp {
        name: String,
        path: String,
        why: String,
    },
}

/// A volume as `volume inspect` shows it (docker's field names).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub name: String,
    pub driver: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub created_at: String,
}

impl Volume {
    pub fn anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }

    /// What containers mount: the volume's `_data`, or the host directory of a
    /// `type=none,o=bind,device=PATH` volume.
    pub fn mountpoint(&self, paths: &Paths) -> PathBuf {
        match DriverOptions::parse(&self.options) {
            Ok(DriverOptions::Bind { device }) => device,
            _ => paths.volume_dir(&self.name).join(DATA),
        }
    }

    /// Whether berth owns the data directory (and so may copy image files into it).
    pub fn owns_data(&self) -> bool {
        matches!(
            DriverOptions::parse(&self.options),
            Ok(DriverOptions::Plain)
        )
    }
}

/// What `volume create` (or a first use) asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VolumeRequest {
    pub driver: Option<String>,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// docker's rule for volume names, `[a-zA-Z0-9][a-zA-Z0-9_.-]+`: the name becomes a
/// directory under the volume root, so `.`, `..`, `/` and NUL must never pass.
pub fn check_name(name: &str) -> Result<(), VolumeError> {
    crate::oci::mounts::check_volume_name(name).map_err(VolumeError::InvalidName)?;
    if name.len() > 255 {
        return Err(VolumeError::InvalidName(format!(
            "volume name {}… is {} bytes long; the most is 255 (a file name)",
            &name[..16],
            name.len()
        )));
    }
    Ok(())
}

fn root(paths: &Paths) -> PathBuf {
    paths.root.join("volumes")
}

fn io(name: &str, path: &Path) -> impl FnOnce(std::io::Error) -> VolumeError {
    let (name, path) = (name.to_string(), path.to_path_buf());
    move |source| VolumeError::Io { name, path, source }
}

/// Held while volumes are being put to use (shared) or taken away (exclusive).
pub struct VolumesLock(#[allow(dead_code)] File);

fn lock_file(paths: &Paths) -> Result<File, VolumeError> {
    let dir = root(paths);
    std::fs::create_dir_all(&dir).map_err(io("", &dir))?;
    let path = dir.join(".lock");
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io("", &path))
}

pub fn lock_shared(paths: &Paths) -> Result<VolumesLock, VolumeError> {
    let f = lock_file(paths)?;
    f.lock_shared().map_err(io("", &root(paths)))?;
    Ok(VolumesLock(f))
}

pub fn lock_exclusive(paths: &Paths) -> Result<VolumesLock, VolumeError> {
    let f = lock_file(paths)?;
    f.lock().map_err(io("", &root(paths)))?;
    Ok(VolumesLock(f))
}

/// The volume `name`; a directory without metadata (made by an older berth) reads
/// as a plain local volume.
pub fn get(paths: &Paths, name: &str) -> Result<Volume, VolumeError> {
    check_name(name).map_err(|_| VolumeError::NotFound(name.to_string()))?;
    let dir = paths.volume_dir(name);
    if !dir.is_dir() {
        return Err(VolumeError::NotFound(name.to_string()));
    }
    let meta = dir.join(META);
    match std::fs::read(&meta) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| VolumeError::BadMetadata {
            name: name.to_string(),
            path: meta,
            why: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(legacy(name, &dir)),
        Err(e) => Err(io(name, &meta)(e)),
    }
}

/// A volume an older berth made: anonymous ones were named with 64 hex digits.
fn legacy(name: &str, dir: &Path) -> Volume {
    let mut labels = BTreeMap::new();
    if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
        labels.insert(ANONYMOUS_LABEL.to_string(), String::new());
    }
    let created_at = std::fs::metadata(dir)
        .and_then(|m| m.modified())
        .map(|t| {
            chrono::DateTime::<chrono::Utc>::from(t)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .unwrap_or_default();
    Volume {
        name: name.to_string(),
        driver: "local".into(),
        labels,
        options: BTreeMap::new(),
        created_at,
    }
}

/// Every volume, by name.
pub fn list(paths: &Paths) -> Result<Vec<Volume>, VolumeError> {
    let dir = root(paths);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(io("", &dir)(e)),
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if check_name(&name).is_err() {
            continue; // `.lock`, `.new-*`, `.gone-*`
        }
        match get(paths, &name) {
            Ok(v) => out.push(v),
            Err(VolumeError::NotFound(_)) => {} // removed meanwhile
            Err(e) => return Err(e),
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Creates the volume, or returns the existing one of that name (`false`): docker's
/// `volume create` is idempotent, and so is a first use racing another.
/// `strict` refuses an existing volume whose options or labels differ.
pub fn create(
    paths: &Paths,
    name: &str,
    req: &VolumeRequest,
    strict: bool,
) -> Result<(Volume, bool), VolumeError> {
    check_name(name)?;
    if let Some(d) = req.driver.as_deref().filter(|d| *d != "local") {
        return Err(VolumeError::UnsupportedDriver(d.to_string()));
    }
    DriverOptions::parse(&req.options)?.check()?;
    if let Ok(v) = get(paths, name) {
        return existing(v, req, strict);
    }
    let vol = Volume {
        name: name.to_string(),
        driver: "local".into(),
        labels: req.labels.clone(),
        options: req.options.clone(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let staging = root(paths).join(format!(".new-{}", crate::create::random_id()));
    let assembled = assemble(&staging, &vol);
    let placed = assembled.and_then(|()| {
        rustix::fs::renameat_with(
            rustix::fs::CWD,
            &staging,
            rustix::fs::CWD,
            paths.volume_dir(name),
            rustix::fs::RenameFlags::NOREPLACE,
        )
        .map_err(|e| io(name, &staging)(e.into()))
    });
    match placed {
        Ok(()) => Ok((vol, true)),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            match get(paths, name) {
                Ok(v) => existing(v, req, strict), // another process won the race
                Err(_) => Err(e),
            }
        }
    }
}

fn existing(v: Volume, req: &VolumeRequest, strict: bool) -> Result<(Volume, bool), VolumeError> {
    let differs = (!req.options.is_empty() && req.options != v.options)
        || (!req.labels.is_empty() && req.labels != v.labels);
    if strict && differs {
        return Err(VolumeError::Conflict(v.name));
    }
    Ok((v, false))
}

fn assemble(staging: &Path, vol: &Volume) -> Result<(), VolumeError> {
    let data = staging.join(DATA);
    std::fs::create_dir_all(&data).map_err(io(&vol.name, &data))?;
    let meta = staging.join(META);
    let text = serde_json::to_vec_pretty(vol).unwrap_or_default();
    crate::paths::write_private(&meta, &text).map_err(io(&vol.name, &meta))
}

/// The names of the containers that mount `name`.
pub fn users(containers: &[Container], name: &str) -> Vec<String> {
    containers
        .iter()
        .filter(|c| c.spec.binds.iter().any(|b| b.volume && b.source == name))
        .map(|c| c.name.clone())
        .collect()
}

/// Removes the volume unless a container (in `containers`, read under the exclusive
/// lock) uses it.
pub fn remove(paths: &Paths, containers: &[Container], name: &str) -> Result<(), VolumeError> {
    get(paths, name)?;
    let users = users(containers, name);
    if !users.is_empty() {
        return Err(VolumeError::InUse {
            name: name.to_string(),
            users,
        });
    }
    discard(paths, name)
}

/// Takes the volume's directory away at once, then deletes it.
pub fn discard(paths: &Paths, name: &str) -> Result<(), VolumeError> {
    let dir = paths.volume_dir(name);
    let gone = root(paths).join(format!(".gone-{}", crate::create::random_id()));
    match std::fs::rename(&dir, &gone) {
        Ok(()) => std::fs::remove_dir_all(&gone).map_err(io(name, &gone)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(name, &dir)(e)),
    }
}

/// `rm -v`: the container's anonymous volumes go, unless another container mounts
/// one (through `--volumes-from`); named volumes always stay, as in docker.
pub fn remove_anonymous(engine: &crate::Engine, c: &Container) {
    let anonymous: Vec<&str> = c
        .spec
        .binds
        .iter()
        .filter(|b| b.volume && b.anonymous)
        .map(|b| b.source.as_str())
        .collect();
    if anonymous.is_empty() {
        return;
    }
    let Ok(_guard) = lock_exclusive(&engine.paths) else {
        return;
    };
    let Ok(all) = crate::store::list(engine.conn()) else {
        return; // who else uses them is unknown: keep them
    };
    let others: Vec<Container> = all.into_iter().filter(|o| o.id != c.id).collect();
    for name in anonymous {
        let _ = remove(&engine.paths, &others, name);
    }
}

/// `volume prune`: every volume no container mounts, anonymous ones only unless
/// `all` (docker 23+), and only those `keep_if` accepts (the CLI's filters).
pub fn prune(
    engine: &crate::Engine,
    all: bool,
    keep_if: impl Fn(&Volume) -> bool,
) -> Result<crate::prune::Pruned, crate::EngineError> {
    let _guard = lock_exclusive(&engine.paths)?;
    sweep(&engine.paths);
    let containers = crate::store::list(engine.conn())?;
    let mut out = crate::prune::Pruned::default();
    for v in list(&engine.paths)? {
        if (!all && !v.anonymous()) || !keep_if(&v) || !users(&containers, &v.name).is_empty() {
            continue;
        }
        let bytes = berth_image::disk_usage(&engine.paths.volume_dir(&v.name));
        match discard(&engine.paths, &v.name) {
            Ok(()) => {
                out.removed.push(v.name);
                out.bytes += bytes;
            }
            Err(e) => out.failed.push(e.to_string()),
        }
    }
    Ok(out)
}

/// Deletes what a crashed create or remove left (`.new-*`, `.gone-*`); call with
/// the exclusive lock held, so no create is half-way.
pub fn sweep(paths: &Paths) {
    let Ok(entries) = std::fs::read_dir(root(paths)) else {
        return;
    };
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with(".new-") || n.starts_with(".gone-") {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

#[cfg(test)]
mod tests;
