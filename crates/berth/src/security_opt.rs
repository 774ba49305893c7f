//! `--security-opt` values, in docker's spellings (`key=value` or `key:value`):
//! `no-new-privileges[=true|false]` and `seccomp=unconfined|builtin|PROFILE.json`.
//! A profile file is read here, as the docker CLI does, and its text travels in
//! the container's spec; a later edit of the file does not change the container.

use anyhow::{anyhow, bail, Context, Result};
use berth_engine::model::SeccompProfile;
use berth_engine::oci::seccomp;

#[derive(Debug, PartialEq)]
pub struct SecurityOpts {
    pub no_new_privileges: bool,
    pub seccomp: SeccompProfile,
}

pub fn parse(opts: &[String]) -> Result<SecurityOpts> {
    let mut out = SecurityOpts {
        no_new_privileges: false,
        seccomp: SeccompProfile::Default,
    };
    for opt in opts {
        let (key, value) = match opt.split_once(['=', ':']) {
            Some((k, v)) => (k, Some(v)),
            None => (opt.as_str(), None),
        };
        match (key, value) {
            ("no-new-privileges", None | Some("true")) => out.no_new_privileges = true,
            ("no-new-privileges", Some("false")) => out.no_new_privileges = false,
            ("seccomp", Some("unconfined")) => out.seccomp = SeccompProfile::Unconfined,
            ("seccomp", Some("builtin")) => out.seccomp = SeccompProfile::Default,
            ("seccomp", Some(path)) if !path.is_empty() => {
                out.seccomp = SeccompProfile::Custom(read_profile(path)?)
            }
            _ => bail!(
                "--security-opt {opt:?} is not supported; use no-new-privileges[=true|false] or seccomp=unconfined|builtin|PROFILE.json"
            ),
        }
    }
    Ok(out)
}

/// Reads and checks a profile in docker's JSON format.
fn read_profile(path: &str) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--security-opt seccomp={path}: cannot read the profile"))?;
    seccomp::parse(&text).map_err(|e| anyhow!("--security-opt seccomp={path}: {e}"))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> Result<SecurityOpts> {
        parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn docker_spellings() {
        let o = opts(&["no-new-privileges", "seccomp=unconfined"]).unwrap();
        assert!(o.no_new_privileges);
        assert_eq!(o.seccomp, SeccompProfile::Unconfined);
        let o = opts(&[
            "no-new-privileges:true",
            "no-new-privileges=false",
            "seccomp:builtin",
        ])
        .unwrap();
        assert!(!o.no_new_privileges);
        assert_eq!(o.seccomp, SeccompProfile::Default);
        assert_eq!(opts(&[]).unwrap().seccomp, SeccompProfile::Default);
        for bad in [
            "apparmor=unconfined",
            "seccomp",
            "seccomp=",
            "no-new-privileges=maybe",
        ] {
            let e = opts(&[bad]).unwrap_err().to_string();
            assert!(e.contains("not supported") && e.contains("seccomp="), "{e}");
        }
    }

    #[test]
    fn profile_files_are_read_and_checked() {
        let dir = std::env::temp_dir().join(format!("berth-secopt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.json");
        let text = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}"#;
        std::fs::write(&good, text).unwrap();
        let o = opts(&[&format!("seccomp={}", good.display())]).unwrap();
        assert_eq!(o.seccomp, SeccompProfile::Custom(text.into()));
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "{\"defaultAction\": 3}").unwrap();
        let e = format!(
            "{:#}",
            opts(&[&format!("seccomp={}", bad.display())]).unwrap_err()
        );
        assert!(
            e.contains("bad.json") && e.contains("docker's JSON format"),
            "{e}"
        );
        let e = format!(
            "{:#}",
            opts(&["seccomp=/no/such/profile.json"]).unwrap_err()
        );
        assert!(
            e.contains("/no/such/profile.json") && e.contains("cannot read"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
