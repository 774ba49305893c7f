//! Overlay mounts of layer chains for the builder: a working snapshot (the
//! layers plus a fresh upper directory) for COPY/ADD/WORKDIR, and a read-only
//! view for `COPY --from` and `RUN --mount=from=`. Everything lives under
//! `$BERTH_ROOT/build/mnt/<unique>` and is unmounted and removed when the
//! handle is dropped, so a failed step leaves nothing mounted.

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("preparing {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("mounting the layers at {path}: {errno} (lowerdir={lowers})")]
    Mount {
        path: PathBuf,
        lowers: String,
        errno: nix::errno::Errno,
    },
    #[error("layer {0} is not unpacked on this machine; remove the image that holds it and import or pull it again")]
    MissingLayer(PathBuf),
}

/// A mounted overlay; unmounted and removed on drop.
pub struct Overlay {
    /// `mnt/<unique>`: holds `merged`, `upper`, `work`, `empty`.
    pub dir: PathBuf,
    pub merged: PathBuf,
    pub upper: PathBuf,
    mounted: bool,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MountError + '_ {
    move |source| MountError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Overlay {
    /// Mounts `lowers` (top-most first). With `writable`, a fresh upper
    /// directory takes the changes; without, the mount is read-only.
    pub fn mount(base: &Path, lowers: &[PathBuf], writable: bool) -> Result<Overlay, MountError> {
        if let Some(missing) = lowers.iter().find(|l| !l.is_dir()) {
            return Err(MountError::MissingLayer(missing.clone()));
        }
        let dir = base.join(format!("{}-{}", std::process::id(), unique()));
        let (merged, upper, work, empty) = (
            dir.join("merged"),
            dir.join("upper"),
            dir.join("work"),
            dir.join("empty"),
        );
        for d in [&merged, &upper, &work, &empty] {
            std::fs::create_dir_all(d).map_err(io(d))?;
        }
        let mut overlay = Overlay {
            dir,
            merged,
            upper,
            mounted: false,
        };
        // Overlay needs a lower directory, and two when there is no upper one:
        // an empty directory at the bottom serves scratch and one-layer views.
        let mut all: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
        all.push(empty.display().to_string());
        let lowerdir = all.join(":");
        let (data, flags) = match writable {
            true => (
                format!(
                    "lowerdir={lowerdir},upperdir={},workdir={}",
                    overlay.upper.display(),
                    work.display()
                ),
                MsFlags::empty(),
            ),
            false => (format!("lowerdir={lowerdir}"), MsFlags::MS_RDONLY),
        };
        mount(
            Some("overlay"),
            &overlay.merged,
            Some("overlay"),
            flags | MsFlags::MS_NODEV,
            Some(data.as_str()),
        )
        .map_err(|errno| MountError::Mount {
            path: overlay.merged.clone(),
            lowers: lowerdir.clone(),
            errno,
        })?;
        overlay.mounted = true;
        Ok(overlay)
    }

    /// Unmounts now (the upper directory stays until drop).
    pub fn unmount(&mut self) {
        if self.mounted {
            let _ = umount2(&self.merged, MntFlags::MNT_DETACH);
            self.mounted = false;
        }
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        self.unmount();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn unique() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{t:x}")
}
