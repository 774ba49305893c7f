//! Platforms (`os/arch[/variant]`) and choosing one manifest from a manifest list
//! or OCI index, the way containerd's default matcher does for one platform.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid platform {input:?}: {why}; give os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8"
)]
pub struct PlatformError {
    input: String,
    why: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(input: &str) -> Result<Self, PlatformError> {
        let err = |why| PlatformError {
            input: input.into(),
            why,
        };
        let parts: Vec<&str> = input.split('/').collect();
        if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(err("expected two or three parts separated by '/'"));
        }
        let ok = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !parts.iter().all(|p| ok(p)) {
            return Err(err("parts may hold only letters, digits and '_'"));
        }
        let lower = parts[1].to_ascii_lowercase();
        let arch = berth_image::go_arch(&lower);
        let variant = parts.get(2).map(|v| v.to_ascii_lowercase());
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture: arch.into(),
            variant,
        })
    }

    /// The machine berth runs on, in Go's names (what registries use).
    pub fn host() -> Self {
        let architecture = berth_image::host_go_arch().to_string();
        let variant = match architecture.as_str() {
            "arm64" => Some("v8".to_string()),
            "arm" => Some("v7".to_string()),
            _ => None,
        };
        Platform {
            os: std::env::consts::OS.into(),
            architecture,
            variant,
        }
    }

    /// Whether an index entry's platform serves this one. A missing variant on
    /// either side matches (arm64 images rarely say v8).
    pub fn matches(&self, other: &Platform) -> bool {
        if self.os != other.os || self.architecture != berth_image::go_arch(&other.architecture) {
            return false;
        }
        match (&self.variant, &other.variant) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Index entries whose platform serves `want`; an exact variant first.
pub fn choose<'a, T>(
    entries: &'a [T],
    platform_of: impl Fn(&T) -> Option<&Platform>,
    want: &Platform,
) -> Option<&'a T> {
    let exact = entries
        .iter()
        .find(|e| platform_of(e).is_some_and(|p| p == want));
    exact.or_else(|| {
        entries
            .iter()
            .find(|e| platform_of(e).is_some_and(|p| want.matches(p)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }

    #[test]
    fn parses_and_normalises() {
        assert_eq!(p("linux/amd64").to_string(), "linux/amd64");
        assert_eq!(p("linux/aarch64").architecture, "arm64");
        assert_eq!(p("linux/arm/v7").variant.as_deref(), Some("v7"));
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", "linux/amd 64"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Platform::host().os, "linux");
    }

    #[test]
    fn chooses_like_containerd() {
        let list = vec![
            Some(p("linux/arm/v6")),
            Some(p("linux/arm/v7")),
            Some(Platform {
                os: "linux".into(),
                architecture: "arm64".into(),
                variant: None,
            }),
            Some(p("linux/amd64")),
            None,
        ];
        let pick = |w: &str| {
            choose(&list, |e| e.as_ref(), &p(w))
                .and_then(|e| e.as_ref())
                .map(|e| e.to_string())
        };
        assert_eq!(pick("linux/amd64").as_deref(), Some("linux/amd64"));
        assert_eq!(pick("linux/arm/v7").as_deref(), Some("linux/arm/v7"));
        assert_eq!(pick("linux/arm64/v8").as_deref(), Some("linux/arm64"));
        assert_eq!(pick("linux/s390x"), None);
        assert_eq!(pick("windows/amd64"), None);
    }
}
