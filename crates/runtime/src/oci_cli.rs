//! Second backend: any OCI runtime binary driven through its CLI (runc and friends).
//! It proves our config.json is standard. `create` and `exec -d` leave the process to
//! be reparented to the caller, which is a child subreaper.

use crate::{CreateRequest, ExecRequest, Runtime, RuntimeError};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio as ProcStdio};

pub struct OciCliRuntime {
    binary: PathBuf,
    root: PathBuf,
}

impl OciCliRuntime {
    pub fn new(binary: PathBuf, root: PathBuf) -> Self {
        OciCliRuntime { binary, root }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--root").arg(&self.root);
        c
    }

    /// The runtime writes its own errors to `--log`; its stderr is the container's.
    fn command_logged(&self, log: &Path) -> Command {
        let _ = std::fs::remove_file(log);
        let mut c = Command::new(&self.binary);
        c.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(log)
            .arg("--log-format")
            .arg("json");
        c
    }

    /// The last error message the runtime logged, if any.
    fn logged_error(log: &Path) -> Option<String> {
        let text = std::fs::read_to_string(log).ok()?;
        text.lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["level"] == "error")
            .find_map(|v| v["msg"].as_str().map(str::to_string))
    }

    fn run(&self, op: &'static str, id: &str, mut cmd: Command) -> Result<(), RuntimeError> {
        let out = cmd
            .stdin(ProcStdio::null())
            .output()
            .map_err(|e| self.fail(op, id, e))?;
        if out.status.success() {
            return Ok(());
        }
        Err(self.fail(op, id, String::from_utf8_lossy(&out.stderr).trim()))
    }

    fn fail(&self, op: &'static str, id: &str, e: impl std::fmt::Display) -> RuntimeError {
        RuntimeError::Failed {
            runtime: self.binary.display().to_string(),
            op,
            id: id.into(),
            message: e.to_string(),
        }
    }

    /// runc reports a command that cannot be executed as a create failure; docker
    /// turns those into exit codes 127 and 126, so we recognise them.
    fn classify(&self, op: &'static str, id: &str, msg: String) -> RuntimeError {
        let full = self.fail(op, id, &msg).to_string();
        if msg.contains("exec:")
            && (msg.contains("executable file not found")
                || msg.contains("no such file or directory"))
        {
            RuntimeError::CommandNotFound(full)
        } else if msg.contains("exec:") && msg.contains("permission denied") {
            RuntimeError::CannotInvoke(full)
        } else {
            self.fail(op, id, msg)
        }
    }

    /// Runs a command that hands stdio to the container and writes a pid file.
    fn spawn_with_pidfile(
        &self,
        op: &'static str,
        id: &str,
        mut cmd: Command,
        stdio: crate::Stdio,
        pid_file: &Path,
        log: &Path,
    ) -> Result<i32, RuntimeError> {
        let _ = std::fs::remove_file(pid_file);
        cmd.stdin(
            stdio
                .stdin
                .map(ProcStdio::from)
                .unwrap_or_else(ProcStdio::null),
        );
        cmd.stdout(
            stdio
                .stdout
                .map(ProcStdio::from)
                .unwrap_or_else(ProcStdio::null),
        );
        // stderr carries the runtime's own errors too; capture them when the caller
        // gave no stream, so a failure says why.
        let captured = stdio.stderr.is_none();
        cmd.stderr(
            stdio
                .stderr
                .map(ProcStdio::from)
                .unwrap_or_else(ProcStdio::piped),
        );
        let out = cmd.output().map_err(|e| self.fail(op, id, e))?;
        if !out.status.success() {
            let msg = match Self::logged_error(log) {
                Some(m) => m,
                None if captured => String::from_utf8_lossy(&out.stderr).trim().to_string(),
                None => format!("{} exited with {}", self.binary.display(), out.status),
            };
            let _ = std::fs::remove_file(log);
            return Err(self.classify(op, id, msg));
        }
        let _ = std::fs::remove_file(log);
        let pid = std::fs::read_to_string(pid_file).map_err(|e| self.fail(op, id, e))?;
        let _ = std::fs::remove_file(pid_file);
        pid.trim().parse().map_err(|e| self.fail(op, id, e))
    }
}

impl Runtime for OciCliRuntime {
    fn name(&self) -> &str {
        self.binary.to_str().unwrap_or("oci")
    }

    fn create(&self, req: CreateRequest) -> Result<i32, RuntimeError> {
        std::fs::create_dir_all(&self.root).map_err(|e| self.fail("create", req.id, e))?;
        let pid_file = req.bundle.join("init.pid");
        let log = req.bundle.join("runtime.log");
        let mut cmd = self.command_logged(&log);
        cmd.arg("create")
            .arg("--bundle")
            .arg(req.bundle)
            .arg("--pid-file")
            .arg(&pid_file);
        if let Some(sock) = req.console_socket {
            cmd.arg("--console-socket").arg(sock);
        }
        cmd.arg(req.id);
        self.spawn_with_pidfile("create", req.id, cmd, req.stdio, &pid_file, &log)
    }

    fn start(&self, id: &str) -> Result<(), RuntimeError> {
        let mut cmd = self.command();
        cmd.arg("start").arg(id);
        self.run("start", id, cmd)
    }

    fn exec(&self, req: ExecRequest) -> Result<i32, RuntimeError> {
        let pid_file = req.process_json.with_extension("pid");
        let log = req.process_json.with_extension("log");
        let mut cmd = self.command_logged(&log);
        cmd.arg("exec")
            .arg("--detach")
            .arg("--pid-file")
            .arg(&pid_file);
        cmd.arg("--process").arg(req.process_json);
        if let Some(sub) = &req.sub_cgroup {
            cmd.arg("--cgroup").arg(sub);
        }
        if let Some(sock) = req.console_socket {
            cmd.arg("--console-socket").arg(sock);
        }
        cmd.arg(req.id);
        self.spawn_with_pidfile("exec in", req.id, cmd, req.stdio, &pid_file, &log)
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        if !self.root.join(id).exists() {
            return Ok(());
        }
        let mut cmd = self.command();
        cmd.arg("delete");
        if force {
            cmd.arg("--force");
        }
        cmd.arg(id);
        self.run("delete", id, cmd)
    }
}
