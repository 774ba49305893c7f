//! One layer blob from the network into the store, unpacked while it streams.
//!
//! The compressed bytes are teed: appended to a partial file under
//! `<root>/tmp/partial/` (so an interrupted pull resumes with an HTTP range at the
//! file's length) and hashed; the same bytes are decompressed, hashed again (the
//! diff id) and unpacked into a temp directory. Only when the stream has ended and
//! both digests match does the partial file become the blob and the directory the
//! layer (two renames). A layer is never held in memory.

use crate::client::{ClientError, Session};
use crate::manifest::Descriptor;
use crate::progress::{short, Progress};
use berth_image::blobs::{unique_suffix, BlobStore, HashingReader};
use berth_image::layers::LayerError;
use berth_image::unpack::{decompressed, unpack_layer, UnpackError};
use sha2::{Digest as _, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: io::Error },
    #[error("blob {digest} from {host} is corrupt: its content hashes to {actual}; nothing was stored. Pull again; if it persists the registry's copy is damaged")]
    Digest {
        host: String,
        digest: String,
        actual: String,
    },
    #[error("blob {digest} from {host} has {got} bytes where the manifest says {expected}; nothing was stored")]
    Size {
        host: String,
        digest: String,
        expected: u64,
        got: u64,
    },
    #[error("layer {digest} unpacks to {actual}, but the image config says {expected}; the image is inconsistent and nothing was stored")]
    DiffId {
        digest: String,
        expected: String,
        actual: String,
    },
    #[error("layer {digest}: {error}")]
    Unpack { digest: String, error: UnpackError },
    #[error("reading blob {digest} from {host}: {error}; the part received is kept and the next pull resumes there")]
    Network {
        host: String,
        digest: String,
        error: io::Error,
    },
    #[error("a download task failed: {0}")]
    Task(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> FetchError + '_ {
    move |error| FetchError::Io {
        path: path.into(),
        error,
    }
}

/// One layer to fetch: its compressed descriptor, the diff id the config promises
/// and where the unpacked layer goes (None: the layer directory already exists,
/// only the compressed blob is wanted).
pub struct Job {
    pub desc: Descriptor,
    pub diff_id: String,
    pub layer_dir: Option<PathBuf>,
}

/// Everything a blocking download thread needs (owned: it outlives no borrow).
#[derive(Clone)]
pub struct Ctx {
    pub session: Arc<Session>,
    pub reference: oci_client::Reference,
    pub blobs: BlobStore,
    pub tmp: PathBuf,
    pub progress: Arc<dyn Progress>,
    pub handle: tokio::runtime::Handle,
}

/// Returns the layer's uncompressed size (0 when nothing was unpacked).
pub fn fetch(ctx: &Ctx, job: &Job) -> Result<u64, FetchError> {
    let digest = &job.desc.digest;
    let id = short(digest);
    let partial_dir = ctx.tmp.join("partial");
    fs::create_dir_all(&partial_dir).map_err(io_err(&partial_dir))?;
    let partial = partial_dir.join(digest.replace(':', "-"));
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(&partial)
        .map_err(io_err(&partial))?;
    // Two pulls of images sharing a layer: the second waits, then finds it done.
    lock(&file).map_err(io_err(&partial))?;
    if ctx.blobs.exists(digest) {
        // Another pull finished it while we waited: drop our (empty) file, but
        // never a newer partial a third pull may have started at the same path.
        use std::os::unix::fs::MetadataExt;
        let ours = file.metadata().map(|m| m.ino()).ok();
        if fs::metadata(&partial).map(|m| m.ino()).ok() == ours {
            let _ = fs::remove_file(&partial);
        }
        return match &job.layer_dir {
            Some(dir) => unpack_local(ctx, job, dir),
            None => Ok(0),
        };
    }
    let mut have = file.metadata().map_err(io_err(&partial))?.len();
    if have >= job.desc.size {
        // More than the blob can hold: not a prefix of it.
        file.set_len(0).map_err(io_err(&partial))?;
        have = 0;
    }
    let (stream, from) = open_stream(ctx, job, have)?;
    if from == 0 && have > 0 {
        file.set_len(0).map_err(io_err(&partial))?;
    }
    ctx.progress.start(&id, job.desc.size, from);
    let prefix = if from > 0 {
        Some(File::open(&partial).map_err(io_err(&partial))?.take(from))
    } else {
        None
    };
    let net = tokio_util::io::SyncIoBridge::new_with_handle(
        tokio_util::io::StreamReader::new(stream),
        ctx.handle.clone(),
    );
    let tee = Arc::new(Mutex::new(Tee {
        prefix,
        net: Box::new(io::BufReader::with_capacity(256 * 1024, net).take(job.desc.size - from + 1)),
        out: file,
        hasher: Sha256::new(),
        bytes: 0,
        net_failed: false,
        id: id.clone(),
        progress: ctx.progress.clone(),
    }));
    let result = consume(ctx, job, &tee)
        .map_err(|e| root_cause(ctx, job, &tee, e))
        .and_then(|(size, dir)| {
            let t = tee
                .lock()
                .map_err(|_| FetchError::Task("tee poisoned".into()))?;
            verify_blob(ctx, job, &t)?;
            t.out.sync_all().map_err(io_err(&partial))?;
            let dest = ctx.blobs.path(digest);
            fs::rename(&partial, &dest).map_err(io_err(&dest))?;
            berth_image::layers::fsync_parent(&dest).map_err(io_err(&dest))?;
            if let (Some(tmp), Some(dir)) = (dir, &job.layer_dir) {
                commit_dir(&tmp, dir, &job.diff_id)?;
            }
            Ok(size)
        });
    if result.is_err() {
        let keep = tee.lock().map(|t| t.net_failed).unwrap_or(false);
        if !keep {
            let _ = fs::remove_file(&partial);
        }
    }
    if result.is_ok() {
        ctx.progress.finish(&id, "Pull complete");
    }
    result
}

