//! Things a test starts or changes on the host, undone on drop: a host file put
//! back as it was, a child process stopped by its PID.

use std::path::{Path, PathBuf};
use std::process::Child;

/// Backs up a host file; on drop puts it back byte for byte, or removes it when it
/// did not exist before, whatever the test did in between.
pub struct HostFileGuard {
    path: PathBuf,
    saved: Option<Vec<u8>>,
}

impl HostFileGuard {
    pub fn new(path: impl AsRef<Path>) -> Self {
        let path = path.as_ref().to_path_buf();
        let saved = std::fs::read(&path).ok();
        HostFileGuard { path, saved }
    }
}

impl Drop for HostFileGuard {
    fn drop(&mut self) {
        let now = std::fs::read(&self.path).ok();
        if now == self.saved {
            return;
        }
        match &self.saved {
            Some(bytes) => std::fs::write(&self.path, bytes)
                .unwrap_or_else(|e| eprintln!("restoring {}: {e}", self.path.display())),
            None => {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// A child process (a test's HTTP server, say) killed and reaped on drop, so a
/// failing assertion does not leave it running.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_file_is_put_back_and_a_new_one_removed() {
        let dir = crate::Scratch::new("guard-unit");
        let existing = dir.path().join("existing");
        std::fs::write(&existing, b"before").unwrap();
        let created = dir.path().join("created");
        {
            let _a = HostFileGuard::new(&existing);
            let _b = HostFileGuard::new(&created);
            std::fs::write(&existing, b"after").unwrap();
            std::fs::write(&created, b"new").unwrap();
        }
        assert_eq!(std::fs::read(&existing).unwrap(), b"before");
        assert!(!created.exists());
        let path = dir.path().to_path_buf();
        drop(dir);
        assert!(!path.exists(), "a Scratch is removed on drop");
    }
}
