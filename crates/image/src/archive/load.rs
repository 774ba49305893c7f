//! `load`: a docker-archive (legacy or docker 25+'s combined form) or an OCI
//! layout tar → images in the store.
//!
//! The tar is first extracted into a private temp directory (docker writes
//! `manifest.json` last, so a single pass cannot know what the files are), every
//! file named by the archive's JSON is opened *inside* that directory (symlinks
//! resolved as in a chroot), and every blob is checked against its digest before
//! it enters the store.

use super::{unpack_blob, ArchiveError};
use crate::blobs::unique_suffix;
use crate::inroot::{Follow, InRoot};
use crate::reference::Reference;
use crate::store::ImageStore;
use crate::unpack::decompressed;
use oci_spec::image::{Descriptor, Digest, ImageConfiguration, ImageManifestBuilder, MediaType};
use serde_json::Value;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::str::FromStr;

#[derive(Debug, Clone)]
pub struct Loaded {
    pub id: String,
    pub tags: Vec<String>,
}

pub fn load(store: &ImageStore, input: impl Read) -> Result<Vec<Loaded>, ArchiveError> {
    // Held until the last image row exists (see crate::gc).
    let _lease = store.lease()?;
    let dir =
        store
            .root
            .join("tmp")
            .join(format!("load-{}-{}", std::process::id(), unique_suffix()));
    std::fs::create_dir_all(&dir).map_err(ArchiveError::Read)?;
    let result = (|| {
        let mut archive = tar::Archive::new(input);
        archive.set_preserve_permissions(false);
        archive.set_unpack_xattrs(false);
        archive.unpack(&dir).map_err(ArchiveError::Read)?;
        if dir.join("manifest.json").is_file() {
            load_docker(store, &dir)
        } else if dir.join("index.json").is_file() {
            load_oci(store, &dir)
        } else {
            Err(ArchiveError::NotAnArchive)
        }
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Opens `rel` inside `root`, following symlinks (docker's legacy archives link
/// repeated layers) without ever leaving `root` (see [`crate::inroot`]); only
/// regular files.
fn open_inside(root: &Path, rel: &str) -> Result<File, ArchiveError> {
    let bad = |why: String| ArchiveError::Damaged(format!("{rel:?}: {why}"));
    let root = InRoot::open(root).map_err(|e| bad(e.to_string()))?;
    match root.open_regular(rel, Follow::Yes) {
        Ok(Some(file)) => Ok(file),
        Ok(None) => Err(bad("missing from the archive".into())),
        Err(e) => Err(bad(e.to_string())),
    }
}

fn read_inside(root: &Path, rel: &str) -> Result<Vec<u8>, ArchiveError> {
    let mut data = Vec::new();
    open_inside(root, rel)?
        .read_to_end(&mut data)
        .map_err(ArchiveError::Read)?;
    Ok(data)
}

fn load_docker(store: &ImageStore, dir: &Path) -> Result<Vec<Loaded>, ArchiveError> {
    let entries: Vec<Value> = serde_json::from_slice(&read_inside(dir, "manifest.json")?)?;
    let mut out = Vec::new();
    for e in entries {
        let config_path = e["Config"]
            .as_str()
            .ok_or_else(|| ArchiveError::Damaged("manifest.json entry without Config".into()))?;
        let config_raw = read_inside(dir, config_path)?;
        let config: ImageConfiguration = serde_json::from_slice(&config_raw)?;
        let diff_ids = config.rootfs().diff_ids().clone();
        let layers = strings(&e["Layers"]);
        same_count(config_path, &layers, &diff_ids)?;
        check_diff_ids(config_path, &diff_ids)?;
        let chains = crate::chain_ids(&diff_ids);
        let mut descriptors = Vec::new();
        let mut size = 0;
        for ((path, diff), chain) in layers.iter().zip(&diff_ids).zip(&chains) {
            // Stored uncompressed, keyed by diff id, as `import` stores layers.
            if !store.blobs.exists(diff) {
                let f = open_inside(dir, path)?;
                let mut plain = decompressed(Box::new(io::BufReader::new(f)))?;
                store.blobs.put_reader(&mut plain, Some(diff))?;
            }
            let blob_len = store.blobs.path(diff).metadata().map_or(0, |m| m.len());
            size += unpack_blob(store, diff, diff, chain)?;
            descriptors.push(Descriptor::new(
                MediaType::ImageLayer,
                blob_len,
                digest(diff)?,
            ));
        }
        let config_digest = store.blobs.put_bytes(&config_raw)?;
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(
                MediaType::ImageConfig,
                config_raw.len() as u64,
                digest(&config_digest)?,
            ))
            .layers(descriptors)
            .build()
            .map_err(|e| ArchiveError::Damaged(e.to_string()))?;
        let manifest_digest = store.blobs.put_bytes(&serde_json::to_vec(&manifest)?)?;
        let tags: Vec<String> = strings(&e["RepoTags"])
            .into_iter()
            .map(String::from)
            .collect();
        out.push(record(
            store,
            &config_digest,
            &manifest_digest,
            &config,
            size,
            &tags,
        )?);
    }
    Ok(out)
}

/// The strings of a JSON array (none when it is not one).
fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// A manifest must list one layer per diff id of its config.
fn same_count(what: &str, layers: &[&str], diff_ids: &[String]) -> Result<(), ArchiveError> {
    if layers.len() != diff_ids.len() {
        return Err(ArchiveError::Damaged(format!(
            "{what}: {} layers listed but {} diff ids in the config",
            layers.len(),
            diff_ids.len()
        )));
    }
    Ok(())
}

fn load_oci(store: &ImageStore, dir: &Path) -> Result<Vec<Loaded>, ArchiveError> {
    let index: Value = serde_json::from_slice(&read_inside(dir, "index.json")?)?;
    let mut out = Vec::new();
    for desc in index["manifests"].as_array().into_iter().flatten() {
        let Some(manifest_digest) = image_manifest(dir, desc)? else {
            continue;
        };
        let raw = blob(dir, &manifest_digest)?;
        let m: Value = serde_json::from_slice(&raw)?;
        let config_digest = m["config"]["digest"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let layers: Vec<&str> = m["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| l["digest"].as_str().unwrap_or_default())
            .collect();
        for d in &layers {
            crate::reference::validate_digest(d)
                .map_err(|why| ArchiveError::Damaged(format!("layer {d:?}: {why}")))?;
        }
        let config_raw = blob(dir, &config_digest)?;
        let config: ImageConfiguration = serde_json::from_slice(&config_raw)?;
        let diff_ids = config.rootfs().diff_ids().clone();
        same_count(&format!("manifest {manifest_digest}"), &layers, &diff_ids)?;
        check_diff_ids(&config_digest, &diff_ids)?;
        let chains = crate::chain_ids(&diff_ids);
        let mut size = 0;
        for ((layer, diff), chain) in layers.iter().zip(&diff_ids).zip(&chains) {
            if !store.blobs.exists(layer) {
                let mut f = open_inside(dir, &super::save::blob_path(layer))?;
                store.blobs.put_reader(&mut f, Some(layer))?;
            }
            size += unpack_blob(store, layer, diff, chain)?;
        }
        store
            .blobs
            .put_reader(&mut &config_raw[..], Some(&config_digest))?;
        store
            .blobs
            .put_reader(&mut &raw[..], Some(&manifest_digest))?;
        let name = desc["annotations"]["io.containerd.image.name"]
            .as_str()
            .or_else(|| desc["annotations"]["org.opencontainers.image.ref.name"].as_str())
            .filter(|n| n.contains('/') || n.contains(':'));
        let tags: Vec<String> = name.into_iter().map(String::from).collect();
        out.push(record(
            store,
            &config_digest,
            &manifest_digest,
            &config,
            size,
            &tags,
        )?);
    }
    if out.is_empty() {
        return Err(ArchiveError::Damaged(
            "index.json lists no image for this platform".into(),
        ));
    }
    Ok(out)
}

/// The image manifest an index entry means: itself, or the host's platform from
/// a nested index.
fn image_manifest(dir: &Path, desc: &Value) -> Result<Option<String>, ArchiveError> {
    let digest = desc["digest"].as_str().unwrap_or_default().to_string();
    let media = desc["mediaType"].as_str().unwrap_or_default();
    if !media.contains("index") && !media.contains("manifest.list") {
        return Ok(Some(digest));
    }
    let nested: Value = serde_json::from_slice(&blob(dir, &digest)?)?;
    let arch = crate::host_go_arch();
    Ok(nested["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["platform"]["os"] == "linux" && m["platform"]["architecture"] == arch)
        .and_then(|m| m["digest"].as_str().map(String::from)))
}

/// A blob of the layout, checked against its digest.
fn blob(dir: &Path, digest: &str) -> Result<Vec<u8>, ArchiveError> {
    crate::reference::validate_digest(digest)
        .map_err(|why| ArchiveError::Damaged(format!("{digest:?}: {why}")))?;
    let data = read_inside(dir, &super::save::blob_path(digest))?;
    let actual = crate::blobs::sha256_digest(&data);
    if actual != digest {
        return Err(ArchiveError::Damaged(format!(
            "blob {digest} hashes to {actual}"
        )));
    }
    Ok(data)
}

/// A diff id names the layer's directory in the store: anything but a digest (an
/// absolute path, `..`) would point that directory, and what `rmi` deletes, at
/// the host.
fn check_diff_ids(config: &str, diff_ids: &[String]) -> Result<(), ArchiveError> {
    for d in diff_ids {
        crate::reference::validate_digest(d)
            .map_err(|why| ArchiveError::Damaged(format!("{config}: diff id {d:?}: {why}")))?;
    }
    Ok(())
}

fn digest(d: &str) -> Result<Digest, ArchiveError> {
    Digest::from_str(d).map_err(|e| ArchiveError::Damaged(format!("{d:?}: {e}")))
}

fn record(
    store: &ImageStore,
    id: &str,
    manifest: &str,
    config: &ImageConfiguration,
    size: u64,
    tags: &[String],
) -> Result<Loaded, ArchiveError> {
    let created = config
        .created()
        .clone()
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
    // Every tag parsed first: a refused one must leave no image behind.
    let refs = tags
        .iter()
        .map(|t| Reference::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    crate::gc::pause_point("load-before-record");
    store.record(id, manifest, &created, size)?;
    let mut names = Vec::new();
    for r in refs {
        store.tag(&r, id)?;
        names.push(r.to_string());
    }
    Ok(Loaded {
        id: id.into(),
        tags: names,
    })
}
