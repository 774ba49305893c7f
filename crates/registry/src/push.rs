//! `push`: an image in the store → a registry. Blobs the registry has are skipped
//! (HEAD), blobs it holds in another repository are mounted, the rest stream from
//! the blob store. A pulled image goes out with its compressed blobs and manifest
//! unchanged (same digests); a locally made layer is gzipped once and the result
//! remembered for every later push.

use crate::client::{runtime, ClientError, Session};
use crate::credentials::CredentialStore;
use crate::manifest::{self, Descriptor, Manifest, ManifestError};
use crate::progress::{short, Progress};
use crate::records::{self, Compressed};
use crate::settings::{Settings, SettingsError};
use berth_image::blobs::BlobError;
use berth_image::reference::ReferenceError;
use berth_image::{ImageConfiguration, ImageStore, Reference, StoreError};
use futures_util::{StreamExt, TryStreamExt};
use oci_client::RegistryOperation;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("recording pushed blobs in the metadata database")]
    Db(#[from] rusqlite::Error),
    #[error("image {0}: {1}")]
    Manifest(String, ManifestError),
    #[error("{0} is an image id, not a name: give a destination (berth push {0} REGISTRY/REPOSITORY[:TAG])")]
    NoDestination(String),
    #[error("cannot push to a digest reference {0}: give NAME[:TAG]")]
    DigestDestination(String),
    #[error("image {image}: {why}")]
    Image { image: String, why: String },
    #[error(transparent)]
    Gc(#[from] berth_image::gc::GcError),
}

#[derive(Debug, Clone)]
pub struct Pushed {
    pub reference: Reference,
    pub digest: String,
    pub size: usize,
}

/// One blob to send: where it is on disk (or its bytes, for the config).
struct Upload {
    digest: String,
    size: u64,
    path: PathBuf,
    mount_from: Vec<String>,
    quiet: bool,
}

pub fn push(
    store: &ImageStore,
    settings: &Settings,
    local: &str,
    dest: Option<&str>,
    progress: Arc<dyn Progress>,
) -> Result<Pushed, PushError> {
    records::ensure(&store.conn)?;
    // The gzip form made here is kept only once it is remembered: hold the store.
    let _lease = store.lease()?;
    let id = store.resolve(local)?;
    let target = match dest {
        Some(d) => Reference::parse(d)?,
        None => match Reference::parse(local) {
            Ok(r) if store.tags_of(&id)?.contains(&r.to_string()) => r,
            _ => return Err(PushError::NoDestination(local.into())),
        },
    };
    if target.digest.is_some() {
        return Err(PushError::DigestDestination(target.to_string()));
    }
    let record = store.get(&id)?;
    let (manifest_raw, layers) = manifest_for_push(store, &id, &record.manifest)?;
    let mut uploads = Vec::new();
    for l in layers
        .iter()
        .filter(|l| !manifest::non_distributable(&l.media_type))
    {
        uploads.push(Upload {
            digest: l.digest.clone(),
            size: l.size,
            path: store.blobs.path(&l.digest),
            mount_from: records::sources(&store.conn, &l.digest, &target.registry)?,
            quiet: false,
        });
    }
    uploads.push(Upload {
        digest: id.clone(),
        size: std::fs::metadata(store.blobs.path(&id)).map_or(0, |m| m.len()),
        path: store.blobs.path(&id),
        mount_from: Vec::new(),
        quiet: true,
    });
    let content_type = manifest_media_type(&manifest_raw);
    let creds = CredentialStore::new(&settings.docker_config_dir);
    let endpoint = settings.push_endpoint(&target.registry);
    let rt = runtime()?;
    let digest = rt.block_on(async {
        let session =
            Arc::new(Session::open(&endpoint, &target, &creds, RegistryOperation::Push).await?);
        let oref = session.oci_ref(&target);
        let results: Vec<Result<(), ClientError>> = futures_util::stream::iter(uploads.iter())
            .map(|u| upload(&session, &oref, &target, u, &progress))
            .buffer_unordered(settings.max_downloads.max(3))
            .collect()
            .await;
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        let value = reqwest::header::HeaderValue::from_str(&content_type).unwrap_or(
            reqwest::header::HeaderValue::from_static(manifest::OCI_MANIFEST),
        );
        session
            .client
            .push_manifest_raw(&oref, manifest_raw.clone(), value)
            .await
            .map_err(|e| session.error(e, &format!("manifest for {target}")))?;
        Ok::<String, ClientError>(berth_image::blobs::sha256_digest(&manifest_raw))
    })?;
    drop(rt);
    for u in &uploads {
        records::add_source(&store.conn, &u.digest, &target.registry, &target.repository)?;
    }
    Ok(Pushed {
        reference: target,
        digest,
        size: manifest_raw.len(),
    })
}

async fn upload(
    session: &Session,
    oref: &oci_client::Reference,
    target: &Reference,
    u: &Upload,
    progress: &Arc<dyn Progress>,
) -> Result<(), ClientError> {
    let id = short(&u.digest);
    let what = format!("blob {}", u.digest);
    let client = &session.client;
    if client
        .blob_exists(oref, &u.digest)
        .await
        .map_err(|e| session.error(e, &what))?
    {
        if !u.quiet {
            progress.exists(&id);
        }
        return Ok(());
    }
    for repo in u.mount_from.iter().filter(|r| **r != target.repository) {
        let from =
            oci_client::Reference::with_tag(target.registry.clone(), repo.clone(), "latest".into());
        if client.mount_blob(oref, &from, &u.digest).await.is_ok() {
            if !u.quiet {
                progress.finish(&id, &format!("Mounted from {repo}"));
            }
            return Ok(());
        }
    }
    let file = tokio::fs::File::open(&u.path)
        .await
        .map_err(|e| ClientError::Registry {
            host: session.endpoint.host.clone(),
            why: format!("opening {}: {e}", u.path.display()),
        })?;
    if !u.quiet {
        progress.start(&id, u.size, 0);
    }
    let mut sent = 0u64;
    let progress_in = progress.clone();
    let (quiet, id_in) = (u.quiet, id.clone());
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024)
        .inspect_ok(move |chunk| {
            sent += chunk.len() as u64;
            if !quiet {
                progress_in.advance(&id_in, sent);
            }
        })
        .map_err(oci_client::errors::OciDistributionError::IoError);
    client
        .push_blob_stream(oref, stream, &u.digest, Some(u.size))
        .await
        .map_err(|e| session.error(e, &what))?;
    if !u.quiet {
        progress.finish(&id, "Pushed");
    }
    Ok(())
}

