//! `pull`: a reference → candidates (short names) → endpoints (mirrors, then the
//! registry) → manifest (a platform chosen from a list) → config → layers fetched
//! in parallel, each unpacked while it streams → image recorded and tagged.

use crate::client::{runtime, ClientError, Session};
use crate::credentials::CredentialStore;
use crate::fetch::{self, Ctx, FetchError, Job};
use crate::manifest::{self, Descriptor, Manifest, ManifestError};
use crate::platform::Platform;
use crate::progress::{short, Progress};
use crate::settings::{Endpoint, Settings, SettingsError};
use berth_image::{ImageConfiguration, ImageStore, Reference, StoreError};
use futures_util::StreamExt;
use oci_client::RegistryOperation;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("{reference}: {error}")]
    Manifest {
        reference: String,
        error: ManifestError,
    },
    #[error("{reference} has no image for {want} (it has: {have}); choose one with --platform")]
    NoPlatform {
        reference: String,
        want: String,
        have: String,
    },
    #[error("{reference} is for {have}, not the requested {want}")]
    WrongPlatform {
        reference: String,
        want: String,
        have: String,
    },
    #[error("{reference}: the image config is invalid: {why}")]
    Config { reference: String, why: String },
    #[error(transparent)]
    Gc(#[from] berth_image::gc::GcError),
    #[error("{}", unable_text(.input, .attempts, *.not_found))]
    Unable {
        input: String,
        attempts: Vec<String>,
        not_found: bool,
    },
}

impl PullError {
    /// True when every place asked answered "no such image" (docker's exit 125,
    /// but run/create explain it as "Unable to find image").
    pub fn not_found(&self) -> bool {
        matches!(
            self,
            PullError::Unable {
                not_found: true,
                ..
            }
        )
    }
}

fn unable_text(input: &str, attempts: &[String], not_found: bool) -> String {
    let mut s = if not_found {
        format!("image {input} not found (or access denied); tried:")
    } else {
        format!("could not pull {input}; tried:")
    };
    for a in attempts {
        s.push_str("\n  - ");
        s.push_str(a);
    }
    s.push_str("\ncheck the name and tag, log in if the repository is private (berth login REGISTRY), or configure a mirror in /etc/berth/registries.toml");
    s
}

#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone)]
pub struct Pulled {
    pub reference: Reference,
    pub image_id: String,
    pub digest: String,
    /// The endpoint that served it (a mirror or the registry).
    pub source: String,
    /// False when every layer was already in the store and the tag did not move.
    pub downloaded: bool,
}

/// Pulls `input` (short or qualified) into `store`. Builds a runtime for the
/// network work and drops it before returning.
pub fn pull(
    store: &ImageStore,
    settings: &Settings,
    input: &str,
    opts: &PullOptions,
    progress: Arc<dyn Progress>,
) -> Result<Pulled, PullError> {
    let candidates = settings.candidates(input)?;
    let creds = CredentialStore::new(&settings.docker_config_dir);
    // Unpack directories of pulls that were killed; partial blobs stay (the next
    // pull resumes them).
    berth_image::layers::sweep_dead_temps(&store.root.join("tmp"), "unpack-");
    // Held until the image row exists: a concurrent rmi never frees a layer this
    // pull found already present (see berth_image::gc).
    let _lease = store.lease()?;
    let rt = runtime()?;
    let mut attempts = Vec::new();
    let mut not_found = true;
    for cand in &candidates {
        if settings.blocked(&cand.registry) {
            attempts.push(format!(
                "{cand}: registry {} is blocked in the registry settings",
                cand.registry
            ));
            continue;
        }
        for ep in settings.pull_endpoints(&cand.registry) {
            let via = if ep.mirror {
                format!("mirror {}", ep.host)
            } else {
                format!("registry {}", ep.host)
            };
            let res = rt.block_on(pull_from(
                store, settings, &creds, &ep, cand, opts, &progress,
            ));
            match res {
                Ok(p) => return Ok(p),
                Err(e) => {
                    let missing = matches!(&e, PullError::Client(c) if c.is_not_found());
                    not_found &= missing;
                    // Only "not here" and "cannot reach" move on: a corrupt blob or a
                    // refused password is an answer the user must see.
                    let moves_on = missing
                        || matches!(&e, PullError::Client(ClientError::Unreachable { .. }))
                        || ep.mirror;
                    attempts.push(format!("{cand} from {via}: {e}"));
                    if !moves_on {
                        return Err(e);
                    }
                }
            }
        }
    }
    Err(PullError::Unable {
        input: input.into(),
        attempts,
        not_found,
    })
}

