//! Which builds are alive, and reclaiming what a dead one left.
//!
//! A build holds an exclusive lock on `build/owners/<pid>` for its whole
//! life; the kernel drops it when the process dies, `kill -9` included.
//! Everything a build makes on the host is named after its pid: snapshot and
//! view mounts (`build/mnt/<pid>-…`), step scratch files (`build/tmp/<pid>-…`),
//! and the transient image of a RUN step and its container (label
//! `berth.build.step=<pid>-…`). A build killed mid-RUN leaves its step
//! container running (its monitor lives on), that image record, and any
//! mounts; the next build, `builder prune` and `system prune` remove them
//! ([`reap`]). docker's builder cancels a step whose client went away; this
//! is the daemonless way to the same end state.

use berth_engine::usecase::{self, RemoveOptions};
use berth_engine::Engine;
use nix::fcntl::{Flock, FlockArg};
use std::collections::BTreeSet;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The label the transient image (and so the container) of a RUN step has.
pub const STEP_LABEL: &str = "berth.build.step";

/// This build's claim; dropped last, when the build is over.
pub struct Owner {
    path: PathBuf,
    _lock: Flock<File>,
}

impl Owner {
    /// Takes `owners/<pid>`: the lock is taken on a temporary file that is
    /// then renamed into place, so a file under that name is always locked
    /// while its build lives.
    pub fn acquire(state: &Path) -> std::io::Result<Owner> {
        let dir = state.join("owners");
        std::fs::create_dir_all(&dir)?;
        let pid = std::process::id();
        let tmp = dir.join(format!(".{pid}"));
        let lock = Flock::lock(File::create(&tmp)?, FlockArg::LockExclusive)
            .map_err(|(_, e)| std::io::Error::from(e))?;
        let path = dir.join(pid.to_string());
        std::fs::rename(&tmp, &path)?;
        Ok(Owner { path, _lock: lock })
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What [`reap`] removed.
#[derive(Debug, Default)]
pub struct Reaped {
    pub containers: Vec<String>,
    pub images: Vec<String>,
    pub dirs: Vec<PathBuf>,
    pub failed: Vec<String>,
}

/// Removes what builds that are no longer running left behind.
pub fn reap(engine: &Engine, state: &Path) -> Reaped {
    let mut out = Reaped::default();
    let (dead, locks) = dead_builds(state);
    if dead.is_empty() {
        return out;
    }
    let is_dead = |label: Option<&String>| {
        label
            .and_then(|v| v.split('-').next())
            .is_some_and(|pid| dead.contains(pid))
    };
    for c in engine.list().unwrap_or_default() {
        if !is_dead(c.spec.labels.get(STEP_LABEL)) {
            continue;
        }
        let opts = RemoveOptions {
            force: true,
            volumes: true,
        };
        match usecase::remove(engine, &c, opts) {
            Ok(()) => out.containers.push(c.id),
            Err(e) => out
                .failed
                .push(format!("build step container {}: {e}", c.id)),
        }
    }
    forget_step_images(engine, &is_dead, &mut out);
    for sub in ["mnt", "tmp"] {
        for (pid, path) in pid_named(&state.join(sub)) {
            if dead.contains(&pid) {
                remove_dir(&path, &mut out);
            }
        }
    }
    for (path, _lock) in locks {
        let _ = std::fs::remove_file(path);
    }
    out
}

/// The transient step images of dead builds: the record and its config and
/// manifest blobs (the layers are the build cache's).
fn forget_step_images(
    engine: &Engine,
    is_dead: &dyn Fn(Option<&String>) -> bool,
    out: &mut Reaped,
) {
    let store = &engine.images;
    for rec in store.list().unwrap_or_default() {
        if !rec.tags.is_empty() {
            continue;
        }
        let Ok(config) = store.config(&rec.id) else {
            continue;
        };
        let labels = config.config().as_ref().and_then(|c| c.labels().clone());
        if !is_dead(labels.as_ref().and_then(|l| l.get(STEP_LABEL))) {
            continue;
        }
        match store.forget(&rec.id) {
            Ok(()) => {
                let _ = store.blobs.remove(&rec.manifest);
                let _ = store.blobs.remove(&rec.id);
                out.images.push(rec.id);
            }
            Err(e) => out.failed.push(format!("build step image {}: {e}", rec.id)),
        }
    }
}

/// When the oldest build still running started (its owner file's mtime):
/// a prune keeps what was used since, as that build may be about to put it
/// in its image.
pub fn oldest_live(state: &Path) -> Option<std::time::SystemTime> {
    let own = std::process::id().to_string();
    std::fs::read_dir(state.join("owners"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy() != own)
        .filter(|e| {
            // Held by someone else: a running build.
            File::open(e.path())
                .map(|f| Flock::lock(f, FlockArg::LockExclusiveNonblock).is_err())
                .unwrap_or(false)
        })
        .filter_map(|e| e.metadata().and_then(|m| m.modified()).ok())
        .min()
}

/// Pids of builds that are gone: an owner file nobody holds, or things named
/// after a pid with no owner file at all. The locks of the owner files are
/// held until their builds' leftovers are gone.
fn dead_builds(state: &Path) -> (BTreeSet<String>, Vec<(PathBuf, Flock<File>)>) {
    let own = std::process::id().to_string();
    let owners = state.join("owners");
    let mut dead = BTreeSet::new();
    let mut locks = Vec::new();
    for e in std::fs::read_dir(&owners).into_iter().flatten().flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if pid == own || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let path = e.path();
        let Ok(f) = File::open(&path) else { continue };
        let Ok(lock) = Flock::lock(f, FlockArg::LockExclusiveNonblock) else {
            continue; // alive
        };
        // The file may have been replaced by a new build of the same pid
        // meanwhile: only the file that is still there counts.
        let same = match (lock.metadata(), std::fs::metadata(&path)) {
            (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
            _ => false,
        };
        if same {
            dead.insert(pid);
            locks.push((path, lock));
        }
    }
    for sub in ["mnt", "tmp"] {
        for (pid, _) in pid_named(&state.join(sub)) {
            if pid != own && !owners.join(&pid).exists() {
                dead.insert(pid);
            }
        }
    }
    (dead, locks)
}

/// Entries named `<pid>-…`, with their pid.
fn pid_named(dir: &Path) -> Vec<(String, PathBuf)> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let (pid, _) = name.split_once('-')?;
            pid.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| (pid.to_string(), e.path()))
        })
        .collect()
}

