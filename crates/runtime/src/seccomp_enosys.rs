//! runc's "-ENOSYS stub" for compiled filters: a syscall newer than every syscall
//! the profile names fails with ENOSYS instead of the default action's EPERM.
//! glibc falls back to an older syscall on ENOSYS only (fchmodat2 → fchmodat,
//! clone3 → clone, …), so a profile older than the kernel and libc must answer
//! ENOSYS for what it cannot know; EPERM would break those programs. libcontainer
//! 0.7 has no such stub, libseccomp cannot express "above syscall number N", so
//! berth prepends the check to the BPF libseccomp exports, as runc does.
//!
//! "Newest" is per architecture: the highest number libseccomp resolves for any
//! name in the profile. Only for profiles that refuse by default, and only for the
//! architectures handled here (x86_64 with x32, x86, aarch64, arm); others get the
//! program unchanged.

use libseccomp::{ScmpArch, ScmpSyscall};
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction};

// seccomp_data offsets and return values (linux/seccomp.h).
const NR: u32 = 0;
const ARCH: u32 = 4;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

// AUDIT_ARCH_* tokens (linux/audit.h); oci-spec's Arch values are the same.
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;

/// Where a jump goes: the ENOSYS return, libseccomp's program, or a few
/// instructions ahead.
#[derive(Clone, Copy)]
enum To {
    Enosys,
    Main,
    Skip(u8),
    Block(usize),
}

enum Ins {
    LoadAbs(u32),
    /// Jump if A == k.
    Eq(u32, To, To),
    /// Jump if A > k.
    Gt(u32, To, To),
    /// Jump if A & k != 0.
    Set(u32, To, To),
    Always(To),
}

/// One architecture's check: the audit token and the newest syscall numbers, for
/// the native ABI and (x86_64 only) x32.
struct ArchCheck {
    token: u32,
    newest: u32,
    newest_x32: Option<u32>,
}

/// The stub to put before libseccomp's program, or nothing when it is not needed.
pub(crate) fn stub(spec: &LinuxSeccomp) -> Vec<libc::sock_filter> {
    let refuses = !matches!(
        spec.default_action(),
        LinuxSeccompAction::ScmpActAllow
            | LinuxSeccompAction::ScmpActLog
            | LinuxSeccompAction::ScmpActTrace
            | LinuxSeccompAction::ScmpActNotify
    );
    let checks = arch_checks(spec);
    if !refuses || checks.is_empty() {
        return vec![];
    }
    assemble(&checks)
}

fn arch_checks(spec: &LinuxSeccomp) -> Vec<ArchCheck> {
    let arches: Vec<Arch> = match spec.architectures().as_deref() {
        Some(a) if !a.is_empty() => a.to_vec(),
        _ => native().into_iter().collect(),
    };
    let names: Vec<&str> = spec
        .syscalls()
        .iter()
        .flatten()
        .flat_map(|r| r.names().iter().map(String::as_str))
        .collect();
    let newest = |arch: ScmpArch| {
        names
            .iter()
            .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch).ok())
            .map(i32::from)
            .filter(|nr| *nr >= 0)
            .max()
            .map(|nr| nr as u32)
    };
    let mut checks = Vec::new();
    let has = |a: Arch| arches.contains(&a);
    let mut push = |token, native: Option<u32>, x32: Option<u32>| {
        if let Some(newest) = native {
            checks.push(ArchCheck {
                token,
                newest,
                newest_x32: x32,
            });
        }
    };
    if has(Arch::ScmpArchX86_64) {
        let x32 = has(Arch::ScmpArchX32)
            .then(|| newest(ScmpArch::X32))
            .flatten();
        push(AUDIT_ARCH_X86_64, newest(ScmpArch::X8664), x32);
    }
    if has(Arch::ScmpArchX86) {
        push(AUDIT_ARCH_I386, newest(ScmpArch::X86), None);
    }
    if has(Arch::ScmpArchAarch64) {
        push(AUDIT_ARCH_AARCH64, newest(ScmpArch::Aarch64), None);
    }
    if has(Arch::ScmpArchArm) {
        push(AUDIT_ARCH_ARM, newest(ScmpArch::Arm), None);
    }
    checks
}

fn native() -> Option<Arch> {
    match std::env::consts::ARCH {
        "x86_64" => Some(Arch::ScmpArchX86_64),
        "x86" => Some(Arch::ScmpArchX86),
        "aarch64" => Some(Arch::ScmpArchAarch64),
        "arm" => Some(Arch::ScmpArchArm),
        _ => None,
    }
}

