//! Seccomp profiles in docker's JSON format (docker's default, or a user's
//! `--security-opt seccomp=FILE`) turned into the OCI `linux.seccomp` object of one
//! container, with docker's semantics: a rule's `includes`/`excludes` are evaluated
//! against the container's capabilities (its bounding set), this machine's
//! architecture and its kernel version; `archMap` picks this architecture and its
//! sub-architectures.
//!
//! Docker's default profile is an allow-list: anything it does not name fails with
//! EPERM (`defaultErrnoRet`), clone with namespace flags and everything
//! CAP_SYS_ADMIN-gated is refused unless the container holds that capability, clone3
//! fails with ENOSYS so glibc falls back to clone, io_uring and vsock are refused.
//! Unlike runc, libcontainer 0.7 adds no "-ENOSYS for syscalls newer than the
//! profile" stub: a syscall the kernel has but libseccomp cannot name (here: 457 and
//! up, such as statmount or mseal) fails with EPERM instead of ENOSYS.
//!
//! The default profile is parsed once per process and converted once per
//! capability set; a start costs a clone of the cached value.

use crate::model::SeccompProfile;
use crate::oci::security::ALL_CAPS;
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompBuilder,
    LinuxSeccompFilterFlag, LinuxSyscall, LinuxSyscallBuilder,
};
use serde::Deserialize;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// Docker's default profile, as data (origin and licence in its "comment" field).
const DEFAULT_PROFILE: &str = include_str!("seccomp_default.json");

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SeccompError {
    #[error("not a seccomp profile in docker's JSON format: {0}")]
    Malformed(String),
    #[error("the profile sets both \"architectures\" and \"archMap\": keep one of them")]
    BothArchitectures,
    #[error("a rule sets both \"name\" and \"names\" ({0}): use \"names\" only")]
    BothNames(String),
    #[error("a rule names no syscall: give it \"names\"")]
    NoNames,
    #[error("minKernel {0:?} is not a kernel version: write MAJOR.MINOR, like \"4.8\"")]
    BadKernelVersion(String),
    #[error("the profile lists syscalls but no defaultAction: add one, like \"defaultAction\": \"SCMP_ACT_ERRNO\"")]
    NoDefaultAction,
}

/// A profile in docker's format (moby `profiles/seccomp` `Seccomp`). Lists may be
/// `null`, as Go writes them.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerProfile {
    #[serde(default)]
    default_action: Option<LinuxSeccompAction>,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Option<Vec<Arch>>,
    #[serde(default)]
    arch_map: Option<Vec<ArchMap>>,
    #[serde(default)]
    flags: Option<Vec<LinuxSeccompFilterFlag>>,
    #[serde(default)]
    listener_path: Option<PathBuf>,
    #[serde(default)]
    listener_metadata: Option<String>,
    #[serde(default)]
    syscalls: Option<Vec<Rule>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: Arch,
    #[serde(default)]
    sub_architectures: Option<Vec<Arch>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    /// Deprecated single-name form.
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    names: Option<Vec<String>>,
    action: LinuxSeccompAction,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<LinuxSeccompArg>>,
    #[serde(default)]
    includes: Option<Filter>,
    #[serde(default)]
    excludes: Option<Filter>,
}

/// A rule's condition: all of `caps` held, this architecture among `arches` (docker's
/// names: amd64, arm64, x86, …), the kernel at least `min_kernel`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    caps: Option<Vec<String>>,
    #[serde(default)]
    arches: Option<Vec<String>>,
    #[serde(default)]
    min_kernel: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
}

impl KernelVersion {
    /// Parses `4.8` (a profile's minKernel) or a release like `6.18.44-fc-v669`.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.trim().split(['.', '-']);
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(KernelVersion { major, minor })
    }

    /// The running kernel's; 0.0 if unreadable, which only drops rules that need a
    /// newer kernel (the filter gets stricter, never looser).
    pub fn host() -> Self {
        static HOST: OnceLock<KernelVersion> = OnceLock::new();
        *HOST.get_or_init(|| {
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .and_then(|r| KernelVersion::parse(&r))
                .unwrap_or(KernelVersion { major: 0, minor: 0 })
        })
    }
}

