//! Seccomp as an attacker tries it: a static probe binary, bind-mounted read-only
//! into containers, calls what docker's default profile refuses (namespace clones,
//! clone3, io_uring, vsock, the keyring, personality changes, …) and a few calls
//! that must keep working, printing `name=OK|EPERM|ENOSYS|…` per probe. Also custom
//! docker-format profiles, masked /proc paths and the umask.

use berth_testkit::{stderr, Berth};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar", "cc"])
}

/// Each probe runs in a forked child, so one that changes the process (a new user
/// namespace, a persona) cannot change what the next one sees.
const PROBE_C: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

static const char *ename(int e) {
    static char buf[16];
    switch (e) {
    case EPERM: return "EPERM";
    case ENOSYS: return "ENOSYS";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case ESRCH: return "ESRCH";
    case ENOENT: return "ENOENT";
    case EBADF: return "EBADF";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case ENOKEY: return "ENOKEY";
    }
    snprintf(buf, sizeof buf, "E%d", e);
    return buf;
}

/* A raw clone used like fork: the child exits at once. */
static long clone_flags(unsigned long flags) {
    long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(pid, NULL, 0);
    return pid;
}

struct clone_args_v0 { uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls; };

static long p_clone3(void) {
    struct clone_args_v0 a;
    memset(&a, 0, sizeof a);
    a.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &a, sizeof a);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(pid, NULL, 0);
    return pid;
}

static long p_fork(void) { pid_t p = fork(); if (p == 0) _exit(0); if (p > 0) waitpid(p, NULL, 0); return p; }
static long p_clone_plain(void) { return clone_flags(0); }
static long p_clone_newuser_net(void) { return clone_flags(CLONE_NEWUSER | CLONE_NEWNET); }
static long p_clone_newuser(void) { return clone_flags(CLONE_NEWUSER); }
static long p_clone_newns(void) { return clone_flags(CLONE_NEWNS); }
static long p_unshare_user(void) { return unshare(CLONE_NEWUSER); }
static long p_io_uring_setup(void) {
    char params[120];
    memset(params, 0, sizeof params);
    long fd = syscall(SYS_io_uring_setup, 1, params);
    if (fd >= 0) close(fd);
    return fd;
}
static long p_socket_vsock(void) { int s = socket(AF_VSOCK, SOCK_STREAM, 0); if (s >= 0) close(s); return s; }
static long p_socket_inet(void) { int s = socket(AF_INET, SOCK_DGRAM, 0); if (s >= 0) close(s); return s; }
static long p_keyctl(void) { return syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0); }
static long p_add_key(void) { return syscall(SYS_add_key, "user", "berth-probe", "x", 1, -2 /* process keyring */); }
static long p_request_key(void) { return syscall(SYS_request_key, "user", "berth-probe-none", NULL, 0); }
static long p_bpf(void) { return syscall(SYS_bpf, 0, NULL, 0); }
static long p_perf_event_open(void) {
    char attr[128];
    memset(attr, 0, sizeof attr);
    long fd = syscall(SYS_perf_event_open, attr, 0, -1, -1, 0);
    if (fd >= 0) close(fd);
    return fd;
}
static long p_userfaultfd(void) { long fd = syscall(SYS_userfaultfd, 0); if (fd >= 0) close(fd); return fd; }
static long p_kexec_load(void) { return syscall(SYS_kexec_load, 0, 0, NULL, 0); }
static long p_open_by_handle_at(void) { return syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, O_RDONLY); }
static long p_mount(void) { return mount("none", "/tmp", "tmpfs", 0, NULL); }
static long p_personality_query(void) { return personality(0xffffffff); }
static long p_personality_linux(void) { return personality(PER_LINUX); }
static long p_personality_forbidden(void) { return personality(PER_LINUX | ADDR_NO_RANDOMIZE); }
static long p_ptrace(void) { return syscall(SYS_ptrace, 16 /* ATTACH */, 999999, 0, 0); }
static long p_pidfd_getfd(void) {
    long pfd = syscall(SYS_pidfd_open, getpid(), 0);
    if (pfd < 0) return pfd;
    long fd = syscall(SYS_pidfd_getfd, pfd, 1, 0);
    if (fd >= 0) close(fd);
    return fd;
}
static long p_nosuch(void) { return syscall(1000); }
/* mseal (462, kernel 6.10) with an empty range: newer than the syscall tables of
   older libseccomp builds, so refused with ENOSYS (never EPERM) or allowed. */
static long p_mseal(void) { return syscall(462, 0, 0, 0); }