/// A corrupt blob usually fails first in the decompressor or the tar reader; the
/// real cause is the blob's digest, so read the rest and say that when it differs.
fn root_cause(ctx: &Ctx, job: &Job, tee: &Arc<Mutex<Tee>>, e: FetchError) -> FetchError {
    if matches!(e, FetchError::Network { .. }) {
        return e;
    }
    let _ = io::copy(&mut Shared(tee.clone()), &mut io::sink());
    match tee.lock() {
        Ok(t) if !t.net_failed => verify_blob(ctx, job, &t).err().unwrap_or(e),
        _ => e,
    }
}

/// Asks for the blob from byte `have` on; returns the stream and where it starts
/// (0 when the registry ignored the range and sent everything).
fn open_stream(
    ctx: &Ctx,
    job: &Job,
    have: u64,
) -> Result<(oci_client::client::SizedStream, u64), FetchError> {
    use oci_client::client::BlobResponse;
    let desc = oci_client::manifest::OciDescriptor {
        digest: job.desc.digest.clone(),
        urls: job.desc.urls.clone(),
        ..Default::default()
    };
    // A range from 0 too: the answer is then never re-hashed by oci-client (we
    // hash the whole blob ourselves, across a resumed prefix).
    let resp = ctx
        .handle
        .block_on(
            ctx.session
                .client
                .pull_blob_stream_partial(&ctx.reference, &desc, have, None),
        )
        .map_err(|e| ctx.session.error(e, &format!("blob {}", job.desc.digest)))?;
    Ok(match resp {
        BlobResponse::Partial(s) => (s, have),
        BlobResponse::Full(s) => (s, 0),
    })
}

