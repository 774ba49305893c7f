//! `save`: images → one tar stream.
//!
//! The default is docker 25's combined archive: an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/sha256/…`) whose layers are *uncompressed* tars, plus the
//! docker-archive `manifest.json` and `repositories` pointing at the same blobs. Old
//! and new docker, podman and berth all load it. `oci-archive` writes the OCI
//! layout alone with the blobs exactly as stored (a pulled image keeps its
//! compressed layers and manifest digest).

use super::{ArchiveError, Format};
use crate::blobs::{sha256_digest, HashingReader};
use crate::reference::{familiar, Reference};
use crate::store::ImageStore;
use crate::unpack::decompressed;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::{self, Read, Seek, Write};

/// One image to write: its id and the tags to record (may be empty).
struct Item {
    id: String,
    tags: Vec<Reference>,
}

pub fn save(
    store: &ImageStore,
    names: &[String],
    format: Format,
    out: impl Write,
) -> Result<(), ArchiveError> {
    let items = resolve(store, names)?;
    let mut tar = tar::Builder::new(out);
    let mut written = BTreeSet::new();
    let mut index = Vec::new();
    let mut docker_manifest = Vec::new();
    let mut repositories = serde_json::Map::new();
    for item in &items {
        let record = store.get(&item.id)?;
        let config_raw = store.blobs.read(&item.id)?;
        put_blob_bytes(&mut tar, &mut written, &item.id, &config_raw)?;
        let (manifest_digest, manifest_len, layer_paths) = match format {
            Format::Oci => {
                let raw = store.blobs.read(&record.manifest)?;
                let m: Value = serde_json::from_slice(&raw)?;
                for l in m["layers"].as_array().into_iter().flatten() {
                    let d = l["digest"].as_str().unwrap_or_default();
                    put_blob_file(&mut tar, &mut written, store, d)?;
                }
                put_blob_bytes(&mut tar, &mut written, &record.manifest, &raw)?;
                (record.manifest.clone(), raw.len(), Vec::new())
            }
            Format::Docker => {
                let (raw, paths) = uncompressed_manifest(store, &mut tar, &mut written, item)?;
                let d = sha256_digest(&raw);
                put_blob_bytes(&mut tar, &mut written, &d, &raw)?;
                (d, raw.len(), paths)
            }
        };
        let media = if format == Format::Oci {
            manifest_media_type(store, &record.manifest)
        } else {
            "application/vnd.oci.image.manifest.v1+json".to_string()
        };
        let mut tags_for_index = item.tags.iter().map(Some).collect::<Vec<_>>();
        if tags_for_index.is_empty() {
            tags_for_index.push(None);
        }
        for t in tags_for_index {
            let mut desc =
                json!({"mediaType": media, "digest": manifest_digest, "size": manifest_len});
            if let Some(t) = t {
                desc["annotations"] = json!({
                    "io.containerd.image.name": t.to_string(),
                    "org.opencontainers.image.ref.name": t.tag.clone().unwrap_or_default(),
                });
            }
            index.push(desc);
        }
        if format == Format::Docker {
            let tags: Vec<String> = item.tags.iter().map(|t| familiar(&t.to_string())).collect();
            docker_manifest.push(json!({
                "Config": blob_path(&item.id),
                "RepoTags": tags,
                "Layers": layer_paths,
            }));
            for t in &item.tags {
                let top = layer_paths
                    .last()
                    .map(|p| p.rsplit('/').next().unwrap_or(""))
                    .unwrap_or("");
                let repo = repositories
                    .entry(t.familiar_name())
                    .or_insert_with(|| json!({}));
                repo[t.tag.clone().unwrap_or_default()] = json!(top);
            }
        }
    }
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": index});
    put_file(&mut tar, "index.json", &serde_json::to_vec(&index)?)?;
    put_file(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    if format == Format::Docker {
        put_file(
            &mut tar,
            "manifest.json",
            &serde_json::to_vec(&docker_manifest)?,
        )?;
        put_file(
            &mut tar,
            "repositories",
            &serde_json::to_vec(&Value::Object(repositories))?,
        )?;
    }
    tar.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(ArchiveError::Write)
}

fn resolve(store: &ImageStore, names: &[String]) -> Result<Vec<Item>, ArchiveError> {
    let mut items: Vec<Item> = Vec::new();
    for n in names {
        let id = store.resolve(n)?;
        // A name that is a tag of the image is recorded; an id prefix records all
        // the image's tags, as docker does.
        let tags: Vec<Reference> = match Reference::parse(n) {
            Ok(r) if store.tags_of(&id)?.contains(&r.to_string()) => vec![r],
            _ => store
                .tags_of(&id)?
                .iter()
                .filter_map(|t| Reference::parse(t).ok())
                .collect(),
        };
        match items.iter_mut().find(|i| i.id == id) {
            Some(i) => {
                for t in tags {
                    if !i.tags.contains(&t) {
                        i.tags.push(t);
                    }
                }
            }
            None => items.push(Item { id, tags }),
        }
    }
    Ok(items)
}

/// An OCI manifest whose layers are the uncompressed tars (digest = diff id),
/// writing each layer blob as it goes. Returns the manifest and the layer paths.
fn uncompressed_manifest(
    store: &ImageStore,
    tar: &mut tar::Builder<impl Write>,
    written: &mut BTreeSet<String>,
    item: &Item,
) -> Result<(Vec<u8>, Vec<String>), ArchiveError> {
    let record = store.get(&item.id)?;
    let config = store.config(&item.id)?;
    let manifest = store.manifest(&record)?;
    let diff_ids = config.rootfs().diff_ids();
    let mut layers = Vec::new();
    let mut paths = Vec::new();
    for (l, diff) in manifest.layers().iter().zip(diff_ids) {
        let size = if l.digest().to_string() == *diff {
            put_blob_file(tar, written, store, diff)?
        } else {
            put_decompressed(tar, written, store, l.digest().as_ref(), diff)?
        };
        layers.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": diff, "size": size}));
        paths.push(blob_path(diff));
    }
    let config_len = store.blobs.path(&item.id).metadata().map_or(0, |m| m.len());
    let m = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": item.id, "size": config_len},
        "layers": layers,
    });
    Ok((serde_json::to_vec(&m)?, paths))
}

