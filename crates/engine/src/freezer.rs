//! Pausing a running container with the cgroup freezer, so `commit` archives a
//! filesystem nothing writes to meanwhile (docker's `commit --pause`). cgroup v1's
//! `freezer` controller (`freezer.state`) where it is mounted, else cgroup v2's
//! `cgroup.freeze`. The container thaws when the guard drops, also on errors; a
//! berth killed while it holds the guard leaves the container frozen (as docker
//! would): `echo THAWED > …/freezer.state` or `echo 0 > …/cgroup.freeze` frees it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a freeze may take before berth gives up and thaws again.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum FreezeError {
    #[error("cannot pause container {0}: this host has no cgroup freezer for it (neither cgroup v1's freezer controller nor cgroup v2's cgroup.freeze); commit can go on with --pause=false (its files may change while they are archived)")]
    NoFreezer(String),
    #[error("pausing the container through {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the container's processes did not freeze within {0:?}; it was thawed again. Retry, or commit with --pause=false")]
    Timeout(Duration),
    #[error("container {0} is already paused")]
    AlreadyPaused(String),
    #[error("container {0} is not paused; nothing to unpause")]
    NotPaused(String),
    #[error("container {0} is paused: unpause it first (berth unpause {0})")]
    Paused(String),
    #[error("cannot start a paused container, try unpause instead (berth unpause {0})")]
    StartPaused(String),
}

/// So the use cases can `?` a freezer failure.
impl From<FreezeError> for crate::EngineError {
    fn from(e: FreezeError) -> Self {
        crate::usecase::UseCaseError::Pause(e).into()
    }
}

/// The freezer files of one cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freezer {
    /// cgroup v1: `freezer.state` takes and reports FROZEN / THAWED.
    V1 { state: PathBuf },
    /// cgroup v2: `cgroup.freeze` takes 1 / 0, `cgroup.events` reports `frozen 1`.
    V2 { freeze: PathBuf, events: PathBuf },
}

/// Frozen until dropped. Holds nothing when the container was paused already
/// (by `berth pause`): that pause outlives this guard.
pub struct Frozen(Option<Freezer>);

impl Drop for Frozen {
    fn drop(&mut self) {
        if let Some(f) = &self.0 {
            let _ = f.set(false);
        }
    }
}

impl Frozen {
    /// Leaves the container frozen (`berth pause`).
    pub fn keep(mut self) {
        self.0 = None;
    }
}

impl Freezer {
    /// The freezer of the container's cgroup (`berth/<id>`), given where cgroup
    /// v1's freezer is mounted (if it is) and the unified hierarchy's root.
    fn locate_at(v1: Option<&Path>, unified_root: &Path, id: &str) -> Option<Freezer> {
        let cgroup = Path::new(crate::cgroups::PARENT).join(id);
        if let Some(state) = v1
            .map(|mount| mount.join(&cgroup).join("freezer.state"))
            .filter(|state| state.exists())
        {
            return Some(Freezer::V1 { state });
        }
        let dir = unified_root.join(&cgroup);
        dir.join("cgroup.freeze").exists().then(|| Freezer::V2 {
            freeze: dir.join("cgroup.freeze"),
            events: dir.join("cgroup.events"),
        })
    }