/// ld arch; one `jeq` per architecture to its block; else on to libseccomp's
/// program. Each block loads the number and sends anything newer to ENOSYS.
fn assemble(checks: &[ArchCheck]) -> Vec<libc::sock_filter> {
    let mut code = vec![Ins::LoadAbs(ARCH)];
    for (i, c) in checks.iter().enumerate() {
        code.push(Ins::Eq(c.token, To::Block(i), To::Skip(0)));
    }
    code.push(Ins::Always(To::Main));
    let mut starts = Vec::new();
    for c in checks {
        starts.push(code.len());
        code.push(Ins::LoadAbs(NR));
        match c.newest_x32 {
            Some(x32) => {
                code.push(Ins::Set(X32_SYSCALL_BIT, To::Skip(1), To::Skip(0)));
                code.push(Ins::Gt(c.newest, To::Enosys, To::Main));
                code.push(Ins::Gt(x32, To::Enosys, To::Main));
            }
            None => code.push(Ins::Gt(c.newest, To::Enosys, To::Main)),
        }
    }
    let enosys = code.len();
    let main = enosys + 1;
    let offset = |at: usize, to: To| -> u32 {
        let target = match to {
            To::Enosys => enosys,
            To::Main => main,
            To::Block(i) => starts[i],
            To::Skip(n) => at + 1 + n as usize,
        };
        (target - at - 1) as u32
    };
    let jump = |code: u16, k: u32, jt: u32, jf: u32| libc::sock_filter {
        code,
        jt: jt as u8,
        jf: jf as u8,
        k,
    };
    let jmp = (libc::BPF_JMP | libc::BPF_K) as u16;
    let mut out: Vec<libc::sock_filter> = code
        .iter()
        .enumerate()
        .map(|(at, ins)| match *ins {
            Ins::LoadAbs(k) => jump((libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16, k, 0, 0),
            Ins::Eq(k, t, f) => jump(jmp | libc::BPF_JEQ as u16, k, offset(at, t), offset(at, f)),
            Ins::Gt(k, t, f) => jump(jmp | libc::BPF_JGT as u16, k, offset(at, t), offset(at, f)),
            Ins::Set(k, t, f) => jump(jmp | libc::BPF_JSET as u16, k, offset(at, t), offset(at, f)),
            Ins::Always(t) => jump((libc::BPF_JMP | libc::BPF_JA) as u16, offset(at, t), 0, 0),
        })
        .collect();
    let ret = (libc::BPF_RET | libc::BPF_K) as u16;
    out.push(jump(ret, SECCOMP_RET_ERRNO | libc::ENOSYS as u32, 0, 0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a classic BPF program over (nr, arch), as the kernel would, for the
    /// instructions the stub uses; `Main` when it falls through to libseccomp's.
    fn run(prog: &[libc::sock_filter], nr: u32, arch: u32) -> Option<u32> {
        let (mut pc, mut a) = (0usize, 0u32);
        while pc < prog.len() {
            let i = prog[pc];
            let cls = i.code & 0x07;
            pc += 1;
            match (cls as u32, (i.code & 0xf0) as u32) {
                (libc::BPF_LD, _) => a = if i.k == NR { nr } else { arch },
                (libc::BPF_RET, _) => return Some(i.k),
                (libc::BPF_JMP, libc::BPF_JA) => pc += i.k as usize,
                (libc::BPF_JMP, op) => {
                    let hit = match op {
                        libc::BPF_JEQ => a == i.k,
                        libc::BPF_JGT => a > i.k,
                        libc::BPF_JSET => a & i.k != 0,
                        _ => unreachable!(),
                    };
                    pc += if hit { i.jt } else { i.jf } as usize;
                }
                _ => unreachable!(),
            }
        }
        None
    }

    fn spec(default: &str, arches: &[&str]) -> LinuxSeccomp {
        serde_json::from_value(serde_json::json!({
            "defaultAction": default,
            "architectures": arches,
            "syscalls": [{"names": ["read", "futex_waitv", "clone3"], "action": "SCMP_ACT_ALLOW"}]
        }))
        .unwrap()
    }

    const ENOSYS: Option<u32> = Some(SECCOMP_RET_ERRNO | libc::ENOSYS as u32);

    #[test]
    fn newer_than_the_profile_is_enosys_per_architecture() {
        let s = spec(
            "SCMP_ACT_ERRNO",
            &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        );
        let prog = stub(&s);
        // futex_waitv is 449 on x86_64 and x86, 0x40000000|449 on x32.
        assert_eq!(run(&prog, 449, AUDIT_ARCH_X86_64), None);
        assert_eq!(run(&prog, 300, AUDIT_ARCH_X86_64), None);
        assert_eq!(run(&prog, 450, AUDIT_ARCH_X86_64), ENOSYS);
        assert_eq!(run(&prog, 1000, AUDIT_ARCH_X86_64), ENOSYS);
        assert_eq!(run(&prog, X32_SYSCALL_BIT | 449, AUDIT_ARCH_X86_64), None);
        assert_eq!(run(&prog, X32_SYSCALL_BIT | 460, AUDIT_ARCH_X86_64), ENOSYS);
        assert_eq!(run(&prog, 449, AUDIT_ARCH_I386), None);
        assert_eq!(run(&prog, 451, AUDIT_ARCH_I386), ENOSYS);
        // Another architecture falls through to libseccomp's bad-arch handling.
        assert_eq!(run(&prog, 5000, AUDIT_ARCH_AARCH64), None);
        let arm = stub(&spec(
            "SCMP_ACT_ERRNO",
            &["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        ));
        assert_eq!(run(&arm, 449, AUDIT_ARCH_AARCH64), None);
        assert_eq!(run(&arm, 500, AUDIT_ARCH_AARCH64), ENOSYS);
        assert_eq!(run(&arm, 500, AUDIT_ARCH_ARM), ENOSYS);
    }

    #[test]
    fn only_for_profiles_that_refuse_by_default() {
        assert!(stub(&spec("SCMP_ACT_ALLOW", &["SCMP_ARCH_X86_64"])).is_empty());
        assert!(!stub(&spec("SCMP_ACT_KILL_PROCESS", &["SCMP_ARCH_X86_64"])).is_empty());
    }
}