/// Unmounts whatever is mounted under `dir`, then removes it; a directory
/// that is still mounted is left (removing through a mount would reach the
/// layers below it).
fn remove_dir(dir: &Path, out: &mut Reaped) {
    let mounted = || mounts_under(dir);
    for m in mounted().iter().rev() {
        let _ = nix::mount::umount2(m.as_path(), nix::mount::MntFlags::MNT_DETACH);
    }
    if !mounted().is_empty() {
        out.failed.push(format!("{}: still mounted", dir.display()));
        return;
    }
    match std::fs::remove_dir_all(dir) {
        Ok(()) => out.dirs.push(dir.to_path_buf()),
        Err(e) => out.failed.push(format!("{}: {e}", dir.display())),
    }
}

/// Mount points at or below `dir`, in mount order.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
        .filter(|p| p.starts_with(dir))
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(field: &str) -> PathBuf {
    let mut out = Vec::new();
    let b = field.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(&field[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_owner_is_alive_and_a_released_one_is_dead() {
        let d = tempfile::tempdir().unwrap();
        let owners = d.path().join("owners");
        std::fs::create_dir_all(&owners).unwrap();
        let held = Flock::lock(
            File::create(owners.join("11")).unwrap(),
            FlockArg::LockExclusive,
        )
        .unwrap();
        std::fs::write(owners.join("22"), "").unwrap();
        std::fs::create_dir_all(d.path().join("tmp/33-x")).unwrap();
        std::fs::create_dir_all(d.path().join("mnt/11-y")).unwrap();
        let (dead, locks) = dead_builds(d.path());
        assert_eq!(dead, BTreeSet::from(["22".to_string(), "33".to_string()]));
        assert_eq!(locks.len(), 1);
        assert!(oldest_live(d.path()).is_some(), "11 is held");
        drop(held);
        drop(locks);
        std::fs::remove_file(owners.join("22")).unwrap();
        assert_eq!(oldest_live(d.path()), None);
    }

    #[test]
    fn mountinfo_paths_are_unescaped() {
        assert_eq!(unescape("/a\\040b\\134c"), PathBuf::from("/a b\\c"));
        assert_eq!(unescape("/plain"), PathBuf::from("/plain"));
    }
}
