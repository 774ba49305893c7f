//! Default backend: youki's libcontainer, in-process. It forks without exec, so it is
//! only called from single-threaded processes (the monitor, or the CLI for exec).

use crate::libcontainer_seccomp::{self, LoadFilter};
use crate::{CreateRequest, ExecRequest, Runtime, RuntimeError};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::oci_spec::runtime::Spec;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use std::ffi::CString;
use std::path::PathBuf;

pub struct LibcontainerRuntime {
    root: PathBuf,
}

impl LibcontainerRuntime {
    pub fn new(root: PathBuf) -> Self {
        LibcontainerRuntime { root }
    }

    fn fail(&self, op: &'static str, id: &str, e: impl std::fmt::Display) -> RuntimeError {
        RuntimeError::Failed {
            runtime: "libcontainer".into(),
            op,
            id: id.into(),
            message: e.to_string(),
        }
    }

    /// Compiled seccomp filters, shared by all containers of this state root.
    fn seccomp_cache(&self) -> PathBuf {
        self.root.with_file_name("seccomp-bpf")
    }

    fn load(&self, id: &str) -> Result<Container, RuntimeError> {
        let dir = self.root.join(id);
        if !dir.exists() {
            return Err(RuntimeError::NotFound(id.into()));
        }
        Container::load(dir).map_err(|e| self.fail("load", id, e))
    }

    fn base_builder(
        &self,
        id: &str,
        console: Option<&std::path::Path>,
        stdio: crate::Stdio,
        executor: BerthExecutor,
    ) -> Result<ContainerBuilder, RuntimeError> {
        std::fs::create_dir_all(&self.root).map_err(|e| self.fail("prepare", id, e))?;
        let mut b = ContainerBuilder::new(id.to_string(), SyscallType::Linux)
            .with_executor(executor)
            .with_root_path(self.root.clone())
            .map_err(|e| self.fail("prepare", id, e))?
            .with_console_socket(console);
        if let Some(fd) = stdio.stdin {
            b = b.with_stdin(fd);
        }
        if let Some(fd) = stdio.stdout {
            b = b.with_stdout(fd);
        }
        if let Some(fd) = stdio.stderr {
            b = b.with_stderr(fd);
        }
        Ok(b)
    }
}

impl Runtime for LibcontainerRuntime {
    fn name(&self) -> &str {
        "libcontainer"
    }

    fn create(&self, req: CreateRequest) -> Result<i32, RuntimeError> {
        let (bundle, filter) =
            libcontainer_seccomp::prepare_init(req.bundle, &self.seccomp_cache())
                .map_err(|e| self.fail("create", req.id, e))?;
        let container = self
            .base_builder(
                req.id,
                req.console_socket,
                req.stdio,
                BerthExecutor { filter },
            )?
            .validate_id()
            .map_err(|e| self.fail("create", req.id, e))?
            .as_init(bundle)
            .with_systemd(false)
            .with_detach(true)
            .build()
            .map_err(|e| self.fail("create", req.id, e))?;
        container
            .pid()
            .map(|p| p.as_raw())
            .ok_or_else(|| self.fail("create", req.id, "runtime reported no init pid"))
    }

    fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.load(id)?
            .start()
            .map_err(|e| self.fail("start", id, e))
    }

    fn exec(&self, req: ExecRequest) -> Result<i32, RuntimeError> {
        let bundle = self.load(req.id)?.bundle().to_path_buf();
        let (process, filter) =
            libcontainer_seccomp::prepare_exec(&bundle, req.process_json, &self.seccomp_cache())
                .map_err(|e| self.fail("exec in", req.id, e))?;
        let built = self
            .base_builder(
                req.id,
                req.console_socket,
                req.stdio,
                BerthExecutor { filter },
            )
            .and_then(|b| {
                b.as_tenant()
                    .with_detach(true)
                    .with_process(Some(process.as_path()))
                    .with_sub_cgroup(req.sub_cgroup.clone())
                    .build()
                    .map_err(|e| self.fail("exec in", req.id, e))
            });
        if process != req.process_json {
            let _ = std::fs::remove_file(&process);
        }
        Ok(built?.as_raw())
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        match self.load(id) {
            Ok(c) if stopped_without_hooks(&c) => {
                // All libcontainer's delete would do is remove the cgroups and
                // this directory. berth removes a container's cgroups itself after
                // every delete (engine `cgroups::remove_container_cgroups`, which
                // also takes what systemd made below them); libcontainer's cgroup
                // manager for the same parsed /proc/self/mountinfo once per v1
                // controller, about a millisecond of the monitor's CPU on the way
                // to reporting a `run --rm`'s exit (issue 11).
                std::fs::remove_dir_all(self.root.join(id)).map_err(|e| self.fail("delete", id, e))
            }
            Ok(mut c) => c.delete(force).map_err(|e| self.fail("delete", id, e)),
            Err(RuntimeError::NotFound(_)) => Ok(()),
            Err(e) => {
                // Unreadable state (e.g. killed mid-write): remove it so the id is free.
                let _ = std::fs::remove_dir_all(self.root.join(id));
                Err(e)
            }
        }
    }
}

/// Stopped (its init gone), with no poststop hooks to run and no Intel RDT group to
/// clean: berth sets neither, but a state written by something else is left to
/// libcontainer's full delete.
fn stopped_without_hooks(c: &Container) -> bool {
    c.status() == ContainerStatus::Stopped
        && c.intel_rdt_dir().is_none()
        && c.spec()
            .is_ok_and(|config| config.hooks.as_ref().is_none_or(|h| h.poststop().is_none()))
}

/// Runs the container's process like docker does: a missing executable exits 127, one
/// that cannot be executed 126, with the reason on the container's stderr. (The
/// default executor fails container creation instead, which loses the exit code.)
#[derive(Clone)]
struct BerthExecutor {
    /// The container's seccomp filter, loaded here (libcontainer_seccomp.rs says why).
    filter: Option<LoadFilter>,
}

impl Executor for BerthExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        if let Some(f) = &self.filter {
            f.apply().map_err(ExecutorError::Other)?;
        }
        let args = spec
            .process()
            .as_ref()
            .and_then(|p| p.args().as_ref())
            .filter(|a| !a.is_empty())
            .ok_or(ExecutorError::InvalidArg)?;
        let cargs: Vec<CString> = args
            .iter()
            .map(|a| CString::new(a.as_bytes()).map_err(|_| ExecutorError::InvalidArg))
            .collect::<Result<_, _>>()?;
        reset_signals();
        let err = nix::unistd::execvp(&cargs[0], &cargs).unwrap_err();
        let (code, why) = match err {
            nix::errno::Errno::ENOENT if !args[0].contains('/') => {
                (127, "executable file not found in $PATH".to_string())
            }
            nix::errno::Errno::ENOENT => (127, "no such file or directory".to_string()),
            e => (126, e.desc().to_lowercase()),
        };
        eprintln!("berth: exec {:?}: {why}", args[0]);
        // SAFETY: _exit in the forked init; nothing to unwind or flush beyond stderr.
        unsafe { libc::_exit(code) }
    }

    fn validate(&self, _spec: &Spec) -> Result<(), ExecutorValidationError> {
        Ok(())
    }
}

/// The container's process starts as docker's do: no signal blocked, none ignored.
/// Both survive execve, and berth's own state is not the container's (Rust ignores
/// SIGPIPE; the monitor blocks SIGCHLD for its signalfd). Handlers need no reset:
/// execve drops them.
fn reset_signals() {
    // The raw syscall, not libc's sigaction: glibc refuses the signals it reserves
    // for itself (32, 33), and those can arrive ignored too. A zeroed kernel
    // sigaction is SIG_DFL with no flags.
    let dfl = [0u64; 4];
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction with a valid zeroed struct and no old-action pointer.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                dfl.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            )
        };
    }
    // Last: a signal sent while it was blocked is now delivered as it would be.
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
}
