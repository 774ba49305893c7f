//! RUN: the command (through SHELL, heredocs as buildkit runs them), its
//! environment (the stage's ENV and ARG values, proxy build args), its
//! mounts, and the cache key of all of that.

use super::dispatch::display;
use super::{Builder, StageState};
use crate::error::StepError;
use crate::host::{RunMount, RunNetwork, RunSpec};
use crate::progress::OutputSink;
use berth_dockerfile::heredoc::{chomp, parse_heredoc};
use berth_dockerfile::instructions::{
    Command, CommandForm, Mount, MountType, Network, Run, Sharing,
};
use serde_json::{json, Value};
use std::path::PathBuf;

/// Files a RUN step needs on the host for its duration (heredoc scripts,
/// secrets, copies of read-write binds), removed when it ends.
pub(super) struct Scratch {
    pub dir: PathBuf,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Scratch {
    pub fn new(state_dir: &std::path::Path) -> Result<Scratch, StepError> {
        let dir = state_dir
            .join("tmp")
            .join(format!("{}-{}", std::process::id(), crate::unique()));
        std::fs::create_dir_all(&dir).map_err(|source| StepError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        Ok(Scratch { dir })
    }

    /// Writes a file with `mode` and returns its path.
    pub fn file(&self, name: &str, data: &[u8], mode: u32) -> Result<PathBuf, StepError> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.join(name);
        let io = |source| StepError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::write(&path, data).map_err(io)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(io)?;
        Ok(path)
    }
}

/// What a RUN step runs, and what it needs mounted.
pub(super) struct Prepared {
    pub spec: RunSpec,
    /// What the cache key sees of the mounts (cache ids, sources…).
    pub mount_keys: Vec<Value>,
    /// Locks held while it runs (`sharing=locked` cache mounts).
    pub locks: Vec<nix::fcntl::Flock<std::fs::File>>,
    /// Views of stages bound into the container, mounted until it ends.
    pub views: Vec<Box<dyn crate::host::View>>,
    pub scratch: Scratch,
}

/// buildkit's `runCommandString`: `|N K=V … args` when build args are in use.
pub(super) fn run_command_string(args: &[String], build_args: &[(String, String)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !build_args.is_empty() {
        parts.push(format!("|{}", build_args.len()));
        parts.extend(build_args.iter().map(|(k, v)| format!("{k}={v}")));
    }
    parts.extend(args.iter().cloned());
    parts.join(" ")
}

/// The command line, with buildkit's heredoc rules: a lone `<<EOF` runs its
/// body with the shell (or, with a `#!` line, as a script file mounted at
/// `/dev/pipes/EOF`); other heredocs are handed to the shell whole.
fn command_line(
    run: &Run,
    shell: &[String],
    scratch: &Scratch,
) -> Result<(Vec<String>, Option<RunMount>), StepError> {
    let text = match &run.command {
        CommandForm::Exec(args) => return Ok((args.clone(), None)),
        CommandForm::Shell(s) => s.clone(),
    };
    let with_shell = |s: String| shell.iter().cloned().chain([s]).collect::<Vec<_>>();
    let Some(first) = run.heredocs.first() else {
        return Ok((with_shell(text), None));
    };
    if matches!(parse_heredoc(&text), Ok(Some(_))) {
        let data = if parse_heredoc(&text).ok().flatten().is_some_and(|h| h.chomp) {
            chomp(&first.content)
        } else {
            first.content.clone()
        };
        if data.starts_with("#!") {
            let file = scratch.file(&first.name, data.as_bytes(), 0o755)?;
            let target = format!("/dev/pipes/{}", first.name);
            let mount = RunMount::Bind {
                source: file,
                target: target.clone(),
                read_only: true,
            };
            return Ok((with_shell(target), Some(mount)));
        }
        return Ok((with_shell(data), None));
    }
    let mut whole = text;
    for doc in &run.heredocs {
        whole.push('\n');
        whole.push_str(&doc.content);
        whole.push_str(&doc.name);
    }
    Ok((with_shell(whole), None))
}

impl Builder<'_> {
    pub(super) fn run(
        &mut self,
        st: &mut StageState,
        cmd: &Command,
        run: &Run,
    ) -> Result<(), StepError> {
        let step = self.start_step(st, &display(cmd));
        let result = self.run_step(st, step, run);
        if let Err(e) = &result {
            self.progress.failed(step.0, &e.to_string());
        }
        result
    }

    fn run_step(
        &mut self,
        st: &mut StageState,
        step: (usize, std::time::Instant),
        run: &Run,
    ) -> Result<(), StepError> {
        let prepared = self.prepare_run(st, run)?;
        let build_args = st.scope.build_args_in_use();
        let created_by = format!(
            "RUN {} # buildkit",
            run_command_string(&prepared.spec.args, &build_args)
        );
        let spec = &prepared.spec;
        let inputs = json!({
            "op": "run",
            "args": spec.args,
            "env": st.scope.env().to_strings(),
            "user": spec.user,
            "workdir": spec.workdir,
            "network": format!("{:?}", spec.network),
            "mounts": prepared.mount_keys,
        });
        self.layer_step(st, step, inputs, created_by, &mut |b, st, id| {
            let mut sink = OutputSink {
                progress: &mut *b.progress,
                id,
            };
            let result = b.host.run(&st.layers, &prepared.spec, &mut sink)?;
            if result.exit_code != 0 {
                return Err(StepError::RunFailed {
                    command: prepared.spec.args.join(" "),
                    code: result.exit_code,
                });
            }
            Ok(result.layer)
        })
    }

    fn prepare_run(&mut self, st: &StageState, run: &Run) -> Result<Prepared, StepError> {
        let scratch = Scratch::new(&self.host.state_dir())?;
        let (args, script) = command_line(run, &st.shell(), &scratch)?;
        let mut env = st.scope.env().to_strings();
        env.extend(
            self.global
                .proxy_env()
                .into_iter()
                .map(|(k, v)| format!("{k}={v}")),
        );
        let mut prepared = Prepared {
            spec: RunSpec {
                args,
                env,
                user: st.image.config.user.clone(),
                workdir: st.workdir(),
                network: match run.network {
                    Network::Default => self.opts.network,
                    Network::None => RunNetwork::None,
                    Network::Host => RunNetwork::Host,
                },
                mounts: script.into_iter().collect(),
            },
            mount_keys: Vec::new(),
            locks: Vec::new(),
            views: Vec::new(),
            scratch,
        };
        for m in &run.resolved_mounts {
            self.add_mount(st, m, &mut prepared)?;
        }
        Ok(prepared)
    }

    fn add_mount(&mut self, st: &StageState, m: &Mount, p: &mut Prepared) -> Result<(), StepError> {
        let workdir = st.workdir();
        let target =
            |t: &Option<String>| crate::paths::absolute(&workdir, t.as_deref().unwrap_or(""));
        match m.kind {
            MountType::Tmpfs => {
                let t = target(&m.target);
                p.mount_keys
                    .push(json!({"type": "tmpfs", "target": t, "size": m.size}));
                p.spec.mounts.push(RunMount::Tmpfs {
                    target: t,
                    size: m.size,
                });
            }
            MountType::Cache if m.from.is_some() => return Err(StepError::CacheFrom),
            MountType::Cache => {
                let t = target(&m.target);
                let id = m.id.clone().unwrap_or_else(|| t.clone());
                let (dir, lock) = self.cache_mount(&id, m)?;
                p.locks.extend(lock);
                p.mount_keys
                    .push(json!({"type": "cache", "target": t, "id": id, "ro": m.read_only}));
                p.spec.mounts.push(RunMount::Bind {
                    source: dir,
                    target: t,
                    read_only: m.read_only,
                });
            }
            MountType::Secret => self.secret_mount(m, p)?,
            MountType::Bind => {
                let t = target(&m.target);
                let (source, key) = self.bind_source(m, &p.scratch, &mut p.views)?;
                p.mount_keys
                    .push(json!({"type": "bind", "target": t, "source": key, "ro": m.read_only}));
                p.spec.mounts.push(RunMount::Bind {
                    source,
                    target: t,
                    read_only: m.read_only,
                });
            }
        }
        Ok(())
    }

    /// A cache mount's directory, made with its uid/gid/mode on first use;
    /// `sharing=locked` holds a lock on it while the step runs.
    fn cache_mount(
        &mut self,
        id: &str,
        m: &Mount,
    ) -> Result<(PathBuf, Option<nix::fcntl::Flock<std::fs::File>>), StepError> {
        use sha2::Digest;
        let name = hex::encode(sha2::Sha256::digest(id.as_bytes()));
        let base = self.host.state_dir().join("cachemounts");
        let dir = base.join(&name);
        let io = |path: &std::path::Path| {
            let path = path.display().to_string();
            move |source| StepError::Io { path, source }
        };
        if !dir.is_dir() {
            std::fs::create_dir_all(&base).map_err(io(&base))?;
            let tmp = base.join(format!(".{name}.{}", crate::unique()));
            std::fs::create_dir(&tmp).map_err(io(&tmp))?;
            use std::os::unix::fs::PermissionsExt;
            let mode = m.mode.unwrap_or(0o755);
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
                .map_err(io(&tmp))?;
            if nix::unistd::geteuid().is_root() {
                std::os::unix::fs::chown(&tmp, Some(m.uid.unwrap_or(0)), Some(m.gid.unwrap_or(0)))
                    .map_err(io(&tmp))?;
            }
            if std::fs::rename(&tmp, &dir).is_err() {
                let _ = std::fs::remove_dir(&tmp); // made meanwhile by another build
            }
        }
        if m.sharing != Some(Sharing::Locked) {
            return Ok((dir, None));
        }
        let lock_path = base.join(format!("{name}.lock"));
        let f = std::fs::File::create(&lock_path).map_err(io(&lock_path))?;
        let lock = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| io(&lock_path)(e.into()))?;
        Ok((dir, Some(lock)))
    }