    /// Freezes, and waits until every process is frozen.
    pub fn freeze(self) -> Result<Frozen, FreezeError> {
        self.set(true)?;
        let frozen = Frozen(Some(self));
        let deadline = Instant::now() + FREEZE_TIMEOUT;
        while !frozen.0.as_ref().expect("set above").is_frozen()? {
            if Instant::now() >= deadline {
                return Err(FreezeError::Timeout(FREEZE_TIMEOUT)); // the drop thaws
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(frozen)
    }

    /// Whether a freeze was asked for (frozen, or freezing still): what `pause`
    /// set and `unpause` clears.
    pub fn is_set(&self) -> bool {
        let mut buf = [0u8; 32];
        match self {
            Freezer::V1 { state } => crate::kernfile::read_small(state, &mut buf)
                .is_some_and(|s| matches!(s.trim(), "FROZEN" | "FREEZING")),
            Freezer::V2 { freeze, .. } => {
                crate::kernfile::read_small(freeze, &mut buf).is_some_and(|s| s.trim() == "1")
            }
        }
    }

    /// Thaws.
    pub fn thaw(&self) -> Result<(), FreezeError> {
        self.set(false)
    }

    fn set(&self, frozen: bool) -> Result<(), FreezeError> {
        let (path, value) = match (self, frozen) {
            (Freezer::V1 { state }, true) => (state, "FROZEN"),
            (Freezer::V1 { state }, false) => (state, "THAWED"),
            (Freezer::V2 { freeze, .. }, true) => (freeze, "1"),
            (Freezer::V2 { freeze, .. }, false) => (freeze, "0"),
        };
        std::fs::write(path, value).map_err(|source| FreezeError::Io {
            path: path.clone(),
            source,
        })
    }

    fn is_frozen(&self) -> Result<bool, FreezeError> {
        let path = match self {
            Freezer::V1 { state } => state,
            Freezer::V2 { events, .. } => events,
        };
        let text = std::fs::read_to_string(path).map_err(|source| FreezeError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(match self {
            Freezer::V1 { .. } => text.trim() == "FROZEN",
            Freezer::V2 { .. } => text.lines().any(|l| l.trim() == "frozen 1"),
        })
    }
}

/// This host's v1 freezer mount, looked up once per process: `ps` asks for every
/// container `pause` recorded (issue 11).
fn host_v1_mount() -> Option<&'static Path> {
    static MOUNT: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    MOUNT
        .get_or_init(|| crate::cgroups::host_v1_controller_mount("freezer"))
        .as_deref()
}

/// The freezer of container `id` on this host.
pub fn of(id: &str) -> Option<Freezer> {
    Freezer::locate_at(host_v1_mount(), Path::new("/sys/fs/cgroup"), id)
}

/// Pauses the container `id` until the returned guard drops; a container the
/// user paused stays paused after.
pub fn pause(id: &str) -> Result<Frozen, FreezeError> {
    let f = of(id).ok_or_else(|| FreezeError::NoFreezer(id.to_string()))?;
    if f.is_set() {
        return Ok(Frozen(None));
    }
    f.freeze()
}

/// Whether container `id` is paused: asked of the kernel, never stored, so it
/// cannot disagree with what the container's processes do.
pub fn is_paused(id: &str) -> bool {
    of(id).is_some_and(|f| f.is_set())
}

/// Thaws container `id` if it is frozen. A signal sent to a paused container
/// waits in the frozen processes; docker resumes the container after sending it,
/// and so does berth (`kill`, `stop`, `rm -f`).
pub fn thaw_if_paused(id: &str) {
    if let Some(f) = of(id).filter(|f| f.is_set()) {
        let _ = f.thaw();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hybrid host's mountinfo with the v1 freezer mounted at `freezer`.
    fn hybrid(freezer: &Path) -> String {
        format!(
            "35 25 0:30 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate\n\
             36 25 0:31 / /sys/fs/cgroup/systemd rw shared:11 - cgroup cgroup rw,xattr,name=systemd\n\
             40 25 0:35 / {} rw shared:16 - cgroup cgroup rw,freezer\n",
            freezer.display()
        )
    }

    #[test]
    fn v1_freezer_wins_where_mounted_and_the_cgroup_exists() {
        let mount = tempfile::tempdir().unwrap();
        let info = hybrid(mount.path());
        assert_eq!(
            Freezer::locate_at(
                crate::cgroups::v1_controller_mount(&info, "freezer").as_deref(),
                Path::new("/nonexistent"),
                "abc"
            ),
            None
        );
        let dir = mount.path().join("berth/abc");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("freezer.state"), "THAWED").unwrap();
        let f = Freezer::locate_at(
            crate::cgroups::v1_controller_mount(&info, "freezer").as_deref(),
            Path::new("/nonexistent"),
            "abc",
        )
        .unwrap();
        assert_eq!(
            f,
            Freezer::V1 {
                state: dir.join("freezer.state")
            }
        );
    }

    #[test]
    fn v2_needs_the_containers_cgroup() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(Freezer::locate_at(None, root.path(), "abc"), None);
        let dir = root.path().join("berth/abc");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cgroup.freeze"), "0").unwrap();
        let f = Freezer::locate_at(None, root.path(), "abc").unwrap();
        assert!(matches!(f, Freezer::V2 { .. }));
    }

    #[test]
    fn freezing_writes_waits_and_thaws_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("freezer.state");
        std::fs::write(&state, "THAWED").unwrap();
        let frozen = Freezer::V1 {
            state: state.clone(),
        }
        .freeze()
        .unwrap();
        assert_eq!(std::fs::read_to_string(&state).unwrap(), "FROZEN");
        drop(frozen);
        assert_eq!(std::fs::read_to_string(&state).unwrap(), "THAWED");
    }

    #[test]
    fn a_paused_container_stays_paused_after_a_commit_guard() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("freezer.state");
        std::fs::write(&state, "FROZEN").unwrap();
        let f = Freezer::V1 {
            state: state.clone(),
        };
        assert!(f.is_set());
        drop(Frozen(None));
        assert_eq!(std::fs::read_to_string(&state).unwrap(), "FROZEN");
        f.thaw().unwrap();
        assert!(!f.is_set());
        f.clone().freeze().unwrap().keep();
        assert_eq!(std::fs::read_to_string(&state).unwrap(), "FROZEN", "kept");
    }

    #[test]
    fn v2_reads_its_events_file() {
        let dir = tempfile::tempdir().unwrap();
        let (freeze, events) = (
            dir.path().join("cgroup.freeze"),
            dir.path().join("cgroup.events"),
        );
        std::fs::write(&events, "populated 1\nfrozen 1\n").unwrap();
        let f = Freezer::V2 {
            freeze: freeze.clone(),
            events,
        };
        let frozen = f.freeze().unwrap();
        assert_eq!(std::fs::read_to_string(&freeze).unwrap(), "1");
        drop(frozen);
        assert_eq!(std::fs::read_to_string(&freeze).unwrap(), "0");
    }
}