async fn pull_from(
    store: &ImageStore,
    settings: &Settings,
    creds: &CredentialStore,
    ep: &Endpoint,
    reference: &Reference,
    opts: &PullOptions,
    progress: &Arc<dyn Progress>,
) -> Result<Pulled, PullError> {
    let session = Arc::new(Session::open(ep, reference, creds, RegistryOperation::Pull).await?);
    let oref = session.oci_ref(reference);
    let resolved = resolve(&session, reference, &oref, opts).await?;
    let config: ImageConfiguration =
        serde_json::from_slice(&resolved.config_raw).map_err(|e| PullError::Config {
            reference: reference.to_string(),
            why: e.to_string(),
        })?;
    let diff_ids = config.rootfs().diff_ids().clone();
    let layers = &resolved.manifest.layers;
    if diff_ids.len() != layers.len() {
        return Err(PullError::Config {
            reference: reference.to_string(),
            why: format!(
                "{} layers in the manifest but {} diff ids in the config",
                layers.len(),
                diff_ids.len()
            ),
        });
    }
    // A diff id names the layer's directory in the store: anything but a digest
    // (an absolute path, `..`) would point that directory, and what `rmi`
    // deletes, at the host.
    for d in &diff_ids {
        berth_image::reference::validate_digest(d).map_err(|why| PullError::Config {
            reference: reference.to_string(),
            why: format!("diff id {d:?}: {why}"),
        })?;
    }
    for l in layers {
        manifest::check_layer_type(&l.media_type)
            .and_then(|()| manifest::check_layer_digest(&l.digest))
            .map_err(|error| PullError::Manifest {
                reference: reference.to_string(),
                error,
            })?;
    }
    let chains = berth_image::chain_ids(&diff_ids);
    let mut jobs = Vec::new();
    let mut size = 0;
    let mut downloaded = false;
    for ((desc, diff), chain) in layers.iter().zip(&diff_ids).zip(&chains) {
        let dir = store.layer_dir(chain);
        if dir.is_dir() && store.blobs.exists(&desc.digest) {
            progress.exists(&short(&desc.digest));
            size += berth_image::disk_usage(&dir);
            continue;
        }
        downloaded = true;
        jobs.push(Job {
            desc: desc.clone(),
            diff_id: diff.clone(),
            layer_dir: (!dir.is_dir()).then_some(dir),
        });
    }
    let ctx = Ctx {
        session: session.clone(),
        reference: oref.clone(),
        blobs: store.blobs.clone(),
        tmp: store.root.join("tmp"),
        progress: progress.clone(),
        handle: tokio::runtime::Handle::current(),
    };
    size += fetch_all(ctx, jobs, settings.max_downloads).await?;
    let image_id = commit(store, reference, &resolved, &config, size)?;
    Ok(Pulled {
        reference: reference.clone(),
        image_id,
        digest: resolved.list_digest.unwrap_or(resolved.manifest_digest),
        source: ep.host.clone(),
        downloaded,
    })
}

/// Runs the layer jobs, at most `limit` at once, each on a blocking thread.
async fn fetch_all(ctx: Ctx, jobs: Vec<Job>, limit: usize) -> Result<u64, PullError> {
    let results: Vec<Result<u64, FetchError>> = futures_util::stream::iter(jobs)
        .map(|job| {
            let ctx = ctx.clone();
            async move {
                tokio::task::spawn_blocking(move || fetch::fetch(&ctx, &job))
                    .await
                    .unwrap_or_else(|e| Err(FetchError::Task(e.to_string())))
            }
        })
        .buffer_unordered(limit)
        .collect()
        .await;
    let mut total = 0;
    for r in results {
        total += r?;
    }
    Ok(total)
}