struct probe { const char *name; long (*fn)(void); };
static const struct probe probes[] = {
    {"fork", p_fork},
    {"clone_plain", p_clone_plain},
    {"clone_newuser_net", p_clone_newuser_net},
    {"clone_newuser", p_clone_newuser},
    {"clone_newns", p_clone_newns},
    {"unshare_user", p_unshare_user},
    {"clone3", p_clone3},
    {"io_uring_setup", p_io_uring_setup},
    {"socket_vsock", p_socket_vsock},
    {"socket_inet", p_socket_inet},
    {"keyctl", p_keyctl},
    {"add_key", p_add_key},
    {"request_key", p_request_key},
    {"bpf", p_bpf},
    {"perf_event_open", p_perf_event_open},
    {"userfaultfd", p_userfaultfd},
    {"kexec_load", p_kexec_load},
    {"open_by_handle_at", p_open_by_handle_at},
    {"mount", p_mount},
    {"personality_query", p_personality_query},
    {"personality_linux", p_personality_linux},
    {"personality_forbidden", p_personality_forbidden},
    {"ptrace", p_ptrace},
    {"pidfd_getfd", p_pidfd_getfd},
    {"nosuch", p_nosuch},
    {"mseal", p_mseal},
};

static int wanted(int argc, char **argv, const char *name) {
    if (argc < 2) return 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0) return 1;
    return 0;
}

/* With arguments, runs only the probes they name. */
int main(int argc, char **argv) {
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        if (!wanted(argc, argv, probes[i].name)) continue;
        fflush(stdout);
        pid_t child = fork();
        if (child < 0) { printf("%s=fork:%s\n", probes[i].name, ename(errno)); continue; }
        if (child == 0) {
            errno = 0;
            long rc = probes[i].fn();
            printf("%s=%s\n", probes[i].name, rc >= 0 ? "OK" : ename(errno));
            fflush(stdout);
            _exit(0);
        }
        waitpid(child, NULL, 0);
    }
    return 0;
}
"#;

/// Builds the probe statically into a directory of `b`'s own (removed with it),
/// which is bind-mounted read-only at /probe.
fn probe_dir(b: &Berth) -> PathBuf {
    let dir = b.root.parent().unwrap().join("probe");
    if dir.join("probe").exists() {
        return dir;
    }
    std::fs::create_dir_all(&dir).unwrap();
    berth_testkit::compile_static_c(PROBE_C, &dir.join("probe"));
    dir
}