/// The manifest to push and its layers: the stored one unchanged when every layer
/// blob is already a distributable (compressed) blob; otherwise one whose
/// uncompressed local layers are replaced by their remembered gzip forms.
fn manifest_for_push(
    store: &ImageStore,
    id: &str,
    manifest_digest: &str,
) -> Result<(Vec<u8>, Vec<Descriptor>), PushError> {
    let raw = store.blobs.read(manifest_digest)?;
    let m = match manifest::parse(&raw, None).map_err(|e| PushError::Manifest(id.into(), e))? {
        Manifest::Image(m) => m,
        Manifest::Index(_) => {
            return Err(PushError::Image {
                image: id.into(),
                why: "its stored manifest is an index".into(),
            })
        }
    };
    let config: ImageConfiguration = store.config(id)?;
    let diff_ids = config.rootfs().diff_ids();
    let docker = m.media_type.as_deref() == Some(manifest::DOCKER_MANIFEST);
    let mut layers = Vec::new();
    let mut changed = false;
    for (i, l) in m.layers.iter().enumerate() {
        let local_tar = matches!(
            l.media_type.as_str(),
            manifest::OCI_LAYER | manifest::DOCKER_LAYER_TAR
        ) && diff_ids.get(i) == Some(&l.digest);
        if !local_tar {
            if !manifest::non_distributable(&l.media_type) && !store.blobs.exists(&l.digest) {
                return Err(PushError::Image {
                    image: id.into(),
                    why: format!(
                        "layer blob {} is not in the store; pull the image again",
                        l.digest
                    ),
                });
            }
            layers.push(l.clone());
            continue;
        }
        let c = compressed_form(store, &l.digest, docker)?;
        layers.push(Descriptor {
            media_type: c.media_type,
            digest: c.digest,
            size: c.size,
            urls: None,
            platform: None,
        });
        changed = true;
    }
    if !changed {
        return Ok((raw, layers));
    }
    let mut v: serde_json::Value = serde_json::from_slice(&raw)
        .map_err(|e| PushError::Manifest(id.into(), ManifestError::Json(e)))?;
    v["layers"] = serde_json::to_value(&layers)
        .map_err(|e| PushError::Manifest(id.into(), ManifestError::Json(e)))?;
    let bytes = serde_json::to_vec(&v)
        .map_err(|e| PushError::Manifest(id.into(), ManifestError::Json(e)))?;
    Ok((bytes, layers))
}

/// The gzip blob of an uncompressed layer: made once, then found again.
fn compressed_form(
    store: &ImageStore,
    diff_id: &str,
    docker: bool,
) -> Result<Compressed, PushError> {
    if let Some(c) = records::compressed(&store.conn, diff_id)? {
        if store.blobs.exists(&c.digest) {
            return Ok(c);
        }
    }
    let file = store.blobs.open_blob(diff_id)?;
    let mut gz = flate2::read::GzEncoder::new(
        std::io::BufReader::with_capacity(256 * 1024, file),
        flate2::Compression::default(),
    );
    let (digest, size) = store.blobs.put_reader(&mut gz, None)?;
    let c = Compressed {
        digest,
        media_type: if docker {
            manifest::DOCKER_LAYER_GZIP
        } else {
            manifest::OCI_LAYER_GZIP
        }
        .into(),
        size,
    };
    records::remember_compressed(&store.conn, diff_id, &c)?;
    Ok(c)
}

fn manifest_media_type(raw: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct M {
        #[serde(default, rename = "mediaType")]
        media_type: Option<String>,
    }
    serde_json::from_slice::<M>(raw)
        .ok()
        .and_then(|m| m.media_type)
        .unwrap_or_else(|| manifest::OCI_MANIFEST.into())
}
