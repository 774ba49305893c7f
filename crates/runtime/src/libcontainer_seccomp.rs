//! Seccomp for the libcontainer backend, loaded by berth's executor rather than by
//! libcontainer, for three reasons found in libcontainer 0.7:
//!
//! * it compiles the filter with libseccomp in every container init, which costs
//!   about half of a whole `run` for docker's profile (`seccomp_bpf.rs`);
//! * its tenant builder rebuilds an exec'd process's `linux` section without the
//!   seccomp object, so `exec` would start processes with no filter at all;
//! * it reads `SCMP_CMP_MASKED_EQ` operands swapped, which turns docker's clone rule
//!   into an unconditional allow.
//!
//! The engine's config.json stays the standard bundle (runc reads it as is). This
//! backend hands libcontainer a copy, `<bundle>/libcontainer/config.json`, without
//! `linux.seccomp`; the compiled filter goes to the executor, the last code that
//! runs in the container process before execve. Loading a filter without
//! no_new_privs needs CAP_SYS_ADMIN, which libcontainer has dropped by then (it
//! loads its own filter before the drop, as runc does), so the process is lent
//! CAP_SYS_ADMIN, and CAP_SETPCAP to take it out of the bounding set again, when it
//! lacks them; the executor loads the filter, then removes the lent capabilities
//! from every set. Profiles that need a notification listener are left to
//! libcontainer (with the operands put the way it reads them); those do not reach
//! exec'd processes.

use crate::seccomp_bpf::{self, Bpf};
use caps::{CapSet, Capability};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Lent to load a filter; CAP_SETPCAP last, as it is what drops the others from
/// the bounding set.
const LENT: [(&str, Capability); 2] = [
    ("CAP_SYS_ADMIN", Capability::CAP_SYS_ADMIN),
    ("CAP_SETPCAP", Capability::CAP_SETPCAP),
];

/// The sets a capability must be in to be effective after libcontainer's drop.
const SETS: [&str; 3] = ["bounding", "effective", "permitted"];

/// Where libcontainer's copy of the bundle config lives, inside the bundle.
const DERIVED: &str = "libcontainer";

/// What the container process loads before execve, and the capabilities it then
/// gives back.
#[derive(Clone, Debug)]
pub(crate) struct LoadFilter {
    bpf: Bpf,
    lent: Vec<Capability>,
}

/// Writes libcontainer's copy of the bundle's config; returns the bundle directory
/// libcontainer is to use and the filter the container's init must load.
pub(crate) fn prepare_init(
    bundle: &Path,
    cache: &Path,
) -> Result<(PathBuf, Option<LoadFilter>), String> {
    let mut config = read_json(&bundle.join("config.json"))?;
    // The copy is one level down; the rootfs stays where it is.
    if let Some(root) = config["root"]["path"].as_str().map(PathBuf::from) {
        if root.is_relative() {
            config["root"]["path"] = bundle.join(root).to_string_lossy().into();
        }
    }
    let mut filter = None;
    if let Some(seccomp) = config["linux"].get("seccomp").cloned() {
        if seccomp_bpf::needs_listener(&seccomp) {
            swap_masked_eq(&mut config);
        } else {
            let bpf = seccomp_bpf::cached(&seccomp, cache)?;
            config["linux"].as_object_mut().map(|l| l.remove("seccomp"));
            let lent = lend(&mut config["process"]);
            filter = Some(LoadFilter { bpf, lent });
        }
    }
    let dir = bundle.join(DERIVED);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("config.json");
    write_private(&path, config.to_string()).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((dir, filter))
}

/// For `exec`: the container's filter (from the engine's config beside the copy
/// libcontainer reads) and the process file to use, a copy with capabilities lent
/// when the filter needs them. Returns the original file when there is no filter.
pub(crate) fn prepare_exec(
    libcontainer_bundle: &Path,
    process_json: &Path,
    cache: &Path,
) -> Result<(PathBuf, Option<LoadFilter>), String> {
    let bundle = match libcontainer_bundle.file_name() {
        Some(n) if n == DERIVED => libcontainer_bundle.parent().unwrap_or(libcontainer_bundle),
        _ => libcontainer_bundle,
    };
    let config = read_json(&bundle.join("config.json"))?;
    let seccomp = match config["linux"].get("seccomp") {
        Some(s) if !seccomp_bpf::needs_listener(s) => s,
        _ => return Ok((process_json.to_path_buf(), None)),
    };
    let bpf = seccomp_bpf::cached(seccomp, cache)?;
    let mut process = read_json(process_json)?;
    let lent = lend(&mut process);
    if lent.is_empty() {
        return Ok((process_json.to_path_buf(), Some(LoadFilter { bpf, lent })));
    }
    let copy = process_json.with_extension("seccomp.json");
    write_private(&copy, process.to_string()).map_err(|e| format!("{}: {e}", copy.display()))?;
    Ok((copy, Some(LoadFilter { bpf, lent })))
}

/// libcontainer 0.7 hands libseccomp an `SCMP_CMP_MASKED_EQ` argument's `valueTwo`
/// as the mask and its `value` as the datum; the runtime spec, runc and crun mean
/// the reverse (`(arg & value) == valueTwo`). With docker's clone rule (`value` =
/// the namespace flags, `valueTwo` = 0) the mask becomes 0, and libseccomp compiles
/// the rule into an unconditional allow: clone with any namespace flag would pass.
/// For the filters libcontainer still loads itself (those with a notification
/// listener), swapping the operands in its copy of the config gives libseccomp the
/// rule the spec means.
fn swap_masked_eq(config: &mut Value) {
    let Some(rules) = config
        .pointer_mut("/linux/seccomp/syscalls")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    let args = rules
        .iter_mut()
        .filter_map(|r| r.get_mut("args").and_then(Value::as_array_mut))
        .flatten()
        .filter(|a| a["op"] == "SCMP_CMP_MASKED_EQ");
    for arg in args {
        let mask = arg.get("value").cloned().unwrap_or(0.into());
        let datum = arg.get("valueTwo").cloned().unwrap_or(0.into());
        arg["value"] = datum;
        arg["valueTwo"] = mask;
    }
}