pub(super) fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", crate::blobs::store_name(digest))
}

fn header(len: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(len);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

fn put_file(
    tar: &mut tar::Builder<impl Write>,
    path: &str,
    data: &[u8],
) -> Result<(), ArchiveError> {
    let mut h = header(data.len() as u64);
    tar.append_data(&mut h, path, data)
        .map_err(ArchiveError::Write)
}

fn put_blob_bytes(
    tar: &mut tar::Builder<impl Write>,
    written: &mut BTreeSet<String>,
    digest: &str,
    data: &[u8],
) -> Result<(), ArchiveError> {
    if written.insert(digest.to_string()) {
        put_file(tar, &blob_path(digest), data)?;
    }
    Ok(())
}

/// Streams a stored blob into the archive; returns its size.
fn put_blob_file(
    tar: &mut tar::Builder<impl Write>,
    written: &mut BTreeSet<String>,
    store: &ImageStore,
    digest: &str,
) -> Result<u64, ArchiveError> {
    let f = store.blobs.open_blob(digest)?;
    let len = f.metadata().map_err(ArchiveError::Write)?.len();
    if written.insert(digest.to_string()) {
        let mut h = header(len);
        tar.append_data(&mut h, blob_path(digest), io::BufReader::new(f))
            .map_err(ArchiveError::Write)?;
    }
    Ok(len)
}

/// A compressed layer blob, decompressed into a temp file (a tar entry needs its
/// size first), checked against its diff id, then streamed into the archive.
fn put_decompressed(
    tar: &mut tar::Builder<impl Write>,
    written: &mut BTreeSet<String>,
    store: &ImageStore,
    digest: &str,
    diff_id: &str,
) -> Result<u64, ArchiveError> {
    let tmp_dir = store.root.join("tmp");
    std::fs::create_dir_all(&tmp_dir).map_err(ArchiveError::Write)?;
    let mut tmp = tempfile_in(&tmp_dir)?;
    let blob = store.blobs.open_blob(digest)?;
    let mut plain = HashingReader::new(decompressed(Box::new(io::BufReader::new(blob)))?);
    let len = io::copy(&mut plain, &mut tmp).map_err(ArchiveError::Write)?;
    let actual = plain.digest();
    if actual != diff_id {
        return Err(ArchiveError::Damaged(format!(
            "layer {digest} decompresses to {actual}, not {diff_id}"
        )));
    }
    tmp.rewind().map_err(ArchiveError::Write)?;
    if written.insert(diff_id.to_string()) {
        let mut h = header(len);
        tar.append_data(
            &mut h,
            blob_path(diff_id),
            io::BufReader::new(tmp.take(len)),
        )
        .map_err(ArchiveError::Write)?;
    }
    Ok(len)
}

/// An unnamed file in `dir` that disappears when closed.
fn tempfile_in(dir: &std::path::Path) -> Result<std::fs::File, ArchiveError> {
    let path = dir.join(format!(
        ".save-{}-{}",
        std::process::id(),
        crate::blobs::unique_suffix()
    ));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(ArchiveError::Write)?;
    let _ = std::fs::remove_file(&path);
    Ok(f)
}

fn manifest_media_type(store: &ImageStore, digest: &str) -> String {
    store
        .blobs
        .read(digest)
        .ok()
        .and_then(|raw| serde_json::from_slice::<Value>(&raw).ok())
        .and_then(|v| v["mediaType"].as_str().map(String::from))
        .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".into())
}
