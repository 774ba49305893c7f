//! An OCI `linux.seccomp` object compiled to a BPF program with libseccomp, kept in
//! a cache keyed by the object's hash, and loaded into the calling thread.
//!
//! Why berth compiles rather than libcontainer: libcontainer 0.7 compiles the filter
//! in every container's init. For docker's profile on x86_64 (three architectures:
//! x86_64, x86, x32) libseccomp 2.5.4 takes about 9 ms of CPU for that (measured
//! with the same rules in C; one architecture: 1 ms), half of a whole `berth run`.
//! A profile is compiled once here and read back (a few kB) afterwards.
//!
//! The program starts with runc's ENOSYS stub (`seccomp_enosys.rs`). The
//! translation is libcontainer's, with one difference: `SCMP_CMP_MASKED_EQ`
//! takes `value` as the mask and `valueTwo` as the datum, as the runtime spec, runc
//! and crun do. (libcontainer 0.7 swaps them; with docker's clone rule the mask
//! becomes 0 and libseccomp compiles an unconditional allow.)

use crate::seccomp_enosys;
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompOperator,
};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, Write};
use std::path::Path;

/// Changes whenever the translation below does, so older cache entries are unused.
const FORMAT: &str = "berth-seccomp-bpf-2";

// seccomp(2) flags (linux/seccomp.h).
const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
const SECCOMP_FILTER_FLAG_TSYNC: libc::c_ulong = 1;
const SECCOMP_FILTER_FLAG_LOG: libc::c_ulong = 2;
const SECCOMP_FILTER_FLAG_SPEC_ALLOW: libc::c_ulong = 4;

/// A compiled filter and the seccomp(2) flags to load it with.
#[derive(Clone, Debug)]
pub(crate) struct Bpf {
    program: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
}

/// Profiles with user notification need libcontainer's listener plumbing; berth
/// leaves those to libcontainer.
pub(crate) fn needs_listener(seccomp: &serde_json::Value) -> bool {
    seccomp.get("listenerPath").is_some()
        || seccomp["syscalls"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["action"] == "SCMP_ACT_NOTIFY"))
}

/// The compiled filter for `seccomp`, from `cache_dir` or compiled into it.
pub(crate) fn cached(seccomp: &serde_json::Value, cache_dir: &Path) -> Result<Bpf, String> {
    let text = seccomp.to_string();
    let mut hash = Sha256::new();
    hash.update(FORMAT);
    hash.update(libseccomp_version());
    hash.update(&text);
    let path = cache_dir.join(format!("{}.bpf", hex(&hash.finalize())));
    let program = match std::fs::read(&path).ok().and_then(|b| program(&b)) {
        Some(p) => p,
        None => {
            let spec: LinuxSeccomp = serde_json::from_str(&text)
                .map_err(|e| format!("the config's seccomp object: {e}"))?;
            compile(&spec, cache_dir, &path)?
        }
    };
    Ok(Bpf {
        program,
        flags: flags(seccomp),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn libseccomp_version() -> String {
    libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default()
}

/// A BPF program as libseccomp exports it: 8-byte instructions in host order.
fn program(bytes: &[u8]) -> Option<Vec<libc::sock_filter>> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(8) || bytes.len() / 8 > u16::MAX as usize {
        return None;
    }
    Some(
        bytes
            .chunks_exact(8)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    )
}

fn flags(seccomp: &serde_json::Value) -> libc::c_ulong {
    seccomp["flags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| match f.as_str() {
            Some("SECCOMP_FILTER_FLAG_TSYNC") => SECCOMP_FILTER_FLAG_TSYNC,
            Some("SECCOMP_FILTER_FLAG_LOG") => SECCOMP_FILTER_FLAG_LOG,
            Some("SECCOMP_FILTER_FLAG_SPEC_ALLOW") => SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            // WAIT_KILLABLE_RECV only means something with notification.
            _ => 0,
        })
        .fold(0, |a, f| a | f)
}

/// Compiles with libseccomp, puts the ENOSYS stub in front, and stores the program
/// at `path` (written under a temporary name, then renamed, so a concurrent start
/// never reads half a file).
fn compile(spec: &LinuxSeccomp, dir: &Path, path: &Path) -> Result<Vec<libc::sock_filter>, String> {
    let ctx = filter_context(spec).map_err(|e| format!("compiling the seccomp filter: {e}"))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let io = |e: std::io::Error| format!("{}: {e}", tmp.display());
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io)?;
    ctx.export_bpf(&file)
        .map_err(|e| format!("exporting the seccomp filter: {e}"))?;
    let mut exported = Vec::new();
    file.rewind().map_err(io)?;
    file.read_to_end(&mut exported).map_err(io)?;
    let mut prog = seccomp_enosys::stub(spec);
    prog.extend(program(&exported).ok_or("libseccomp exported an empty filter")?);
    let bytes: Vec<u8> = prog.iter().flat_map(instruction_bytes).collect();
    file.rewind().map_err(io)?;
    file.set_len(0).map_err(io)?;
    file.write_all(&bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(prog)
}

fn instruction_bytes(i: &libc::sock_filter) -> [u8; 8] {
    let (code, k) = (i.code.to_ne_bytes(), i.k.to_ne_bytes());
    [code[0], code[1], i.jt, i.jf, k[0], k[1], k[2], k[3]]
}

fn filter_context(
    spec: &LinuxSeccomp,
) -> Result<ScmpFilterContext, libseccomp::error::SeccompError> {
    let default = action(spec.default_action(), spec.default_errno_ret());
    let mut ctx = ScmpFilterContext::new(default)?;
    for arch in spec.architectures().iter().flatten() {
        let arch = scmp_arch(*arch);
        if !ctx.is_arch_present(arch)? {
            ctx.add_arch(arch)?;
        }
    }
    for rule in spec.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret());
        // libseccomp refuses a rule that repeats the default; it changes nothing.
        if act == default {
            continue;
        }
        let args = rule.args().clone().unwrap_or_default();
        for name in rule.names() {
            // A name this libseccomp does not know is skipped, as runc and
            // libcontainer do: the default action then applies to it.
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                continue;
            };
            add_rule(&mut ctx, act, syscall, &args)?;
        }
    }
    Ok(ctx)
}