/// Writes a copy of a config or process object readable by root alone: like the
/// engine's originals (`paths::write_private`, which this crate cannot reach), it
/// holds the container's environment. An older copy is narrowed before the write.
fn write_private(path: &Path, text: String) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(text.as_bytes())
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Adds the capabilities needed to load a filter to an OCI process object where
/// missing; returns those added.
fn lend(process: &mut Value) -> Vec<Capability> {
    let has = |p: &Value, set: &str, cap: &str| {
        p["capabilities"][set]
            .as_array()
            .is_some_and(|a| a.iter().any(|c| c == cap))
    };
    let mut lent = Vec::new();
    for (name, cap) in LENT {
        if SETS.iter().all(|s| has(process, s, name)) {
            continue;
        }
        for set in SETS {
            if !has(process, set, name) {
                let caps = &mut process["capabilities"][set];
                match caps.as_array_mut() {
                    Some(a) => a.push(name.into()),
                    None => *caps = serde_json::json!([name]),
                }
            }
        }
        lent.push(cap);
    }
    lent
}

impl LoadFilter {
    /// In the container process, just before execve: loads the filter, then gives
    /// the lent capabilities back (bounding set first, while CAP_SETPCAP works).
    pub(crate) fn apply(&self) -> Result<(), String> {
        self.bpf
            .load()
            .map_err(|e| format!("loading the container's seccomp filter: {e}"))?;
        let give_back = |set: CapSet, cap: Capability| {
            caps::drop(None, set, cap)
                .map_err(|e| format!("dropping {cap} after loading seccomp: {e}"))
        };
        for cap in &self.lent {
            give_back(CapSet::Bounding, *cap)?;
        }
        for set in [CapSet::Effective, CapSet::Permitted, CapSet::Inheritable] {
            for cap in &self.lent {
                give_back(set, *cap)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lends_only_what_is_missing() {
        let caps = ["CAP_CHOWN", "CAP_SETPCAP"];
        let mut p =
            json!({"capabilities": {"bounding": caps, "effective": caps, "permitted": caps}});
        assert_eq!(lend(&mut p), vec![Capability::CAP_SYS_ADMIN]);
        for set in SETS {
            assert_eq!(
                p["capabilities"][set],
                json!(["CAP_CHOWN", "CAP_SETPCAP", "CAP_SYS_ADMIN"])
            );
        }
        assert!(p["capabilities"].get("inheritable").is_none());
        let mut none = json!({"capabilities": {}});
        assert_eq!(
            lend(&mut none),
            vec![Capability::CAP_SYS_ADMIN, Capability::CAP_SETPCAP]
        );
        assert_eq!(lend(&mut none), vec![], "nothing more once held");
    }

    #[test]
    fn libcontainer_reads_a_copy_without_the_filter() {
        let dir = std::env::temp_dir().join(format!("berth-lcsec-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let caps = ["CAP_CHOWN"];
        let config = json!({
            "root": {"path": "rootfs"},
            "process": {"args": ["sh"], "capabilities": {"bounding": caps, "effective": caps, "permitted": caps}},
            "linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}}
        });
        std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
        let (lc, filter) = prepare_init(&dir, &dir.join("cache")).unwrap();
        assert_eq!(lc, dir.join("libcontainer"));
        let copy = read_json(&lc.join("config.json")).unwrap();
        assert!(copy["linux"].get("seccomp").is_none());
        assert_eq!(
            copy["root"]["path"],
            dir.join("rootfs").to_string_lossy().as_ref()
        );
        assert_eq!(
            copy["process"]["capabilities"]["effective"],
            json!(["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_SETPCAP"])
        );
        assert_eq!(filter.unwrap().lent.len(), 2);
        // The copy holds the container's environment: root's alone, as the original.
        assert_eq!(mode(&lc.join("config.json")), 0o600);
        // The engine's config is untouched.
        assert_eq!(read_json(&dir.join("config.json")).unwrap(), config);

        let process = dir.join("exec.json");
        std::fs::write(
            &process,
            json!({"args": ["ls"], "capabilities": {}}).to_string(),
        )
        .unwrap();
        let (file, filter) = prepare_exec(&lc, &process, &dir.join("cache")).unwrap();
        assert_ne!(file, process);
        assert_eq!(mode(&file), 0o600, "an exec's environment, root's alone");
        assert!(filter.is_some());
        let _ = std::fs::remove_dir_all(dir);
    }

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn masked_eq_operands_are_swapped_for_libcontainer() {
        let mut config = json!({"linux": {"seccomp": {"syscalls": [
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"}
        ]}}});
        swap_masked_eq(&mut config);
        let rules = &config["linux"]["seccomp"]["syscalls"];
        assert_eq!(
            rules[0]["args"][0],
            json!({"index": 0, "value": 0, "valueTwo": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ"})
        );
        assert_eq!(
            rules[1]["args"][0],
            json!({"index": 0, "value": 40, "op": "SCMP_CMP_NE"})
        );
        // A config without a filter is left alone.
        let mut none = json!({"linux": {}});
        swap_masked_eq(&mut none);
        assert_eq!(none, json!({"linux": {}}));
    }
}
