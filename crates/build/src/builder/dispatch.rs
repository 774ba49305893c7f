//! One instruction: expansion (the dockerfile crate's scoping), then the
//! config change and history entry each instruction makes, as buildkit's
//! `dispatch*` functions do. RUN, COPY/ADD and WORKDIR also make layers.

use super::{located, step_error, Builder, StageState};
use crate::error::{BuildError, StepError};
use crate::gofmt;
use crate::image::{Empty, Healthcheck};
use crate::paths;
use berth_dockerfile::instructions::{
    Command, CommandForm, Healthcheck as Hc, Instruction, KeyValue,
};
use berth_dockerfile::lexer::Env;
use std::time::Duration;

/// Instructions shown as steps (they run something or write files).
pub(super) fn makes_step(cmd: &Command) -> bool {
    matches!(
        cmd.instruction,
        Instruction::Run(_) | Instruction::Copy(_) | Instruction::Add(_) | Instruction::Workdir(_)
    )
}

impl Builder<'_> {
    pub(super) fn dispatch(
        &mut self,
        st: &mut StageState,
        mut cmd: Command,
    ) -> Result<(), BuildError> {
        st.scope
            .dispatch(&self.lexer, &mut cmd, &self.global)
            .map_err(|e| step_error(located(&cmd), StepError::from(e)))?;
        self.apply(st, &cmd)
            .map_err(|e| step_error(located(&cmd), e))
    }

    fn apply(&mut self, st: &mut StageState, cmd: &Command) -> Result<(), StepError> {
        match &cmd.instruction {
            Instruction::Workdir(path) => self.workdir(st, cmd, path),
            Instruction::Run(run) => self.run(st, cmd, run),
            Instruction::Copy(copy) => self.copy(st, cmd, &copy.clone().into()),
            Instruction::Add(add) => self.copy(st, cmd, &add.clone().into()),
            other => {
                if let Some(history) = metadata(st, other)? {
                    st.history(history, false, None);
                }
                Ok(())
            }
        }
    }

    /// WORKDIR: sets the directory and makes it (owned by USER), as buildkit.
    fn workdir(&mut self, st: &mut StageState, cmd: &Command, path: &str) -> Result<(), StepError> {
        let wd = paths::absolute(&st.image.config.working_dir, path);
        st.image.config.working_dir = wd.clone();
        if wd == "/" {
            st.history(format!("WORKDIR {wd}"), false, None);
            return Ok(());
        }
        let step = self.start_step(st, &display(cmd));
        let user = st.image.config.user.clone();
        let inputs = serde_json::json!({"op": "mkdir", "path": wd, "user": user});
        let result = self.layer_step(
            st,
            step,
            inputs,
            format!("WORKDIR {wd}"),
            &mut |b, st, _| {
                let snap = b.host.snapshot(&st.layers)?;
                let tree = crate::tree::write::Tree::open(snap.root())?;
                let owner = crate::users::resolve_user(snap.root(), &user)?;
                tree.mkdir_all(&paths::in_root(&wd), (owner.uid, owner.gid))?;
                drop(tree);
                Ok(snap.commit()?)
            },
        );
        if let Err(e) = &result {
            self.progress.failed(step.0, &e.to_string());
        }
        result
    }
}