/// This machine's architecture: docker's name for it (matched against a rule's
/// `arches`) and the seccomp architecture (matched against `archMap`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineArch {
    pub docker: &'static str,
    pub seccomp: Option<Arch>,
}

impl MachineArch {
    pub fn host() -> Self {
        let le = cfg!(target_endian = "little");
        let (docker, seccomp) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", Some(Arch::ScmpArchX86_64)),
            "x86" => ("x86", Some(Arch::ScmpArchX86)),
            "aarch64" => ("arm64", Some(Arch::ScmpArchAarch64)),
            "arm" => ("arm", Some(Arch::ScmpArchArm)),
            "riscv64" => ("riscv64", Some(Arch::ScmpArchRiscv64)),
            "s390x" => ("s390x", Some(Arch::ScmpArchS390x)),
            "loongarch64" => ("loong64", Some(Arch::ScmpArchLoongarch64)),
            "powerpc64" if le => ("ppc64le", Some(Arch::ScmpArchPpc64le)),
            "powerpc64" => ("ppc64", Some(Arch::ScmpArchPpc64)),
            "mips64" if le => ("mipsel64", Some(Arch::ScmpArchMipsel64)),
            "mips64" => ("mips64", Some(Arch::ScmpArchMips64)),
            other => (other, None),
        };
        MachineArch { docker, seccomp }
    }
}

/// What a profile's `includes` and `excludes` are evaluated against.
pub struct Target<'a> {
    /// The container's capabilities (its bounding set), `CAP_*` names.
    pub caps: &'a [String],
    pub arch: MachineArch,
    pub kernel: KernelVersion,
}

impl Target<'_> {
    fn matches_all(&self, f: &Filter) -> bool {
        let caps = f.caps.iter().flatten().all(|c| self.caps.contains(c));
        let arch = f
            .arches
            .as_ref()
            .is_none_or(|a| a.is_empty() || a.iter().any(|x| x == self.arch.docker));
        caps && arch && self.kernel_at_least(&f.min_kernel).unwrap_or(true)
    }

    fn matches_any(&self, f: &Filter) -> bool {
        f.caps.iter().flatten().any(|c| self.caps.contains(c))
            || f.arches.iter().flatten().any(|x| x == self.arch.docker)
            || self.kernel_at_least(&f.min_kernel).unwrap_or(false)
    }

    /// None when the filter names no kernel (minKernel was checked at parse).
    fn kernel_at_least(&self, min: &Option<String>) -> Option<bool> {
        let min = KernelVersion::parse(min.as_deref()?)?;
        Some(self.kernel >= min)
    }

    /// Docker's rule selection: any excluded condition drops the rule, every
    /// included condition must hold.
    fn applies(&self, rule: &Rule) -> bool {
        !rule.excludes.as_ref().is_some_and(|f| self.matches_any(f))
            && rule.includes.as_ref().is_none_or(|f| self.matches_all(f))
    }
}

/// Parses and checks a profile in docker's format.
pub fn parse(text: &str) -> Result<DockerProfile, SeccompError> {
    let p: DockerProfile =
        serde_json::from_str(text).map_err(|e| SeccompError::Malformed(e.to_string()))?;
    if p.architectures.as_ref().is_some_and(|a| !a.is_empty())
        && p.arch_map.as_ref().is_some_and(|m| !m.is_empty())
    {
        return Err(SeccompError::BothArchitectures);
    }
    let rules = p.syscalls.iter().flatten();
    if p.default_action.is_none() && rules.clone().next().is_some() {
        return Err(SeccompError::NoDefaultAction);
    }
    for r in rules {
        match (r.single_name(), r.names.as_deref().unwrap_or_default()) {
            (Some(n), [_, ..]) => return Err(SeccompError::BothNames(n.into())),
            (None, []) => return Err(SeccompError::NoNames),
            _ => {}
        }
        for f in [&r.includes, &r.excludes].into_iter().flatten() {
            if let Some(k) = &f.min_kernel {
                KernelVersion::parse(k).ok_or_else(|| SeccompError::BadKernelVersion(k.clone()))?;
            }
        }
    }
    Ok(p)
}