fn parse(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The probe's results in a fresh container run with `flags`: the probes `names`,
/// or all of them when empty.
fn probe(b: &Berth, flags: &[&str], names: &[&str]) -> BTreeMap<String, String> {
    let v = format!("{}:/probe:ro", probe_dir(b).display());
    let mut args = vec!["run", "--rm", "--network", "none", "-v", &v];
    args.extend(flags);
    args.extend(["busybox", "/probe/probe"]);
    args.extend(names);
    parse(&b.ok(&args))
}

/// Probes whose answer, with no filter, is the kernel's alone and which change
/// nothing outside the probe: safe to run on the host and in unconfined or
/// privileged containers (never `mount` or `kexec_load` there).
const HARMLESS: [&str; 5] = [
    "io_uring_setup",
    "socket_vsock",
    "personality_forbidden",
    "clone3",
    "pidfd_getfd",
];

/// The harmless probes' results on the host, where no filter applies.
fn probe_on_host(b: &Berth) -> BTreeMap<String, String> {
    let out = Command::new(probe_dir(b).join("probe"))
        .args(HARMLESS)
        .output()
        .unwrap();
    parse(&String::from_utf8_lossy(&out.stdout))
}

fn expect(got: &BTreeMap<String, String>, want: &[(&str, &str)], what: &str) {
    for (name, result) in want {
        assert_eq!(
            got.get(*name).map(String::as_str),
            Some(*result),
            "{what}: probe {name} (all results: {got:?})"
        );
    }
}

/// What docker's default profile gives a default container (docker 25+: io_uring
/// and vsock refused; clone3 ENOSYS so glibc falls back to clone).
const DOCKER_DEFAULT: [(&str, &str); 25] = [
    ("fork", "OK"),
    ("clone_plain", "OK"),
    ("clone_newuser_net", "EPERM"),
    ("clone_newuser", "EPERM"),
    ("clone_newns", "EPERM"),
    ("unshare_user", "EPERM"),
    ("clone3", "ENOSYS"),
    ("io_uring_setup", "EPERM"),
    ("socket_vsock", "EPERM"),
    ("socket_inet", "OK"),
    ("keyctl", "EPERM"),
    ("add_key", "EPERM"),
    ("request_key", "EPERM"),
    ("bpf", "EPERM"),
    ("perf_event_open", "EPERM"),
    ("userfaultfd", "EPERM"),
    ("kexec_load", "EPERM"),
    ("open_by_handle_at", "EPERM"),
    ("mount", "EPERM"),
    ("personality_query", "OK"),
    ("personality_linux", "OK"),
    ("personality_forbidden", "EPERM"),
    // Allowed on kernels >= 4.8 (the pid does not exist).
    ("ptrace", "ESRCH"),
    // Gated by CAP_SYS_PTRACE.
    ("pidfd_getfd", "EPERM"),
    // Newer than any syscall the profile names: ENOSYS, so libc falls back (runc's
    // stub; the kernel has no syscall 1000).
    ("nosuch", "ENOSYS"),
];

#[test]
fn default_profile_refuses_what_docker_refuses() {
    let Some(b) = env() else { return };
    let got = probe(&b, &[], &[]);
    expect(&got, &DOCKER_DEFAULT, "default container");
    assert!(["OK", "ENOSYS"].contains(&got["mseal"].as_str()), "{got:?}");

    // The same filter holds for processes started with exec.
    let v = format!("{}:/probe:ro", probe_dir(&b).display());
    b.ok(&[
        "run",
        "-d",
        "--name",
        "long",
        "--network",
        "none",
        "-v",
        &v,
        "busybox",
        "sleep",
        "300",
    ]);
    let exec = parse(&b.ok(&["exec", "long", "/probe/probe"]));
    expect(&exec, &DOCKER_DEFAULT, "exec in a default container");
    // Loading the filter leaves the capabilities exactly docker's, in every set.
    let caps = "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status | tr -d '\\t'";
    let want = "CapInh:0000000000000000\nCapPrm:00000000a80425fb\nCapEff:00000000a80425fb\nCapBnd:00000000a80425fb\nCapAmb:0000000000000000";
    assert_eq!(b.ok(&["exec", "long", "sh", "-c", caps]), want);
    assert_eq!(b.sh(&[], caps), want);
    let nobody = parse(&b.ok(&[
        "exec",
        "-u",
        "65534",
        "long",
        "/probe/probe",
        "clone_newuser_net",
        "io_uring_setup",
    ]));
    expect(
        &nobody,
        &[("clone_newuser_net", "EPERM"), ("io_uring_setup", "EPERM")],
        "exec -u 65534",
    );
    b.ok(&["rm", "-f", "long"]);

    // Not root in the container: the same filter.
    let nobody = probe(
        &b,
        &["-u", "65534"],
        &[
            "clone_newuser_net",
            "io_uring_setup",
            "socket_vsock",
            "clone3",
            "fork",
        ],
    );
    expect(
        &nobody,
        &[
            ("clone_newuser_net", "EPERM"),
            ("io_uring_setup", "EPERM"),
            ("socket_vsock", "EPERM"),
            ("clone3", "ENOSYS"),
            ("fork", "OK"),
        ],
        "-u 65534",
    );
}

#[test]
fn capabilities_open_their_syscalls() {
    let Some(b) = env() else { return };
    let got = probe(
        &b,
        &["--cap-add", "SYS_ADMIN"],
        &[
            "clone_newuser_net",
            "clone_newns",
            "clone3",
            "fork",
            "io_uring_setup",
            "socket_vsock",
            "keyctl",
        ],
    );
    expect(
        &got,
        &[
            ("clone_newuser_net", "OK"),
            ("clone_newns", "OK"),
            ("clone3", "OK"),
            ("fork", "OK"),
            // Still refused: not gated by CAP_SYS_ADMIN in docker's profile.
            ("io_uring_setup", "EPERM"),
            ("socket_vsock", "EPERM"),
            ("keyctl", "EPERM"),
        ],
        "--cap-add SYS_ADMIN",
    );
    let got = probe(&b, &["--cap-add", "SYS_PTRACE"], &["pidfd_getfd"]);
    expect(&got, &[("pidfd_getfd", "OK")], "--cap-add SYS_PTRACE");
}

#[test]
fn unconfined_and_privileged_have_no_filter() {
    let Some(b) = env() else { return };
    let host = probe_on_host(&b);
    for flags in [
        &["--security-opt", "seccomp=unconfined"][..],
        &["--security-opt", "seccomp:unconfined"][..],
        &["--privileged"][..],
    ] {
        let got = probe(&b, flags, &HARMLESS);
        let what = format!("{flags:?}");
        // What the kernel decides, not a filter: the same answer as on the host.
        for name in ["io_uring_setup", "socket_vsock", "personality_forbidden"] {
            assert_eq!(got[name], host[name], "{what}: probe {name}: {got:?}");
        }
        assert_ne!(got["clone3"], "ENOSYS", "{what}: {got:?}");
        assert_eq!(got["pidfd_getfd"], "OK", "{what}: {got:?}");
    }
}

#[test]
fn custom_profile_in_dockers_format() {
    let Some(b) = env() else { return };
    let dir = b.root.parent().unwrap().join("profiles");
    std::fs::create_dir_all(&dir).unwrap();
    let profile = dir.join("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{
            "defaultAction": "SCMP_ACT_ALLOW",
            "archMap": [
                {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
            ],
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
            ]
        }"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let out = b.sh_output(
        &["--security-opt", &opt],
        "mkdir /made 2>&1; echo made=$?; touch /touched && echo touched",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Operation not permitted"), "{text}");
    assert!(text.contains("made=1"), "{text}");
    assert!(text.contains("touched"), "only mkdir is refused: {text}");

    let malformed = dir.join("bad.json");
    std::fs::write(&malformed, r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOPE"}]}"#).unwrap();
    let bad = b.run(&[
        "run",
        "--rm",
        "--security-opt",
        &format!("seccomp={}", malformed.display()),
        "busybox",
        "true",
    ]);
    assert_eq!(bad.status.code(), Some(125), "{}", stderr(&bad));
    let err = stderr(&bad);
    assert!(
        err.contains("bad.json") && err.contains("SCMP_ACT_NOPE"),
        "the message names the file and what is wrong: {err}"
    );

    let missing = b.run(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=/definitely/missing.json",
        "busybox",
        "true",
    ]);
    assert_eq!(missing.status.code(), Some(125), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("/definitely/missing.json"),
        "{}",
        stderr(&missing)
    );
    assert!(
        b.all_ids().is_empty(),
        "no container is left from the failures"
    );
}

/// Runs berth with a restrictive umask, as a careful admin's shell has: the
/// container must get docker's 0022 regardless.
fn with_umask_077(b: &Berth, args: &[&str]) -> Output {
    let mut cmd = b.command(args);
    // SAFETY: umask is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o077);
            Ok(())
        });
    }
    cmd.output().unwrap()
}

