//! Content-addressed blob store: `blobs/sha256/<hex>`. A blob is written to a temp
//! file in the same directory, fsynced, checked against its digest, then renamed into
//! place, so a crash never leaves a blob whose name lies about its content.

use sha2::{Digest as _, Sha256};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob store I/O at {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("digest mismatch: expected {expected}, content hashes to {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("blob {0} is not in the store")]
    Missing(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> BlobError + '_ {
    move |source| BlobError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
}

/// A reader adapter that hashes what passes through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    pub bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }
    pub fn digest(self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.finalize()))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// The file or directory name of `digest` in a content-addressed store: its hex,
/// or `invalid-digest` for anything that is not `sha256:` and 64 lowercase hex
/// digits (see [`BlobStore::path`]).
pub fn store_name(digest: &str) -> &str {
    match crate::reference::validate_digest(digest) {
        Ok(()) => &digest["sha256:".len()..],
        Err(_) => "invalid-digest",
    }
}

pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

impl BlobStore {
    pub fn open(root: &Path) -> Result<Self, BlobError> {
        let dir = root.join("blobs").join("sha256");
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(BlobStore { dir })
    }

    /// Where the blob `digest` lives. Only a well-formed digest names a file: any
    /// other string (an image's config or manifest could carry `sha256:/etc`) maps
    /// to one name inside the store that is never written, so no caller can be led
    /// to read, push or delete a host path. Pull and load refuse such digests with a
    /// clear error before they get here.
    pub fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(store_name(digest))
    }

    /// The directory holding the blobs (`blobs/sha256`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn exists(&self, digest: &str) -> bool {
        self.path(digest).is_file()
    }

    /// Stores bytes and returns their digest.
    pub fn put_bytes(&self, data: &[u8]) -> Result<String, BlobError> {
        let digest = sha256_digest(data);
        if !self.exists(&digest) {
            self.write_verified(&mut &data[..], Some(&digest))?;
        }
        Ok(digest)
    }

    /// Streams a reader into the store; checks it against `expected` when given.
    /// Returns (digest, size).
    pub fn put_reader(
        &self,
        reader: &mut dyn Read,
        expected: Option<&str>,
    ) -> Result<(String, u64), BlobError> {
        self.write_verified(reader, expected)
    }

    fn write_verified(
        &self,
        reader: &mut dyn Read,
        expected: Option<&str>,
    ) -> Result<(String, u64), BlobError> {
        let tmp = self
            .dir
            .join(format!(".tmp-{}-{}", std::process::id(), unique_suffix()));
        let result = (|| {
            let mut file = File::create(&tmp).map_err(io_err(&tmp))?;
            let mut hashing = HashingReader::new(reader);
            io::copy(&mut hashing, &mut file).map_err(io_err(&tmp))?;
            file.flush().map_err(io_err(&tmp))?;
            file.sync_all().map_err(io_err(&tmp))?;
            let size = hashing.bytes;
            let actual = hashing.digest();
            if let Some(exp) = expected {
                if exp != actual {
                    return Err(BlobError::DigestMismatch {
                        expected: exp.into(),
                        actual,
                    });
                }
            }
            let dest = self.path(&actual);
            fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
            // The rename itself must survive a crash before anything names the blob.
            crate::layers::fsync_parent(&dest).map_err(io_err(&self.dir))?;
            Ok((actual, size))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    pub fn read(&self, digest: &str) -> Result<Vec<u8>, BlobError> {
        let path = self.path(digest);
        let data = fs::read(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => BlobError::Missing(digest.into()),
            _ => BlobError::Io {
                path: path.clone(),
                source: e,
            },
        })?;
        let actual = sha256_digest(&data);
        if actual != digest {
            return Err(BlobError::DigestMismatch {
                expected: digest.into(),
                actual,
            });
        }
        Ok(data)
    }

    pub fn open_blob(&self, digest: &str) -> Result<File, BlobError> {
        let path = self.path(digest);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => BlobError::Missing(digest.into()),
            _ => BlobError::Io { path, source: e },
        })
    }

    pub fn remove(&self, digest: &str) -> Result<(), BlobError> {
        let path = self.path(digest);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(BlobError::Io { path, source: e }),
        }
    }
}

/// Random hex for temp names; collisions between processes are impossible because
/// the pid is part of the name too, this only separates threads and retries.
pub fn unique_suffix() -> String {
    let mut b = [0u8; 6];
    let _ = File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    hex::encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_digests_name_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let good = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(store.path(&good), store.dir.join("ab".repeat(32)));
        for bad in [
            "sha256:/etc",
            "sha256:../../x",
            "sha256:AB",
            "md5:00",
            "/etc/passwd",
            "",
        ] {
            assert_eq!(store.path(bad), store.dir.join("invalid-digest"), "{bad}");
        }
    }

    #[test]
    fn put_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let d = store.put_bytes(b"hello").unwrap();
        assert_eq!(d, sha256_digest(b"hello"));
        assert_eq!(store.read(&d).unwrap(), b"hello");
    }

    #[test]
    fn rejects_wrong_digest_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let wrong = sha256_digest(b"other");
        let err = store
            .put_reader(&mut &b"hello"[..], Some(&wrong))
            .unwrap_err();
        assert!(matches!(err, BlobError::DigestMismatch { .. }));
        let left: Vec<_> = fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .collect();
        assert!(left.is_empty());
    }

    #[test]
    fn detects_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let d = store.put_bytes(b"hello").unwrap();
        fs::write(store.path(&d), b"tampered").unwrap();
        assert!(matches!(
            store.read(&d),
            Err(BlobError::DigestMismatch { .. })
        ));
    }
}
