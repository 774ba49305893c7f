//! A directory of changes (a container's overlay upper directory) becomes a new image:
//! archived as one layer (`layer_writer`) on top of a parent image's layers, stored
//! as an uncompressed blob (its digest is its diff id, as `import` stores layers),
//! unpacked into the chain-id directory overlay mounts, and described by a new config
//! (the caller's runtime config, the parent's layers plus this one, the parent's
//! history plus one entry) and manifest. `commit` and the builder both come here.
//!
//! A directory with nothing to archive adds no layer: the history entry is marked
//! `empty_layer`, as docker does.

use crate::blobs::BlobError;
use crate::layer_writer::{write_layer, LayerWriteError};
use crate::reference::Reference;
use crate::store::{ImageStore, StoreError};
use oci_spec::image::{
    Config, Descriptor, Digest, HistoryBuilder, ImageConfiguration, ImageManifestBuilder, MediaType,
};
use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Layer(#[from] LayerWriteError),
    #[error(transparent)]
    Place(#[from] crate::layers::LayerError),
    #[error("building image metadata: {0}")]
    Spec(String),
    #[error(transparent)]
    Gc(#[from] crate::gc::GcError),
}

fn spec_err(e: impl std::fmt::Display) -> CommitError {
    CommitError::Spec(e.to_string())
}

/// What goes into the new image besides the layer.
pub struct CommitRequest<'a> {
    /// The image the layer goes on; `None` for an image of this layer alone.
    pub parent: Option<&'a str>,
    /// The directory to archive, as an overlay upper directory.
    pub upper: &'a Path,
    /// Paths below `upper` (relative) to leave out: mount points the runtime made.
    pub hidden: &'a HashSet<PathBuf>,
    /// The new image's runtime config (CMD, ENV, …), complete.
    pub config: Config,
    /// The history entry: what made the layer (docker: the container's command).
    pub created_by: String,
    pub comment: Option<String>,
    pub author: Option<String>,
    pub reference: Option<&'a Reference>,
}

/// Creates the image; returns its id (the config digest).
pub fn commit(store: &ImageStore, req: &CommitRequest) -> Result<String, CommitError> {
    // Held until the image row exists (see crate::gc).
    let _lease = store.lease()?;
    let (mut image, mut layers, parent_size) = match req.parent {
        Some(id) => {
            let record = store.get(id)?;
            let manifest = store.manifest(&record)?;
            (store.config(id)?, manifest.layers().clone(), record.size)
        }
        None => (ImageConfiguration::default(), Vec::new(), 0),
    };
    let (diff_id, size, entries) = store_layer(store, req.upper, req.hidden)?;
    let empty = entries == 0;
    let mut diff_ids = image.rootfs().diff_ids().clone();
    if !empty {
        diff_ids.push(diff_id.clone());
        let chain = crate::chain_ids(&diff_ids).pop().unwrap_or_default();
        crate::layers::unpack_blob(&store.blobs, &diff_id, &diff_id, &store.layer_dir(&chain))?;
        let digest = Digest::from_str(&diff_id).map_err(spec_err)?;
        layers.push(Descriptor::new(MediaType::ImageLayer, size, digest));
    }
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let mut history = HistoryBuilder::default()
        .created(created.clone())
        .created_by(req.created_by.clone());
    if let Some(c) = &req.comment {
        history = history.comment(c.clone());
    }
    if let Some(a) = &req.author {
        history = history.author(a.clone());
    }
    if empty {
        history = history.empty_layer(true);
    }
    let mut all_history = image.history().clone().unwrap_or_default();
    all_history.push(history.build().map_err(spec_err)?);
    image.set_history(Some(all_history));
    image.set_created(Some(created.clone()));
    image.set_author(req.author.clone());
    image.set_config(Some(req.config.clone()));
    let mut rootfs = image.rootfs().clone();
    rootfs.set_diff_ids(diff_ids);
    image.set_rootfs(rootfs);
    let id = store_image(store, &image, layers, &created, parent_size + size)?;
    if let Some(r) = req.reference {
        store.tag(r, &id)?;
    }
    Ok(id)
}

/// Writes config and manifest blobs and the image row; returns the image id.
fn store_image(
    store: &ImageStore,
    image: &ImageConfiguration,
    layers: Vec<Descriptor>,
    created: &str,
    size: u64,
) -> Result<String, CommitError> {
    let config_json = serde_json::to_vec(image).map_err(spec_err)?;
    let config_digest = store.blobs.put_bytes(&config_json)?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(Descriptor::new(
            MediaType::ImageConfig,
            config_json.len() as u64,
            Digest::from_str(&config_digest).map_err(spec_err)?,
        ))
        .layers(layers)
        .build()
        .map_err(spec_err)?;
    let manifest_json = serde_json::to_vec(&manifest).map_err(spec_err)?;
    let manifest_digest = store.blobs.put_bytes(&manifest_json)?;
    store.record(&config_digest, &manifest_digest, created, size)?;
    Ok(config_digest)
}

/// Archives `upper` straight into the blob store (no temporary copy: the archive is
/// written on a thread and hashed as it arrives). Returns (diff id, size, entries).
fn store_layer(
    store: &ImageStore,
    upper: &Path,
    hidden: &HashSet<PathBuf>,
) -> Result<(String, u64, u64), CommitError> {
    let (tx, rx) = sync_channel(4);
    let (upper, hidden) = (upper.to_path_buf(), hidden.clone());
    let writer = std::thread::spawn(move || {
        let out = io::BufWriter::with_capacity(1 << 16, ChunkWriter(tx.clone()));
        let result = write_layer(&upper, &hidden, out);
        if let Err(e) = &result {
            // Fail the reader too, so no truncated blob is stored.
            let _ = tx.send(Err(io::Error::other(e.to_string())));
        }
        result
    });
    let stored = store.blobs.put_reader(&mut ChunkReader::new(rx), None);
    let written = writer
        .join()
        .map_err(|_| CommitError::Spec("the layer writer panicked".into()))?;
    match (written, stored) {
        (Ok(entries), Ok((digest, size))) => Ok((digest, size, entries)),
        // The store failed first (a full disk): its error is the cause.
        (Err(LayerWriteError::Io { source, .. }), Err(e))
            if source.kind() == io::ErrorKind::BrokenPipe =>
        {
            Err(e.into())
        }
        (Err(e), _) => Err(e.into()),
        (Ok(_), Err(e)) => Err(e.into()),
    }
}

/// The sending half of an in-memory pipe between the archive writer and the store.
struct ChunkWriter(SyncSender<io::Result<Vec<u8>>>);

impl Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .send(Ok(buf.to_vec()))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct ChunkReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl ChunkReader {
    fn new(rx: Receiver<io::Result<Vec<u8>>>) -> Self {
        ChunkReader {
            rx,
            chunk: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => (self.chunk, self.pos) = (chunk, 0),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0), // the writer finished
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ImageStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        (dir, store)
    }

    fn base(store: &ImageStore) -> String {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/os"), "base").unwrap();
        let mut tar = tar::Builder::new(Vec::new());
        tar.append_dir_all(".", dir.path()).unwrap();
        let data = tar.into_inner().unwrap();
        crate::import::import(store, Box::new(io::Cursor::new(data)), None, &[], None).unwrap()
    }

    fn request<'a>(
        parent: Option<&'a str>,
        upper: &'a Path,
        hidden: &'a HashSet<PathBuf>,
    ) -> CommitRequest<'a> {
        let mut config = Config::default();
        config.set_cmd(Some(vec!["/bin/sh".into()]));
        CommitRequest {
            parent,
            upper,
            hidden,
            config,
            created_by: "/bin/sh".into(),
            comment: Some("msg".into()),
            author: Some("me".into()),
            reference: None,
        }
    }

    #[test]
    fn a_layer_goes_on_top_of_the_parent() {
        let (_d, store) = store();
        let parent = base(&store);
        let upper = tempfile::tempdir().unwrap();
        std::fs::write(upper.path().join("new"), "n").unwrap();
        let hidden = HashSet::new();
        let id = commit(&store, &request(Some(&parent), upper.path(), &hidden)).unwrap();
        let config = store.config(&id).unwrap();
        assert_eq!(config.rootfs().diff_ids().len(), 2);
        assert_eq!(config.author().as_deref(), Some("me"));
        let history = config.history().clone().unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[1].comment().as_deref(), Some("msg"));
        assert_eq!(history[1].created_by().as_deref(), Some("/bin/sh"));
        assert_eq!(history[1].empty_layer(), None);
        let lowers = store.lower_dirs(&id).unwrap();
        assert_eq!(std::fs::read(lowers[0].join("new")).unwrap(), b"n");
        assert_eq!(std::fs::read(lowers[1].join("etc/os")).unwrap(), b"base");
        let record = store.get(&id).unwrap();
        assert_eq!(store.manifest(&record).unwrap().layers().len(), 2);
        assert!(record.size > store.get(&parent).unwrap().size);
    }

    #[test]
    fn nothing_changed_adds_no_layer() {
        let (_d, store) = store();
        let parent = base(&store);
        let upper = tempfile::tempdir().unwrap();
        let hidden = HashSet::new();
        let id = commit(&store, &request(Some(&parent), upper.path(), &hidden)).unwrap();
        let config = store.config(&id).unwrap();
        assert_eq!(config.rootfs().diff_ids().len(), 1);
        assert_eq!(
            config.history().clone().unwrap()[1].empty_layer(),
            Some(true)
        );
    }

    #[test]
    fn a_failed_archive_stores_nothing() {
        let (d, store) = store();
        let upper = tempfile::tempdir().unwrap();
        std::fs::write(upper.path().join(".wh.sneaky"), "").unwrap();
        let hidden = HashSet::new();
        let before = std::fs::read_dir(d.path().join("blobs/sha256"))
            .unwrap()
            .count();
        let err = commit(&store, &request(None, upper.path(), &hidden)).unwrap_err();
        assert!(matches!(err, CommitError::Layer(_)), "{err}");
        let after = std::fs::read_dir(d.path().join("blobs/sha256"))
            .unwrap()
            .count();
        assert_eq!(before, after);
    }
}