struct Resolved {
    manifest_raw: bytes::Bytes,
    manifest_digest: String,
    manifest: manifest::ImageManifest,
    list: Option<(bytes::Bytes, String)>,
    list_digest: Option<String>,
    config_raw: Vec<u8>,
}

async fn resolve(
    session: &Session,
    reference: &Reference,
    oref: &oci_client::Reference,
    opts: &PullOptions,
) -> Result<Resolved, PullError> {
    let what = format!("manifest for {reference}");
    let (raw, digest) =
        crate::document::get_manifest(session, oref, manifest::ACCEPT, &what).await?;
    let parse = |body: &[u8]| {
        manifest::parse(body, None).map_err(|error| PullError::Manifest {
            reference: reference.to_string(),
            error,
        })
    };
    let want = opts.platform.clone().unwrap_or_else(Platform::host);
    let (manifest_raw, manifest_digest, image, list) = match parse(&raw)? {
        Manifest::Image(m) => (raw, digest, m, None),
        Manifest::Index(index) => {
            let entry = crate::platform::choose(&index.manifests, |d| d.platform.as_ref(), &want)
                .ok_or_else(|| PullError::NoPlatform {
                reference: reference.to_string(),
                want: want.to_string(),
                have: platforms(&index.manifests),
            })?;
            let child = oref.clone_with_digest(entry.digest.clone());
            let what = format!("manifest {}", entry.digest);
            let (body, d) =
                crate::document::get_manifest(session, &child, manifest::ACCEPT, &what).await?;
            match parse(&body)? {
                Manifest::Image(m) => (body, d, m, Some((raw, digest))),
                Manifest::Index(_) => {
                    return Err(PullError::Manifest {
                        reference: reference.to_string(),
                        error: ManifestError::Unsupported("nested index".into()),
                    })
                }
            }
        }
    };
    let config_raw = pull_config(session, reference, oref, &image.config).await?;
    if list.is_none() {
        check_platform(reference, &config_raw, opts)?;
    }
    let list_digest = list.as_ref().map(|(_, d)| d.clone());
    Ok(Resolved {
        manifest_raw,
        manifest_digest,
        manifest: image,
        list,
        list_digest,
        config_raw,
    })
}

/// The config blob, held in memory: never more bytes than the manifest declares
/// (a registry could otherwise stream without end), and exactly that many.
async fn pull_config(
    session: &Session,
    reference: &Reference,
    oref: &oci_client::Reference,
    desc: &Descriptor,
) -> Result<Vec<u8>, PullError> {
    if desc.size > crate::document::MAX_CONFIG_BYTES {
        return Err(PullError::Config {
            reference: reference.to_string(),
            why: format!(
                "config {} declares {} bytes, more than berth's limit of {}; the registry serves a damaged or hostile image",
                desc.digest,
                desc.size,
                crate::document::MAX_CONFIG_BYTES
            ),
        });
    }
    let mut capped = Capped {
        buf: Vec::new(),
        limit: desc.size,
        over: false,
    };
    let res = session
        .client
        .pull_blob(oref, desc.digest.as_str(), &mut capped)
        .await;
    if capped.over || (res.is_ok() && capped.buf.len() as u64 != desc.size) {
        return Err(PullError::Config {
            reference: reference.to_string(),
            why: format!(
                "config {} is not the {} bytes the manifest declares; the registry serves a damaged or hostile image",
                desc.digest, desc.size
            ),
        });
    }
    res.map_err(|e| session.error(e, &format!("config {}", desc.digest)))?;
    Ok(capped.buf)
}

/// A buffer that refuses to grow past `limit` (and remembers that it did).
struct Capped {
    buf: Vec<u8>,
    limit: u64,
    over: bool,
}