impl DockerProfile {
    /// The OCI object for a container; None for a profile with neither a default
    /// action nor rules, which docker takes as "no filter".
    pub fn to_oci(&self, target: &Target) -> Option<LinuxSeccomp> {
        let default_action = self.default_action?;
        let syscalls: Vec<LinuxSyscall> = self
            .syscalls
            .iter()
            .flatten()
            .filter(|r| target.applies(r))
            .map(oci_rule)
            .collect();
        let mut b = LinuxSeccompBuilder::default()
            .default_action(default_action)
            .syscalls(syscalls);
        if let Some(errno) = self.default_errno_ret {
            b = b.default_errno_ret(errno);
        }
        let arches = self.architectures_for(target.arch);
        if !arches.is_empty() {
            b = b.architectures(arches);
        }
        if let Some(flags) = self.flags.clone().filter(|f| !f.is_empty()) {
            b = b.flags(flags);
        }
        if let Some(path) = &self.listener_path {
            b = b.listener_path(path.clone());
        }
        if let Some(meta) = &self.listener_metadata {
            b = b.listener_metadata(meta.clone());
        }
        b.build().ok()
    }

    /// `architectures` as given, or this machine's `archMap` entry with its
    /// sub-architectures.
    fn architectures_for(&self, arch: MachineArch) -> Vec<Arch> {
        if let Some(a) = self.architectures.as_ref().filter(|a| !a.is_empty()) {
            return a.clone();
        }
        self.arch_map
            .iter()
            .flatten()
            .find(|m| Some(m.architecture) == arch.seccomp)
            .map(|m| {
                std::iter::once(m.architecture)
                    .chain(m.sub_architectures.iter().flatten().copied())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Rule {
    /// The deprecated `name`; Go writes an absent one as "".
    fn single_name(&self) -> Option<&str> {
        self.name.as_deref().filter(|n| !n.is_empty())
    }
}

fn oci_rule(r: &Rule) -> LinuxSyscall {
    let names = match r.single_name() {
        Some(n) => vec![n.to_string()],
        None => r.names.clone().unwrap_or_default(),
    };
    let mut b = LinuxSyscallBuilder::default().names(names).action(r.action);
    if let Some(errno) = r.errno_ret {
        b = b.errno_ret(errno);
    }
    if let Some(args) = r.args.clone().filter(|a| !a.is_empty()) {
        b = b.args(args);
    }
    b.build().expect("names and action are set")
}

/// The `linux.seccomp` value for a container holding `caps`, or None when it runs
/// without a filter. Not for privileged containers: they never get one.
pub fn for_container(
    profile: &SeccompProfile,
    caps: &[String],
) -> Result<Option<Value>, SeccompError> {
    let target = Target {
        caps,
        arch: MachineArch::host(),
        kernel: KernelVersion::host(),
    };
    Ok(match profile {
        SeccompProfile::Unconfined => None,
        SeccompProfile::Default => Some(default_for(&target)),
        SeccompProfile::Custom(text) => parse(text)?.to_oci(&target).map(to_value),
    })
}

/// Checks a user's profile before a container is created with it.
pub fn validate(profile: &SeccompProfile) -> Result<(), SeccompError> {
    match profile {
        SeccompProfile::Custom(text) => parse(text).map(|_| ()),
        _ => Ok(()),
    }
}

fn to_value(s: LinuxSeccomp) -> Value {
    serde_json::to_value(s).expect("an OCI seccomp object serialises")
}

/// Docker's default profile for this capability set, converted once per process
/// and capability set (a CLI process starts one container; a test or a future
/// compose runs many).
fn default_for(target: &Target) -> Value {
    static PROFILE: OnceLock<DockerProfile> = OnceLock::new();
    static CONVERTED: Mutex<Vec<(u64, Value)>> = Mutex::new(Vec::new());
    let key = cap_mask(target.caps);
    let mut cache = CONVERTED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, v)) = cache.iter().find(|(k, _)| *k == key) {
        return v.clone();
    }
    let profile =
        PROFILE.get_or_init(|| parse(DEFAULT_PROFILE).expect("the built-in profile parses"));
    let value = to_value(
        profile
            .to_oci(target)
            .expect("the built-in profile has a default action"),
    );
    cache.push((key, value.clone()));
    value
}

fn cap_mask(caps: &[String]) -> u64 {
    caps.iter()
        .filter_map(|c| ALL_CAPS.iter().position(|x| x == c))
        .fold(0, |m, bit| m | (1u64 << bit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::security::DEFAULT_CAPS;

    const X86_64: MachineArch = MachineArch {
        docker: "amd64",
        seccomp: Some(Arch::ScmpArchX86_64),
    };
    const AARCH64: MachineArch = MachineArch {
        docker: "arm64",
        seccomp: Some(Arch::ScmpArchAarch64),
    };
    const KERNEL_6_1: KernelVersion = KernelVersion { major: 6, minor: 1 };

    fn default_caps() -> Vec<String> {
        DEFAULT_CAPS.iter().map(|c| c.to_string()).collect()
    }

    fn convert(text: &str, caps: &[String], arch: MachineArch, kernel: KernelVersion) -> Value {
        let t = Target { caps, arch, kernel };
        to_value(parse(text).unwrap().to_oci(&t).unwrap())
    }

    /// The rules (action, args) that name `syscall`.
    fn rules_for(v: &Value, syscall: &str) -> Vec<Value> {
        v["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["names"].as_array().unwrap().iter().any(|n| n == syscall))
            .cloned()
            .collect()
    }

    fn allowed_unconditionally(v: &Value, syscall: &str) -> bool {
        rules_for(v, syscall)
            .iter()
            .any(|r| r["action"] == "SCMP_ACT_ALLOW" && r.get("args").is_none())
    }

    #[test]
    fn default_profile_is_an_allow_list_with_dockers_refusals() {
        let v = convert(DEFAULT_PROFILE, &default_caps(), X86_64, KERNEL_6_1);
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(v["defaultErrnoRet"], 1);
        assert_eq!(
            v["architectures"],
            serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        for ok in [
            "read",
            "execve",
            "fork",
            "arch_prctl",
            "modify_ldt",
            "ptrace",
            "chroot",
        ] {
            assert!(allowed_unconditionally(&v, ok), "{ok}");
        }
        for refused in [
            "io_uring_setup",
            "keyctl",
            "add_key",
            "bpf",
            "mount",
            "unshare",
            "setns",
            "kexec_load",
            "open_by_handle_at",
            "pidfd_getfd",
            "reboot",
            "arm_fadvise64_64",
        ] {
            assert!(rules_for(&v, refused).is_empty(), "{refused}");
        }
        // clone only without namespace flags; clone3 fails with ENOSYS.
        let clone = rules_for(&v, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0]["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
        assert_eq!(clone[0]["args"][0]["value"], 0x7E02_0000u64);
        let clone3 = rules_for(&v, "clone3");
        assert_eq!(clone3[0]["action"], "SCMP_ACT_ERRNO");
        assert_eq!(clone3[0]["errnoRet"], 38);
        // socket, except AF_VSOCK (40); personality only for docker's values.
        let socket = rules_for(&v, "socket");
        assert_eq!(socket[0]["args"][0]["op"], "SCMP_CMP_NE");
        assert_eq!(socket[0]["args"][0]["value"], 40);
        let personas: Vec<u64> = rules_for(&v, "personality")
            .iter()
            .map(|r| r["args"][0]["value"].as_u64().unwrap())
            .collect();
        assert_eq!(personas, [0, 8, 0x20000, 0x20008, 0xffff_ffff]);
    }

    #[test]
    fn capabilities_include_and_exclude_rules() {
        let mut caps = default_caps();
        caps.push("CAP_SYS_ADMIN".into());
        let v = convert(DEFAULT_PROFILE, &caps, X86_64, KERNEL_6_1);
        for ok in ["mount", "unshare", "setns", "clone", "clone3", "bpf"] {
            assert!(allowed_unconditionally(&v, ok), "{ok}");
        }
        // The flag-checking clone rule and clone3's ENOSYS are excluded by the cap.
        assert!(rules_for(&v, "clone")
            .iter()
            .all(|r| r.get("args").is_none()));
        assert!(rules_for(&v, "clone3")
            .iter()
            .all(|r| r["action"] == "SCMP_ACT_ALLOW"));

        let gated = [
            ("CAP_SYS_BOOT", "reboot"),
            ("CAP_SYS_MODULE", "finit_module"),
            ("CAP_SYS_PACCT", "acct"),
            ("CAP_SYS_PTRACE", "pidfd_getfd"),
            ("CAP_SYS_RAWIO", "iopl"),
            ("CAP_SYS_TIME", "settimeofday"),
            ("CAP_SYS_TTY_CONFIG", "vhangup"),
            ("CAP_SYS_NICE", "mbind"),
            ("CAP_SYSLOG", "syslog"),
            ("CAP_BPF", "bpf"),
            ("CAP_PERFMON", "perf_event_open"),
            ("CAP_DAC_READ_SEARCH", "open_by_handle_at"),
        ];
        for (cap, syscall) in gated {
            let without = convert(DEFAULT_PROFILE, &default_caps(), X86_64, KERNEL_6_1);
            assert!(!allowed_unconditionally(&without, syscall), "{syscall}");
            let mut caps = default_caps();
            caps.push(cap.into());
            let with = convert(DEFAULT_PROFILE, &caps, X86_64, KERNEL_6_1);
            assert!(allowed_unconditionally(&with, syscall), "{cap} {syscall}");
        }
        // Without CAP_SYS_CHROOT, chroot is refused.
        let no_chroot: Vec<String> = default_caps()
            .into_iter()
            .filter(|c| c != "CAP_SYS_CHROOT")
            .collect();
        let v = convert(DEFAULT_PROFILE, &no_chroot, X86_64, KERNEL_6_1);
        assert!(rules_for(&v, "chroot").is_empty());
    }

    #[test]
    fn architecture_picks_arch_map_entry_and_arch_rules() {
        let v = convert(DEFAULT_PROFILE, &default_caps(), AARCH64, KERNEL_6_1);
        assert_eq!(
            v["architectures"],
            serde_json::json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
        );
        for arm in [
            "arm_fadvise64_64",
            "cacheflush",
            "set_tls",
            "sync_file_range2",
        ] {
            assert!(allowed_unconditionally(&v, arm), "{arm}");
        }
        for x86 in ["arch_prctl", "modify_ldt"] {
            assert!(rules_for(&v, x86).is_empty(), "{x86}");
        }
        // The s390 clone rule (flags in argument 1) is not used elsewhere.
        let clone = rules_for(&v, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0]["args"][0]["index"], 0);
        let s390 = MachineArch {
            docker: "s390x",
            seccomp: Some(Arch::ScmpArchS390x),
        };
        let v = convert(DEFAULT_PROFILE, &default_caps(), s390, KERNEL_6_1);
        let clone = rules_for(&v, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0]["args"][0]["index"], 1);
        // An architecture with no archMap entry: the runtime's native one only.
        let odd = MachineArch {
            docker: "sparc64",
            seccomp: None,
        };
        let v = convert(DEFAULT_PROFILE, &default_caps(), odd, KERNEL_6_1);
        assert!(v.get("architectures").is_none());
    }

    #[test]
    fn min_kernel_gates_rules() {
        let old = KernelVersion { major: 4, minor: 4 };
        let v = convert(DEFAULT_PROFILE, &default_caps(), X86_64, old);
        assert!(!allowed_unconditionally(&v, "ptrace"));
        let v = convert(DEFAULT_PROFILE, &default_caps(), X86_64, KERNEL_6_1);
        assert!(allowed_unconditionally(&v, "ptrace"));
        // excludes.minKernel drops a rule on new kernels.
        let p = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["uselib"], "action": "SCMP_ACT_ERRNO", "excludes": {"minKernel": "5.0"}}]}"#;
        assert!(rules_for(&convert(p, &[], X86_64, old), "uselib").len() == 1);
        assert!(rules_for(&convert(p, &[], X86_64, KERNEL_6_1), "uselib").is_empty());
        assert_eq!(
            KernelVersion::parse("6.18.44-fc-v669"),
            Some(KernelVersion {
                major: 6,
                minor: 18
            })
        );
        assert_eq!(KernelVersion::parse("6"), None);
    }

    #[test]
    fn custom_profiles_convert_as_docker_does() {
        let p = r#"{
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "syscalls": [
                {"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": null,
                 "comment": "", "includes": {}, "excludes": {}},
                {"names": ["chmod"], "action": "SCMP_ACT_KILL", "includes": {"caps": ["CAP_FOWNER", "CAP_CHOWN"]}},
                {"names": ["fchmod"], "action": "SCMP_ACT_TRAP", "excludes": {"arches": ["amd64"]}}
            ]}"#;
        let v = convert(p, &default_caps(), X86_64, KERNEL_6_1);
        assert_eq!(v["architectures"], serde_json::json!(["SCMP_ARCH_X86_64"]));
        assert_eq!(v["flags"], serde_json::json!(["SECCOMP_FILTER_FLAG_LOG"]));
        assert_eq!(rules_for(&v, "mkdir")[0]["errnoRet"], 13);
        assert_eq!(rules_for(&v, "chmod").len(), 1, "both caps held");
        assert!(rules_for(&v, "fchmod").is_empty(), "excluded on amd64");
        let only_chown = vec!["CAP_CHOWN".to_string()];
        assert!(rules_for(&convert(p, &only_chown, X86_64, KERNEL_6_1), "chmod").is_empty());
        assert_eq!(
            rules_for(&convert(p, &[], AARCH64, KERNEL_6_1), "fchmod").len(),
            1
        );
        // No default action and no rules: no filter, as docker.
        assert!(parse("{}")
            .unwrap()
            .to_oci(&Target {
                caps: &[],
                arch: X86_64,
                kernel: KERNEL_6_1,
            })
            .is_none());
    }

    #[test]
    fn bad_profiles_say_what_is_wrong() {
        let err = |text: &str| parse(text).unwrap_err();
        assert!(matches!(err("{"), SeccompError::Malformed(_)));
        let SeccompError::Malformed(why) = err(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_NOPE"}]}"#,
        ) else {
            panic!()
        };
        assert!(why.contains("SCMP_ACT_NOPE"), "{why}");
        assert!(matches!(
            err(
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]}"#
            ),
            SeccompError::Malformed(_)
        ));
        assert_eq!(
            err(r#"{"syscalls": [{"names": ["x"], "action": "SCMP_ACT_ERRNO"}]}"#),
            SeccompError::NoDefaultAction
        );
        assert_eq!(
            err(
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#
            ),
            SeccompError::BothArchitectures
        );
        assert_eq!(
            err(
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ERRNO"}]}"#
            ),
            SeccompError::BothNames("a".into())
        );
        assert_eq!(
            err(
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]}"#
            ),
            SeccompError::NoNames
        );
        assert_eq!(
            err(
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "new"}}]}"#
            ),
            SeccompError::BadKernelVersion("new".into())
        );
    }

    #[test]
    fn default_is_cached_per_capability_set() {
        let caps = default_caps();
        let a = for_container(&SeccompProfile::Default, &caps)
            .unwrap()
            .unwrap();
        let b = for_container(&SeccompProfile::Default, &caps)
            .unwrap()
            .unwrap();
        assert_eq!(a, b);
        let mut more = caps.clone();
        more.push("CAP_SYS_ADMIN".into());
        let c = for_container(&SeccompProfile::Default, &more)
            .unwrap()
            .unwrap();
        assert_ne!(a, c);
        assert!(for_container(&SeccompProfile::Unconfined, &caps)
            .unwrap()
            .is_none());
        // The result is a valid OCI seccomp object.
        serde_json::from_value::<LinuxSeccomp>(a).unwrap();
    }
}