/// libseccomp compares each argument once per rule; several comparisons of the
/// same argument become separate rules (alternatives), as runc does.
fn add_rule(
    ctx: &mut ScmpFilterContext,
    act: ScmpAction,
    syscall: ScmpSyscall,
    args: &[LinuxSeccompArg],
) -> Result<(), libseccomp::error::SeccompError> {
    let cmps: Vec<ScmpArgCompare> = args.iter().map(compare).collect();
    let mut indexes: Vec<usize> = args.iter().map(|a| a.index()).collect();
    indexes.sort_unstable();
    indexes.dedup();
    if cmps.is_empty() {
        ctx.add_rule(act, syscall)?;
    } else if indexes.len() == cmps.len() {
        ctx.add_rule_conditional(act, syscall, &cmps)?;
    } else {
        for c in &cmps {
            ctx.add_rule_conditional(act, syscall, std::slice::from_ref(c))?;
        }
    }
    Ok(())
}

fn compare(arg: &LinuxSeccompArg) -> ScmpArgCompare {
    let index = arg.index() as u32;
    let op = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        // The spec's meaning: (arg & value) == valueTwo.
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            let mask = ScmpCompareOp::MaskedEqual(arg.value());
            return ScmpArgCompare::new(index, mask, arg.value_two().unwrap_or(0));
        }
    };
    ScmpArgCompare::new(index, op, arg.value())
}

fn action(action: LinuxSeccompAction, errno: Option<u32>) -> ScmpAction {
    let errno = errno.map(|e| e as i32).unwrap_or(libc::EPERM);
    match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno as u16),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        // Profiles that notify are left to libcontainer (needs_listener).
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    }
}

fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

impl Bpf {
    /// Loads the filter into the calling thread (inherited by what it execs). Needs
    /// CAP_SYS_ADMIN or no_new_privs.
    pub(crate) fn load(&self) -> std::io::Result<()> {
        let prog = libc::sock_fprog {
            len: self.program.len() as u16,
            filter: self.program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `prog` points at our program, alive for the call; the kernel copies it.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                self.flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn profile() -> serde_json::Value {
        json!({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["read", "write", "exit_group", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                          {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
            ]
        })
    }

    #[test]
    fn compiles_once_then_reads_the_cache() {
        let dir = std::env::temp_dir().join(format!("berth-bpf-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = cached(&profile(), &dir).unwrap();
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert_eq!(files.len(), 1, "one cache entry, no temporary left");
        let again = cached(&profile(), &dir).unwrap();
        assert_eq!(first.program.len(), again.program.len());
        assert!(first.program.len() > 10);
        // A corrupt entry is compiled again.
        std::fs::write(files[0].path(), b"short").unwrap();
        assert_eq!(
            cached(&profile(), &dir).unwrap().program.len(),
            first.program.len()
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn masked_eq_uses_the_spec_operand_order() {
        let spec: LinuxSeccomp = serde_json::from_value(profile()).unwrap();
        let ctx = filter_context(&spec).unwrap();
        let mut pfc = tempfile_in_temp("pfc");
        ctx.export_pfc(&pfc.0).unwrap();
        let mut text = String::new();
        pfc.0.rewind().unwrap();
        pfc.0.read_to_string(&mut text).unwrap();
        // (a0 & 0x7e020000) == 0, not an unconditional allow.
        assert!(text.contains("& 0x7e020000 == 0"), "{text}");
        let _ = std::fs::remove_file(pfc.1);
    }

    fn tempfile_in_temp(name: &str) -> (std::fs::File, std::path::PathBuf) {
        let p = std::env::temp_dir().join(format!("berth-{name}-{}", std::process::id()));
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&p)
            .unwrap();
        (f, p)
    }

    #[test]
    fn flags_and_listeners() {
        let mut p = profile();
        p["flags"] = json!(["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]);
        assert_eq!(
            flags(&p),
            SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW
        );
        assert!(!needs_listener(&p));
        p["syscalls"][0]["action"] = json!("SCMP_ACT_NOTIFY");
        assert!(needs_listener(&p));
    }
}
