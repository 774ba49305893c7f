//! berth-runtime: the `Runtime` trait whose contract is an OCI bundle (config.json +
//! rootfs), with two backends — youki's libcontainer in-process (default) and any OCI
//! runtime binary through its CLI (`--runtime runc`) — plus console sockets and signal
//! names.
//!
//! Contract for both backends: the container's init process and exec'd processes end
//! up as children of the calling process, which must be a child subreaper (the
//! monitor is one; `exec` in the CLI makes itself one) so it can reap them.
//!
//! Seccomp departs from "libcontainer does the OCI bundle": the libcontainer backend
//! compiles the bundle's filter itself (once per profile, cached, with runc's ENOSYS
//! stub) and loads it from its executor, in the container's init and in exec'd
//! processes alike; libcontainer reads a copy of the config without the filter.
//! `libcontainer_seccomp.rs` says why (cost, exec, an operand swap).

pub mod console;
mod libcontainer_backend;
mod libcontainer_seccomp;
mod oci_cli;
mod seccomp_bpf;
mod seccomp_enosys;
pub mod signal;

pub use libcontainer_backend::LibcontainerRuntime;
pub use oci_cli::OciCliRuntime;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{runtime}: {op} container {id}: {message}")]
    Failed {
        runtime: String,
        op: &'static str,
        id: String,
        message: String,
    },
    #[error("runtime {0:?} is not available: {1}; install it or use the default runtime")]
    Unavailable(String, String),
    #[error("container {0} is not known to the runtime")]
    NotFound(String),
    #[error("{0}")]
    CommandNotFound(String),
    #[error("{0}")]
    CannotInvoke(String),
}

impl RuntimeError {
    /// docker's exit code for this failure: 127 when the command does not exist, 126
    /// when it cannot be run, 125 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            RuntimeError::CommandNotFound(_) => 127,
            RuntimeError::CannotInvoke(_) => 126,
            _ => 125,
        }
    }
}

/// The container's standard streams when it has no terminal.
#[derive(Default)]
pub struct Stdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

pub struct CreateRequest<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    /// Set when the process has a terminal; the pty master is sent there.
    pub console_socket: Option<&'a Path>,
    pub stdio: Stdio,
}

pub struct ExecRequest<'a> {
    pub id: &'a str,
    /// An OCI `process` object (JSON file) describing what to run.
    pub process_json: &'a Path,
    pub console_socket: Option<&'a Path>,
    pub stdio: Stdio,
    /// Join this sub-cgroup of the container's cgroup instead of its root. On
    /// cgroup v2 a systemd container's root cgroup holds no processes (its controllers
    /// are enabled for children), so execs go where PID 1 lives (init.scope).
    pub sub_cgroup: Option<String>,
}

pub trait Runtime {
    fn name(&self) -> &str;
    /// Creates the container from the bundle; its init waits for `start`.
    /// Returns the init's host pid.
    fn create(&self, req: CreateRequest) -> Result<i32, RuntimeError>;
    fn start(&self, id: &str) -> Result<(), RuntimeError>;
    /// Starts an extra process in a running container; returns its host pid.
    fn exec(&self, req: ExecRequest) -> Result<i32, RuntimeError>;
    /// Removes the runtime's state and cgroups, killing what is left when `force`.
    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError>;
}

/// Names that pick the in-process libcontainer backend.
fn is_libcontainer(name: &str) -> bool {
    matches!(name, "" | "libcontainer" | "berth" | "youki")
}

/// Picks a backend by name: `libcontainer` (default, in-process) or the name/path of
/// an OCI runtime binary such as `runc`.
pub fn by_name(name: &str, state_root: &Path) -> Result<Box<dyn Runtime>, RuntimeError> {
    match name {
        name if is_libcontainer(name) => Ok(Box::new(LibcontainerRuntime::new(
            state_root.join("libcontainer"),
        ))),
        other => {
            let binary = find_binary(other).ok_or_else(|| {
                RuntimeError::Unavailable(other.into(), "not found in PATH".into())
            })?;
            let base = Path::new(other)
                .file_name()
                .map(|s| s.to_string_lossy().into_owned());
            let dir = state_root.join(base.unwrap_or_else(|| "oci".into()));
            Ok(Box::new(OciCliRuntime::new(binary, dir)))
        }
    }
}

fn find_binary(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
