//! What a pull or push reports while it works. The CLI draws it (bars on a
//! terminal, plain lines otherwise); this crate only says what happened.

/// Layers are named by the 12 hex digits docker prints.
pub trait Progress: Send + Sync {
    /// The layer is already in the store (pull) or the registry (push).
    fn exists(&self, id: &str);
    /// The transfer starts; `from` > 0 when a partial download resumes.
    fn start(&self, id: &str, total: u64, from: u64);
    /// `done` bytes of `total` transferred so far.
    fn advance(&self, id: &str, done: u64);
    /// Transferred and verified (and unpacked, for a pull).
    fn finish(&self, id: &str, what: &str);
    /// A one-line note (`Mounted from other/repo`, `Resuming at 12 MB`).
    fn note(&self, id: &str, what: &str);
}

/// Reports nothing (`-q`, tests).
pub struct Silent;

impl Progress for Silent {
    fn exists(&self, _: &str) {}
    fn start(&self, _: &str, _: u64, _: u64) {}
    fn advance(&self, _: &str, _: u64) {}
    fn finish(&self, _: &str, _: &str) {}
    fn note(&self, _: &str, _: &str) {}
}

pub fn short(digest: &str) -> String {
    berth_image::short_id(digest)
}
