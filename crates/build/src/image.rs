//! The image config as docker writes it: the OCI image config plus docker's
//! extensions (`Healthcheck`, `OnBuild`, `Shell`, `ArgsEscaped`), which the
//! `oci-spec` types would drop. Fields this module does not know are kept
//! (`extra`), so a base image's config passes through unchanged.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The default `PATH` docker gives images built `FROM scratch`.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `application/vnd.oci.image.config.v1+json` with docker's extensions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Image {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
    #[serde(default)]
    pub config: RunConfig,
    #[serde(default)]
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The `config` object: what a container of the image runs with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed_ports: BTreeMap<String, Empty>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Empty>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub args_escaped: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_build: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shell: Vec<String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The `{}` values of `ExposedPorts` and `Volumes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// docker's `HealthcheckConfig`; durations in nanoseconds, 0 = default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `rootfs`: the layers' uncompressed digests, bottom first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".to_string(),
            diff_ids: Vec::new(),
        }
    }
}

/// One `history` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

impl Image {
    /// Parses a config blob.
    pub fn from_json(data: &[u8]) -> Result<Image, serde_json::Error> {
        serde_json::from_slice(data)
    }

    /// The config blob (compact JSON, as docker writes it).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an image config always serialises")
    }

    /// The `os/arch[/variant]` the image is for.
    pub fn platform(&self) -> String {
        match self.variant.as_str() {
            "" => format!("{}/{}", self.os, self.architecture),
            v => format!("{}/{}/{v}", self.os, self.architecture),
        }
    }
}

impl RunConfig {
    /// Sets `KEY=value` in `Env`, replacing an earlier value of the key in place.
    pub fn set_env(&mut self, key: &str, value: &str) {
        let entry = format!("{key}={value}");
        match self
            .env
            .iter_mut()
            .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
        {
            Some(slot) => *slot = entry,
            None => self.env.push(entry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_fields_survive_a_round_trip() {
        let json = r#"{"architecture":"amd64","os":"linux","config":{"Env":["A=1"],"Cmd":["sh"],
            "Healthcheck":{"Test":["CMD","true"],"Interval":30000000000},"OnBuild":["RUN x"],
            "Shell":["/bin/bash","-c"],"Hostname":"kept"},"rootfs":{"type":"layers","diff_ids":["sha256:a"]},
            "history":[{"created_by":"x","empty_layer":true}],"moby.buildkit.buildinfo.v1":"kept"}"#;
        let image = Image::from_json(json.as_bytes()).unwrap();
        assert_eq!(image.config.on_build, vec!["RUN x"]);
        assert_eq!(
            image.config.healthcheck.as_ref().unwrap().interval,
            30_000_000_000
        );
        let again: Value = serde_json::from_slice(&image.to_json()).unwrap();
        let orig: Value = serde_json::from_str(json).unwrap();
        assert_eq!(again, orig);
    }

    #[test]
    fn set_env_replaces_in_place() {
        let mut c = RunConfig {
            env: vec!["PATH=/bin".into(), "A=1".into()],
            ..Default::default()
        };
        c.set_env("PATH", "/usr/bin");
        c.set_env("B", "2");
        assert_eq!(c.env, vec!["PATH=/usr/bin", "A=1", "B=2"]);
    }
}
