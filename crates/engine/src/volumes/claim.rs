//! What `create` does about a new container's volumes: `--volumes-from` mounts
//! copied from other containers, then every volume the container mounts made if it
//! does not exist yet (named ones on first use, anonymous ones labelled as docker
//! labels them), under the shared volumes lock that the caller holds until the
//! container's row is stored.

use super::{VolumeRequest, VolumesLock, ANONYMOUS_LABEL};
use crate::model::{BindMount, ContainerSpec, MountOrigin};
use crate::{Engine, EngineError};

/// `--volumes-from CONTAINER[:ro|:rw]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumesFrom {
    pub container: String,
    /// Forces every copied mount read-only (`ro`) or writable (`rw`); as the source
    /// container has it when absent.
    pub read_only: Option<bool>,
}

impl std::str::FromStr for VolumesFrom {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (container, mode) = match s.rsplit_once(':') {
            Some((c, m)) => (c, Some(m)),
            None => (s, None),
        };
        let read_only = match mode {
            None => None,
            Some("ro") => Some(true),
            Some("rw") => Some(false),
            Some(m) => {
                return Err(format!(
                    "invalid --volumes-from {s:?}: unknown mode {m:?} (use CONTAINER, CONTAINER:ro or CONTAINER:rw)"
                ))
            }
        };
        if container.is_empty() {
            return Err(format!("invalid --volumes-from {s:?}: name a container"));
        }
        Ok(VolumesFrom {
            container: container.to_string(),
            read_only,
        })
    }
}

/// The volumes a new container holds: the lock keeps `volume rm` away until the
/// container is stored; `abandon` takes back the anonymous volumes made for it when
/// storing it failed (a name already taken, say).
pub struct Claim {
    _lock: Option<VolumesLock>,
    made: Vec<String>,
}

impl Claim {
    pub fn abandon(self, engine: &Engine) {
        for name in &self.made {
            let _ = super::discard(&engine.paths, name);
        }
    }
}

/// Adds the mounts of the `--volumes-from` containers (after the caller's own,
/// which win at the same destination), then makes the volumes.
pub fn claim(
    engine: &Engine,
    spec: &mut ContainerSpec,
    from: &[VolumesFrom],
    requests: &[(String, VolumeRequest)],
) -> Result<Claim, EngineError> {
    for f in from {
        let other = engine.find(&f.container)?;
        for b in &other.spec.binds {
            if spec.binds.iter().any(|x| x.destination == b.destination) {
                continue;
            }
            spec.binds.push(BindMount {
                read_only: f.read_only.unwrap_or(b.read_only),
                // The volume is the other container's: `rm -v` of this one keeps it.
                anonymous: false,
                origin: MountOrigin::VolumesFrom,
                ..b.clone()
            });
        }
        let mode = match f.read_only {
            Some(true) => ":ro",
            Some(false) => ":rw",
            None => "",
        };
        spec.volumes_from.push(format!("{}{mode}", f.container));
    }
    let mut claim = Claim {
        _lock: None,
        made: vec![],
    };
    if !spec.binds.iter().any(|b| b.volume) {
        return Ok(claim);
    }
    claim._lock = Some(super::lock_shared(&engine.paths)?);
    for b in spec.binds.iter().filter(|b| b.volume) {
        let mut req = requests
            .iter()
            .find(|(n, _)| *n == b.source)
            .map(|(_, r)| r.clone())
            .unwrap_or_default();
        if b.anonymous {
            req.labels.insert(ANONYMOUS_LABEL.into(), String::new());
        }
        let made = super::create(&engine.paths, &b.source, &req, false);
        match made {
            Ok((_, true)) if b.anonymous => claim.made.push(b.source.clone()),
            Ok(_) => {}
            Err(e) => {
                claim.abandon(engine);
                return Err(e.into());
            }
        }
    }
    Ok(claim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_from_forms() {
        let v: VolumesFrom = "web:ro".parse().unwrap();
        assert_eq!(v.read_only, Some(true));
        let v: VolumesFrom = "web".parse().unwrap();
        assert_eq!((v.container.as_str(), v.read_only), ("web", None));
        assert!("web:xx".parse::<VolumesFrom>().is_err());
        assert!(":ro".parse::<VolumesFrom>().is_err());
    }
}
