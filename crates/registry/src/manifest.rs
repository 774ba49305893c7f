//! Manifests as registries serve them: docker v2 schema 2 and OCI image manifests,
//! docker manifest lists and OCI indexes. Parsed leniently into plain structs
//! (media types stay strings) so both families read the same way.

use crate::platform::Platform;
use serde::{Deserialize, Serialize};

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// What a manifest GET accepts, lists first (as docker asks).
pub const ACCEPT: &[&str] = &[DOCKER_LIST, OCI_INDEX, DOCKER_MANIFEST, OCI_MANIFEST];

pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const DOCKER_FOREIGN: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const OCI_NONDIST_PREFIX: &str = "application/vnd.oci.image.layer.nondistributable.";

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("the registry's manifest is not valid JSON ({0}); the registry or mirror serves something that is not an image")]
    Json(serde_json::Error),
    #[error("{0} manifests (docker schema 1) are not supported: push the image again with a current docker, podman or berth")]
    Schema1(String),
    #[error(
        "unsupported manifest media type {0:?}: berth reads docker v2 schema 2 and OCI images"
    )]
    Unsupported(String),
    #[error(
        "layer media type {0:?} is not an image layer berth can unpack (tar, tar+gzip, tar+zstd)"
    )]
    LayerType(String),
    #[error("the manifest names layer {digest:?}: {why}; the registry serves a damaged or hostile manifest")]
    LayerDigest { digest: String, why: &'static str },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    #[serde(default)]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

#[derive(Debug, Clone)]
pub enum Manifest {
    Image(ImageManifest),
    Index(Index),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
}

/// Parses a manifest body; `content_type` is the registry's Content-Type when known.
pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<Manifest, ManifestError> {
    let probe: Probe = serde_json::from_slice(body).map_err(ManifestError::Json)?;
    let media = probe
        .media_type
        .clone()
        .or_else(|| content_type.map(String::from))
        .unwrap_or_default();
    if probe.schema_version == Some(1) || media == DOCKER_SCHEMA1 {
        return Err(ManifestError::Schema1(media));
    }
    let is_index = match media.as_str() {
        DOCKER_LIST | OCI_INDEX => true,
        DOCKER_MANIFEST | OCI_MANIFEST => false,
        // OCI manifests may omit mediaType: tell by their shape.
        "" | "application/json" => probe.manifests.is_some(),
        other => return Err(ManifestError::Unsupported(other.into())),
    };
    if is_index {
        serde_json::from_slice(body)
            .map(Manifest::Index)
            .map_err(ManifestError::Json)
    } else {
        serde_json::from_slice(body)
            .map(Manifest::Image)
            .map_err(ManifestError::Json)
    }
}

/// How a layer blob is stored. Sniffing the bytes decides the decompressor; this
/// only refuses what is not a layer at all.
pub fn check_layer_type(media_type: &str) -> Result<(), ManifestError> {
    let known = [
        DOCKER_LAYER_GZIP,
        DOCKER_LAYER_ZSTD,
        DOCKER_LAYER_TAR,
        DOCKER_FOREIGN,
        OCI_LAYER,
        OCI_LAYER_GZIP,
        OCI_LAYER_ZSTD,
    ];
    if known.contains(&media_type) || media_type.starts_with(OCI_NONDIST_PREFIX) {
        Ok(())
    } else {
        Err(ManifestError::LayerType(media_type.into()))
    }
}

/// A layer's digest names its file in the blob store: anything but a digest (an
/// absolute path, `..`) would make a host file pass for the layer, which `push`
/// then uploads.
pub fn check_layer_digest(digest: &str) -> Result<(), ManifestError> {
    berth_image::reference::validate_digest(digest).map_err(|why| ManifestError::LayerDigest {
        digest: digest.into(),
        why,
    })
}

/// Layers docker never pushes: they stay where their `urls` point.
pub fn non_distributable(media_type: &str) -> bool {
    media_type == DOCKER_FOREIGN || media_type.starts_with(OCI_NONDIST_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_and_oci_shapes() {
        let docker = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
            "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":7,"digest":"sha256:aa"},
            "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":9,"digest":"sha256:bb"}]}"#;
        let Manifest::Image(m) = parse(docker, None).unwrap() else {
            panic!("image expected")
        };
        assert_eq!(m.layers[0].size, 9);
        let oci_index = br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:cc","platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}"#;
        let Manifest::Index(i) = parse(oci_index, None).unwrap() else {
            panic!("index expected")
        };
        assert_eq!(
            i.manifests[0].platform.as_ref().unwrap().to_string(),
            "linux/arm64/v8"
        );
        assert!(matches!(
            parse(br#"{"schemaVersion":1,"name":"x"}"#, None),
            Err(ManifestError::Schema1(_))
        ));
        assert!(matches!(
            parse(br#"{"schemaVersion":2,"mediaType":"text/html"}"#, None),
            Err(ManifestError::Unsupported(_))
        ));
    }

    #[test]
    fn layer_types() {
        assert!(check_layer_type(OCI_LAYER_ZSTD).is_ok());
        assert!(
            check_layer_type("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip")
                .is_ok()
        );
        assert!(check_layer_type("application/vnd.wasm.content.layer.v1+wasm").is_err());
        assert!(check_layer_digest(&format!("sha256:{}", "0".repeat(64))).is_ok());
        assert!(check_layer_digest("sha256:/etc/shadow").is_err());
        assert!(check_layer_digest(&format!("sha256:../{}", "0".repeat(61))).is_err());
        assert!(non_distributable(DOCKER_FOREIGN));
        assert!(!non_distributable(OCI_LAYER_GZIP));
    }
}