/// An instruction that only changes the config: applies it and returns
/// buildkit's history text (ONBUILD writes none).
fn metadata(st: &mut StageState, instruction: &Instruction) -> Result<Option<String>, StepError> {
    let shell = st.shell();
    let config = &mut st.image.config;
    let text = match instruction {
        Instruction::Arg(decls) => {
            let shown: Vec<String> = decls
                .iter()
                .map(|d| match st.scope.env().get(&d.key) {
                    Some(v) => format!("{}={v}", d.key),
                    None => d.key.clone(),
                })
                .collect();
            format!("ARG {}", shown.join(" "))
        }
        Instruction::Env(kvs) => key_values("ENV", kvs, &mut |k, v| config.set_env(k, v)),
        Instruction::Label(kvs) => key_values("LABEL", kvs, &mut |k, v| {
            config.labels.insert(k.to_string(), v.to_string());
        }),
        Instruction::Maintainer(who) => {
            st.image.author = Some(who.clone());
            format!("MAINTAINER {who}")
        }
        Instruction::Cmd(form) => {
            let args = with_shell(form, &shell);
            config.cmd = Some(args.clone());
            config.args_escaped = true;
            st.cmd_set = true;
            format!("CMD {}", gofmt::quoted_list(&args))
        }
        Instruction::Entrypoint(form) => {
            let args = with_shell(form, &shell);
            config.entrypoint = Some(args.clone());
            if !st.cmd_set {
                config.cmd = None;
            }
            format!("ENTRYPOINT {}", gofmt::quoted_list(&args))
        }
        Instruction::Expose(ports) => {
            let ports = crate::ports::exposed(ports)?;
            config
                .exposed_ports
                .extend(ports.iter().map(|p| (p.clone(), Empty {})));
            format!("EXPOSE {}", gofmt::plain_list(&ports))
        }
        Instruction::Volume(vols) if vols.iter().any(|v| v.is_empty()) => {
            return Err(StepError::EmptyVolume)
        }
        Instruction::Volume(vols) => {
            config
                .volumes
                .extend(vols.iter().map(|v| (v.clone(), Empty {})));
            format!("VOLUME {}", gofmt::plain_list(vols))
        }
        Instruction::StopSignal(sig) => {
            config.stop_signal = sig.clone();
            format!("STOPSIGNAL {sig}")
        }
        Instruction::Shell(shell) => {
            config.shell = shell.clone();
            format!("SHELL {}", gofmt::plain_list(shell))
        }
        Instruction::User(user) => {
            config.user = user.clone();
            format!("USER {user}")
        }
        Instruction::Healthcheck(hc) => {
            let h = healthcheck(hc);
            let text = format!("HEALTHCHECK {}", healthcheck_text(&h));
            config.healthcheck = Some(h);
            text
        }
        Instruction::Onbuild(ob) => {
            config.on_build.push(ob.expression.clone());
            return Ok(None);
        }
        Instruction::Workdir(_)
        | Instruction::Run(_)
        | Instruction::Copy(_)
        | Instruction::Add(_) => {
            return Ok(None);
        }
    };
    Ok(Some(text))
}

/// ENV/LABEL: each pair set, and `KEYWORD k=v …` for the history.
fn key_values(keyword: &str, kvs: &[KeyValue], set: &mut dyn FnMut(&str, &str)) -> String {
    let mut msg = String::from(keyword);
    for kv in kvs {
        set(&kv.key, &kv.value);
        msg.push_str(&format!(" {}={}", kv.key, kv.value));
    }
    msg
}

/// A step's name as docker shows it: the instruction with its variables
/// expanded where buildkit expands them, keyword upper-cased.
pub(super) fn display(cmd: &Command) -> String {
    let code = cmd.code.trim();
    match code.split_once(char::is_whitespace) {
        Some((kw, rest)) => format!("{} {}", kw.to_ascii_uppercase(), rest.trim_start()),
        None => code.to_ascii_uppercase(),
    }
}

/// Exec form as is; shell form through the stage's SHELL.
pub(super) fn with_shell(form: &CommandForm, shell: &[String]) -> Vec<String> {
    match form {
        CommandForm::Exec(args) => args.clone(),
        CommandForm::Shell(s) => shell.iter().cloned().chain([s.clone()]).collect(),
    }
}

fn nanos(d: Option<Duration>) -> u64 {
    d.map_or(0, |d| d.as_nanos() as u64)
}

fn healthcheck(hc: &Hc) -> Healthcheck {
    match hc {
        Hc::None => Healthcheck {
            test: vec!["NONE".into()],
            ..Healthcheck::default()
        },
        Hc::Cmd(c) => Healthcheck {
            test: c.test(),
            interval: nanos(c.interval),
            timeout: nanos(c.timeout),
            start_period: nanos(c.start_period),
            start_interval: nanos(c.start_interval),
            retries: c.retries as u64,
        },
    }
}

/// `fmt.Sprintf("%+v", HealthcheckConfig)` as buildkit writes it.
fn healthcheck_text(h: &Healthcheck) -> String {
    let d = |n: u64| gofmt::duration(Duration::from_nanos(n));
    format!(
        "{{Test:{} Interval:{} Timeout:{} StartPeriod:{} StartInterval:{} Retries:{}}}",
        gofmt::plain_list(&h.test),
        d(h.interval),
        d(h.timeout),
        d(h.start_period),
        d(h.start_interval),
        h.retries
    )
}
