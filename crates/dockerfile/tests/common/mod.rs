//! Locating the shared conformance corpus.
//!
//! In CI the repository is cloned with `shared/` beside it, so the corpus is at
//! `<workspace root>/../shared/conformance`; `BERTH_CONFORMANCE_DIR` overrides.
//! Under `CI=true` a missing corpus fails the test; by hand it is skipped with a
//! message.

use std::path::PathBuf;

/// The corpus directory `sub` (e.g. `dockerfile-parser`), or `None` when the
/// corpus is missing and we are not in CI.
pub fn corpus(sub: &str) -> Option<PathBuf> {
    let root = match std::env::var_os("BERTH_CONFORMANCE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance"),
    };
    let dir = root.join(sub);
    if dir.is_dir() {
        return Some(dir);
    }
    let msg = format!(
        "conformance corpus not found at {} (set BERTH_CONFORMANCE_DIR to the shared/conformance directory)",
        dir.display()
    );
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// Collects failures and panics once with all of them.
#[derive(Default)]
pub struct Report {
    pub passed: usize,
    pub failures: Vec<String>,
}

impl Report {
    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if ok {
            self.passed += 1;
        } else {
            self.failures.push(what());
        }
    }

    pub fn finish(self, name: &str) {
        println!(
            "{name}: {} cases passed, {} failed",
            self.passed,
            self.failures.len()
        );
        if !self.failures.is_empty() {
            panic!(
                "{name}: {} failures:\n\n{}",
                self.failures.len(),
                self.failures.join("\n\n")
            );
        }
    }
}