#[test]
fn masked_paths_and_umask_match_docker() {
    let Some(b) = env() else { return };
    // docker's masked paths (moby oci/defaults.go): files read empty, directories
    // are empty. Only those the host has can be checked.
    let masked = [
        "/proc/asound",
        "/proc/acpi",
        "/proc/interrupts",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ];
    let mut script = String::new();
    for p in masked.iter().filter(|p| Path::new(p).exists()) {
        script.push_str(&format!(
            "if [ -d {p} ]; then echo {p}=$(ls -A {p} | wc -l); else echo {p}=$(cat {p} 2>/dev/null | wc -c); fi; "
        ));
    }
    let out = b.sh(&[], &script);
    assert!(out.contains("/proc/interrupts=0"), "{out}");
    for line in out.lines() {
        assert!(line.ends_with("=0"), "{line} is visible in the container");
    }
    let ro = b.sh(
        &[],
        "grep -E ' /proc/(bus|fs|irq|sys|sysrq-trigger) ' /proc/mounts",
    );
    let readonly = [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ];
    for p in readonly.into_iter().filter(|p| Path::new(p).exists()) {
        let line = ro
            .lines()
            .find(|l| l.split(' ').nth(1) == Some(p))
            .unwrap_or_else(|| panic!("{p} is not mounted read-only: {ro}"));
        assert!(line.contains(" ro,"), "{line}");
    }

    let run = with_umask_077(&b, &["run", "--rm", "busybox", "sh", "-c", "umask"]);
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim(),
        "0022",
        "{}",
        stderr(&run)
    );
    let started = with_umask_077(
        &b,
        &["run", "-d", "--name", "um", "busybox", "sleep", "300"],
    );
    assert!(started.status.success(), "{}", stderr(&started));
    let exec = with_umask_077(&b, &["exec", "um", "sh", "-c", "umask"]);
    assert_eq!(
        String::from_utf8_lossy(&exec.stdout).trim(),
        "0022",
        "{}",
        stderr(&exec)
    );
    b.ok(&["rm", "-f", "um"]);
}

/// The bundle's config is standard OCI: runc (which reads `SCMP_CMP_MASKED_EQ` as
/// the spec says) refuses the same calls from the same profile.
#[test]
fn runc_reads_the_same_profile() {
    if !berth_testkit::require_root_and(&["tar", "cc", "runc"]) {
        return;
    }
    let b = Berth::new(BIN);
    b.import_busybox("busybox", &[r#"CMD ["/bin/sh"]"#]);
    let got = probe(&b, &["--runtime", "runc"], &[]);
    expect(&got, &DOCKER_DEFAULT, "runc, default profile");
}
