//! The local driver's `-o` options, as docker reads them: `type` (the file system),
//! `device` and `o` (mount options). Without a daemon berth cannot keep a file
//! system mounted between containers and unmount it after the last one, so it
//! takes the one form that needs no mount of its own: `type=none,o=bind,device=PATH`,
//! a host directory that containers bind directly. The rest is refused by name.

use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("volume option {0:?} is unknown to the local driver; use type=, device= and o=")]
    UnknownKey(String),
    #[error("volume option type={0} is not supported by berth: without a daemon nothing keeps a {0} file system mounted between containers. Use type=none,o=bind,device=/host/dir for a host directory, or --mount type=tmpfs / --tmpfs for a per-container tmpfs")]
    UnsupportedType(String),
    #[error(
        "volume options type=none and o=bind go together with device=/absolute/host/dir (got {0})"
    )]
    IncompleteBind(String),
    #[error("volume option o={0:?} is not supported with type=none: use o=bind (or o=rbind)")]
    BindOptions(String),
    #[error("volume device {0:?} must be an absolute path to an existing host directory")]
    BadDevice(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum DriverOptions {
    /// A directory of berth's (`_data`).
    Plain,
    /// A host directory bound in place of `_data`.
    Bind { device: PathBuf },
}

impl DriverOptions {
    pub fn parse(opts: &BTreeMap<String, String>) -> Result<Self, OptionsError> {
        if let Some(k) = opts
            .keys()
            .find(|k| !["type", "device", "o"].contains(&k.as_str()))
        {
            return Err(OptionsError::UnknownKey(k.clone()));
        }
        if opts.is_empty() {
            return Ok(DriverOptions::Plain);
        }
        let shown = || {
            opts.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        match opts.get("type").map(String::as_str) {
            Some("none") | Some("bind") => {}
            Some(other) => return Err(OptionsError::UnsupportedType(other.to_string())),
            None => return Err(OptionsError::IncompleteBind(shown())),
        }
        let o = opts.get("o").map(String::as_str).unwrap_or("");
        if !o.split(',').any(|f| f == "bind" || f == "rbind") {
            return Err(OptionsError::IncompleteBind(shown()));
        }
        if let Some(f) = o.split(',').find(|f| !["bind", "rbind"].contains(f)) {
            return Err(OptionsError::BindOptions(f.to_string()));
        }
        let device = opts
            .get("device")
            .ok_or_else(|| OptionsError::IncompleteBind(shown()))?;
        Ok(DriverOptions::Bind {
            device: PathBuf::from(device),
        })
    }

    /// What can only be checked on the host: the bound directory exists.
    pub fn check(&self) -> Result<(), OptionsError> {
        match self {
            DriverOptions::Bind { device } if !device.is_absolute() || !device.is_dir() => {
                Err(OptionsError::BadDevice(device.display().to_string()))
            }
            _ => Ok(()),
        }
    }
}