    /// A build secret as a file (default `/run/secrets/<id>`) and/or an
    /// environment variable. Values never enter the cache key or the image.
    fn secret_mount(&mut self, m: &Mount, p: &mut Prepared) -> Result<(), StepError> {
        let id =
            m.id.clone()
                .or_else(|| {
                    m.target
                        .as_ref()
                        .and_then(|t| t.rsplit('/').next().map(str::to_string))
                })
                .unwrap_or_default();
        let Some(value) = self.opts.secrets.get(&id) else {
            if m.required {
                return Err(StepError::SecretMissing(id));
            }
            return Ok(());
        };
        let data = value.read().map_err(|source| StepError::Io {
            path: format!("secret {id}"),
            source,
        })?;
        p.mount_keys
            .push(json!({"type": "secret", "id": id, "target": m.target, "env": m.env}));
        if let Some(var) = &m.env {
            p.spec
                .env
                .push(format!("{var}={}", String::from_utf8_lossy(&data)));
            if m.target.is_none() {
                return Ok(());
            }
        }
        let target = m
            .target
            .clone()
            .unwrap_or_else(|| format!("/run/secrets/{id}"));
        let file = p.scratch.file(
            &format!("secret-{}", crate::unique()),
            &data,
            m.mode.unwrap_or(0o400),
        )?;
        if nix::unistd::geteuid().is_root() {
            let _ =
                std::os::unix::fs::chown(&file, Some(m.uid.unwrap_or(0)), Some(m.gid.unwrap_or(0)));
        }
        p.spec.mounts.push(RunMount::Bind {
            source: file,
            target,
            read_only: true,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_command_strings_like_buildkit() {
        let args: Vec<String> = ["/bin/sh", "-c", "echo $A"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(run_command_string(&args, &[]), "/bin/sh -c echo $A");
        let ba = vec![
            ("A".to_string(), "1".to_string()),
            ("B".to_string(), "".to_string()),
        ];
        assert_eq!(
            run_command_string(&args, &ba),
            "|2 A=1 B= /bin/sh -c echo $A"
        );
    }
}