impl tokio::io::AsyncWrite for Capped {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if (self.buf.len() + data.len()) as u64 > self.limit {
            self.over = true;
            return std::task::Poll::Ready(Err(std::io::Error::other("larger than declared")));
        }
        self.buf.extend_from_slice(data);
        std::task::Poll::Ready(Ok(data.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// A single-platform image pulled with an explicit --platform must be that platform.
fn check_platform(
    reference: &Reference,
    config_raw: &[u8],
    opts: &PullOptions,
) -> Result<(), PullError> {
    let Some(want) = &opts.platform else {
        return Ok(());
    };
    #[derive(serde::Deserialize)]
    struct P {
        #[serde(default)]
        os: String,
        #[serde(default)]
        architecture: String,
        #[serde(default)]
        variant: Option<String>,
    }
    let Ok(p) = serde_json::from_slice::<P>(config_raw) else {
        return Ok(());
    };
    let have = Platform {
        os: p.os,
        architecture: p.architecture,
        variant: p.variant,
    };
    if !want.matches(&have) {
        return Err(PullError::WrongPlatform {
            reference: reference.to_string(),
            want: want.to_string(),
            have: have.to_string(),
        });
    }
    Ok(())
}

fn platforms(entries: &[Descriptor]) -> String {
    let list: Vec<String> = entries
        .iter()
        .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
        .collect();
    if list.is_empty() {
        "no platforms listed".into()
    } else {
        list.join(", ")
    }
}

/// Config, manifest (and list) blobs, then the image row and its tag: the image
/// becomes visible only when everything it needs is in place.
fn commit(
    store: &ImageStore,
    reference: &Reference,
    r: &Resolved,
    config: &ImageConfiguration,
    size: u64,
) -> Result<String, PullError> {
    let put = |data: &[u8], expected: &str| -> Result<String, PullError> {
        let (d, _) = store
            .blobs
            .put_reader(&mut &data[..], Some(expected))
            .map_err(StoreError::from)?;
        Ok(d)
    };
    let image_id = put(&r.config_raw, &r.manifest.config.digest)?;
    put(&r.manifest_raw, &r.manifest_digest)?;
    if let Some((raw, d)) = &r.list {
        put(raw, d)?;
    }
    let created = config
        .created()
        .clone()
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
    // Where each blob lives, so a later push to this registry can mount it.
    let remember = || -> rusqlite::Result<()> {
        crate::records::ensure(&store.conn)?;
        for d in r
            .manifest
            .layers
            .iter()
            .map(|l| &l.digest)
            .chain([&image_id])
        {
            crate::records::add_source(&store.conn, d, &reference.registry, &reference.repository)?;
        }
        Ok(())
    };
    remember().map_err(StoreError::from)?;
    berth_image::gc::pause_point("pull-before-record");
    store.record(&image_id, &r.manifest_digest, &created, size)?;
    store.tag(reference, &image_id)?;
    Ok(image_id)
}

/// Every tag of `input`'s repository (for `pull -a`), from the first endpoint
/// that answers. Returns the repository's reference (without tag) too.
pub fn list_tags(settings: &Settings, input: &str) -> Result<(Reference, Vec<String>), PullError> {
    let candidates = settings.candidates(input)?;
    let creds = CredentialStore::new(&settings.docker_config_dir);
    let rt = runtime()?;
    let mut attempts = Vec::new();
    let mut not_found = true;
    for cand in candidates {
        for ep in settings.pull_endpoints(&cand.registry) {
            let res: Result<Vec<String>, ClientError> = rt.block_on(async {
                let s = Session::open(&ep, &cand, &creds, RegistryOperation::Pull).await?;
                let o = s.oci_ref(&cand);
                let r = s.client.list_tags(&o, &s.auth, None, None).await;
                r.map(|t| t.tags)
                    .map_err(|e| s.error(e, &format!("repository {}", cand.name())))
            });
            match res {
                Ok(tags) => return Ok((cand, tags)),
                Err(e) => {
                    not_found &= e.is_not_found();
                    attempts.push(format!("{} from {}: {e}", cand.name(), ep.host));
                }
            }
        }
    }
    Err(PullError::Unable {
        input: input.into(),
        attempts,
        not_found,
    })
}