/// Reads the whole stream: through the unpacker when the layer is wanted.
/// Returns (uncompressed size, unpacked temp dir).
fn consume(
    ctx: &Ctx,
    job: &Job,
    tee: &Arc<Mutex<Tee>>,
) -> Result<(u64, Option<PathBuf>), FetchError> {
    let digest = &job.desc.digest;
    let net_error = |tee: &Arc<Mutex<Tee>>, error: io::Error| -> FetchError {
        if tee.lock().is_ok_and(|t| t.net_failed) {
            FetchError::Network {
                host: ctx.session.endpoint.host.clone(),
                digest: digest.clone(),
                error,
            }
        } else {
            FetchError::Io {
                path: ctx.tmp.clone(),
                error,
            }
        }
    };
    let Some(_) = &job.layer_dir else {
        io::copy(&mut Shared(tee.clone()), &mut io::sink()).map_err(|e| net_error(tee, e))?;
        return Ok((0, None));
    };
    let tmp = ctx
        .tmp
        .join(format!("unpack-{}-{}", std::process::id(), unique_suffix()));
    fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
    let result = (|| {
        let unpack_err = |error: UnpackError| match error {
            UnpackError::Read(e) if tee.lock().is_ok_and(|t| t.net_failed) => net_error(tee, e),
            error => FetchError::Unpack {
                digest: digest.clone(),
                error,
            },
        };
        let shared = io::BufReader::with_capacity(128 * 1024, Shared(tee.clone()));
        let plain = decompressed(Box::new(shared)).map_err(unpack_err)?;
        let mut diff = HashingReader::new(plain);
        unpack_layer(&mut diff, &tmp).map_err(unpack_err)?;
        // The tar may end before its padding, the gzip before its trailer: drain
        // both so every byte is hashed.
        io::copy(&mut diff, &mut io::sink()).map_err(|e| net_error(tee, e))?;
        io::copy(&mut Shared(tee.clone()), &mut io::sink()).map_err(|e| net_error(tee, e))?;
        let size = diff.bytes;
        let actual = diff.digest();
        if actual != job.diff_id {
            return Err(FetchError::DiffId {
                digest: digest.clone(),
                expected: job.diff_id.clone(),
                actual,
            });
        }
        Ok(size)
    })();
    match result {
        Ok(size) => Ok((size, Some(tmp))),
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

fn verify_blob(ctx: &Ctx, job: &Job, t: &Tee) -> Result<(), FetchError> {
    let host = ctx.session.endpoint.host.clone();
    let got = t.bytes;
    let actual = format!("sha256:{}", hex::encode(t.hasher.clone().finalize()));
    if got != job.desc.size && actual != job.desc.digest {
        return Err(FetchError::Size {
            host,
            digest: job.desc.digest.clone(),
            expected: job.desc.size,
            got,
        });
    }
    if actual != job.desc.digest {
        return Err(FetchError::Digest {
            host,
            digest: job.desc.digest.clone(),
            actual,
        });
    }
    Ok(())
}

/// The blob is already here but its layer directory is not (a pull killed
/// between the two renames, or an image sharing a blob): unpack from disk.
fn unpack_local(ctx: &Ctx, job: &Job, dir: &Path) -> Result<u64, FetchError> {
    if dir.is_dir() {
        ctx.progress.exists(&short(&job.desc.digest));
        return Ok(0);
    }
    let digest = &job.desc.digest;
    let result = berth_image::layers::unpack_blob(&ctx.blobs, digest, &job.diff_id, dir)
        .map(Option::unwrap_or_default)
        .map_err(|e| match e {
            LayerError::DiffId {
                blob,
                expected,
                actual,
            } => FetchError::DiffId {
                digest: blob,
                expected,
                actual,
            },
            LayerError::Unpack { blob, source } => FetchError::Unpack {
                digest: blob,
                error: source,
            },
            LayerError::Io { path, source } => FetchError::Io {
                path,
                error: source,
            },
            LayerError::Blob(e) => FetchError::Task(e.to_string()),
        });
    ctx.progress.finish(&short(digest), "Pull complete");
    result
}

fn commit_dir(tmp: &Path, dir: &Path, diff_id: &str) -> Result<(), FetchError> {
    let parent = dir.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(parent).map_err(io_err(parent))?;
    // Durable, and a layer another pull committed first (identical) is kept.
    berth_image::layers::place_dir(tmp, dir, diff_id).map_err(|error| {
        let _ = fs::remove_dir_all(tmp);
        FetchError::Io {
            path: dir.into(),
            error,
        }
    })?;
    Ok(())
}

fn lock(f: &File) -> io::Result<()> {
    // SAFETY: flock on a valid, open descriptor; blocking is intended (we run on
    // a blocking thread).
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The tee: a resumed prefix from disk, then the network (appended to the
/// partial file); everything hashed.
struct Tee {
    prefix: Option<io::Take<File>>,
    net: Box<dyn Read + Send>,
    out: File,
    hasher: Sha256,
    bytes: u64,
    net_failed: bool,
    id: String,
    progress: Arc<dyn Progress>,
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(p) = &mut self.prefix {
            let n = p.read(buf)?;
            if n > 0 {
                self.hasher.update(&buf[..n]);
                self.bytes += n as u64;
                return Ok(n);
            }
            self.prefix = None;
        }
        let n = match self.net.read(buf) {
            Ok(n) => n,
            Err(e) => {
                self.net_failed = true;
                return Err(e);
            }
        };
        self.out.write_all(&buf[..n])?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        self.progress.advance(&self.id, self.bytes);
        Ok(n)
    }
}

/// The tee shared between the decompressor (which owns a reader) and the code
/// that drains and verifies it afterwards.
struct Shared(Arc<Mutex<Tee>>);

impl Read for Shared {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("tee poisoned"))?
            .read(buf)
    }
}
