//! Restart policies (`--restart=no|on-failure[:N]|always|unless-stopped`) without a
//! daemon: the container's own monitor decides when its init exits. It tears the
//! container down the usual way (one cleanup path, nothing left between attempts
//! but the bridge, kept for the next run, without lingering),
//! waits docker's back-off, takes the container's lock and executes itself again as
//! a fresh `berth monitor`, which sets the container up from scratch. Same process
//! (pid and start time), so the state keeps naming a live monitor all along: `rm`,
//! `start` and `stop` see a container that is about to come back, not an orphan.
//!
//! A user's `stop`, `rm -f` (and `kill` with SIGKILL or the stop signal, as
//! docker's `ExitOnNext`) marks the container so that no restart follows; a user's
//! `start` clears the marks and the count, as docker's `ResetRestartManager`.

use crate::model::ContainerState;
use crate::{Engine, EngineError};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyName {
    #[default]
    No,
    OnFailure,
    Always,
    UnlessStopped,
}

impl PolicyName {
    /// docker's spelling (`HostConfig.RestartPolicy.Name`).
    pub fn as_str(&self) -> &'static str {
        match self {
            PolicyName::No => "no",
            PolicyName::OnFailure => "on-failure",
            PolicyName::Always => "always",
            PolicyName::UnlessStopped => "unless-stopped",
        }
    }
}

/// `--restart` as docker's `RestartPolicy {Name, MaximumRetryCount}`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct RestartPolicy {
    pub name: PolicyName,
    /// on-failure only; 0 = no limit.
    #[serde(default)]
    pub max_retries: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RestartError {
    #[error(
        "invalid restart policy {0:?}: use no, on-failure[:MAX-RETRIES], always or unless-stopped"
    )]
    Unknown(String),
    #[error("invalid restart policy {0:?}: the maximum retry count must be a whole number ≥ 0, as in on-failure:3")]
    BadCount(String),
    #[error(
        "invalid restart policy {0:?}: a maximum retry count can only be used with on-failure"
    )]
    CountNotAllowed(String),
    #[error("conflicting options: --restart and --rm (a container removed when it exits cannot be restarted); drop one of them")]
    WithAutoRemove,
}

impl std::str::FromStr for RestartPolicy {
    type Err = RestartError;
    fn from_str(s: &str) -> Result<Self, RestartError> {
        let (name, count) = match s.split_once(':') {
            Some((n, c)) => (n, Some(c)),
            None => (s, None),
        };
        let name = match name {
            "" | "no" => PolicyName::No,
            "on-failure" => PolicyName::OnFailure,
            "always" => PolicyName::Always,
            "unless-stopped" => PolicyName::UnlessStopped,
            _ => return Err(RestartError::Unknown(s.into())),
        };
        let max_retries = match (count, name) {
            (None, _) => 0,
            (Some(c), PolicyName::OnFailure) => {
                c.parse().map_err(|_| RestartError::BadCount(s.into()))?
            }
            (Some(_), _) => return Err(RestartError::CountNotAllowed(s.into())),
        };
        Ok(RestartPolicy { name, max_retries })
    }
}

impl RestartPolicy {
    /// Whether the monitor starts the container again after its init exited with
    /// `code`, `restarts` restarts so far.
    pub fn restarts_after(&self, code: i32, restarts: u32) -> bool {
        match self.name {
            PolicyName::No => false,
            PolicyName::Always | PolicyName::UnlessStopped => true,
            PolicyName::OnFailure => {
                code != 0 && (self.max_retries == 0 || restarts < self.max_retries)
            }
        }
    }

    /// Whether `berth system boot` starts it: `always` whatever happened before
    /// (docker starts those with its daemon), `unless-stopped` unless a user
    /// stopped it; never one that was never started. on-failure containers stay
    /// down, as docker documents.
    pub fn starts_at_boot(&self, state: &ContainerState) -> bool {
        let started_before = state.started_at.is_some();
        match self.name {
            PolicyName::Always => started_before,
            PolicyName::UnlessStopped => started_before && !state.manually_stopped,
            PolicyName::No | PolicyName::OnFailure => false,
        }
    }
}

/// docker's back-off: 100 ms before the first restart, doubled each time, at most a
/// minute, and back to 100 ms once the container had run for 10 s.
pub fn next_delay(previous: Duration, ran_for: Duration) -> Duration {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(60);
    if previous.is_zero() || ran_for >= Duration::from_secs(10) {
        return FIRST;
    }
    (previous * 2).min(MAX)
}

/// Decided in the same transaction that drops the network from the state: whether
/// the monitor restarts the container, and after which delay. Records the restart
/// (count, delay, `restart_pending`) or the monitor's end.
pub fn plan(
    policy: &RestartPolicy,
    st: &mut ContainerState,
    code: i32,
    ran_for: Duration,
    restart_command: bool,
) -> Option<Duration> {
    let stopped = st.manually_stopped || st.exit_on_next || restart_command;
    if stopped || !policy.restarts_after(code, st.restart_count) {
        st.monitor = None;
        st.restart_pending = false;
        return None;
    }
    let delay = next_delay(Duration::from_millis(st.restart_delay_ms), ran_for);
    st.restart_delay_ms = delay.as_millis() as u64;
    st.restart_pending = true;
    Some(delay)
}

/// A user's `start`: no marks, no count (docker resets both).
pub fn reset_for_user_start(st: &mut ContainerState) {
    st.manually_stopped = false;
    st.exit_on_next = false;
    st.restart_count = 0;
    st.restart_delay_ms = 0;
    st.restart_pending = false;
}

/// Waits out the delay (given up at once when a user stops or removes the
/// container meanwhile), takes the container's lock and becomes a new monitor
/// for it. Returns only when no restart happens.
pub fn wait_and_restart(id: &str, delay: Duration) {
    let deadline = std::time::Instant::now() + delay;
    let Ok(engine) = Engine::open() else { return };
    let dir = engine.paths.container_dir(id);
    loop {
        let held = match crate::lock::try_lock(id, &dir) {
            Ok(h) => h,
            Err(_) => return give_up(&engine, id), // removed meanwhile
        };
        let state = match engine.container(id) {
            Ok(c) => c.state,
            Err(_) => return,
        };
        if state.manually_stopped || state.exit_on_next {
            return give_up(&engine, id);
        }
        if let (Some(lock), true) = (held, std::time::Instant::now() >= deadline) {
            let count = engine.update_state(id, |st| {
                st.restart_count += 1;
                st.restart_count
            });
            if count.is_err() {
                return give_up(&engine, id);
            }
            drop(engine); // a database connection does not cross exec
            let err = exec_monitor(id, &lock);
            eprintln!("berth monitor {id}: restarting: {err}");
            if let Ok(engine) = Engine::open() {
                give_up(&engine, id);
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// No restart after all: the monitor ends as it would have without a policy,
/// removing the bridges it kept for the restart if they are idle now.
fn give_up(engine: &Engine, id: &str) {
    let c = engine.container(id);
    let _ = engine.update_state(id, |st| {
        st.restart_pending = false;
        st.monitor = None;
    });
    if let Ok(c) = c {
        crate::networking::disconnect(engine, &c);
    }
}

/// Replaces this process with `berth monitor <id>`, handing it the lock as `start`
/// does. Returns only on failure.
fn exec_monitor(id: &str, lock: &crate::lock::ContainerLock) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    let fd = lock.raw_fd();
    // SAFETY: fcntl on the descriptor we hold; the new monitor takes it over.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
    }
    // The same argv[0] as the first monitor: tools that find monitors by their
    // command line (`berth monitor ID`) still do.
    let arg0 = std::env::args_os().next().unwrap_or_else(|| "berth".into());
    std::process::Command::new("/proc/self/exe")
        .arg0(arg0)
        .arg("monitor")
        .arg(id)
        // The first start's sync pipe is closed: nobody waits for reports now.
        .env_remove(crate::launch::SYNC_FD_ENV)
        .env_remove(crate::launch::GO_FD_ENV)
        .env(crate::lock::LOCK_FD_ENV, fd.to_string())
        .exec()
}

/// Marks the container so that its coming exit is not followed by a restart:
/// `stop`/`rm -f` (`manually_stopped`, which `unless-stopped` also remembers
/// across boots) or `kill` (only this exit, as docker's `ExitOnNext`).
pub fn mark_stopped_by_user(engine: &Engine, id: &str, manual: bool) -> Result<(), EngineError> {
    engine.update_state(id, |st| match manual {
        true => st.manually_stopped = true,
        false => st.exit_on_next = true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(s: &str) -> RestartPolicy {
        s.parse().unwrap()
    }

    #[test]
    fn parses_docker_spellings() {
        assert_eq!(policy("no"), RestartPolicy::default());
        assert_eq!(
            policy("on-failure:3"),
            RestartPolicy {
                name: PolicyName::OnFailure,
                max_retries: 3
            }
        );
        assert_eq!(policy("on-failure").max_retries, 0);
        assert_eq!(policy("always").name, PolicyName::Always);
        assert_eq!(policy("unless-stopped").name, PolicyName::UnlessStopped);
        for (bad, err) in [
            ("sometimes", RestartError::Unknown("sometimes".into())),
            (
                "on-failure:-1",
                RestartError::BadCount("on-failure:-1".into()),
            ),
            (
                "on-failure:x",
                RestartError::BadCount("on-failure:x".into()),
            ),
            ("always:3", RestartError::CountNotAllowed("always:3".into())),
        ] {
            assert_eq!(bad.parse::<RestartPolicy>(), Err(err), "{bad}");
        }
    }

    #[test]
    fn on_failure_counts_and_ignores_success() {
        let p = policy("on-failure:3");
        assert!(p.restarts_after(1, 0));
        assert!(p.restarts_after(1, 2));
        assert!(
            !p.restarts_after(1, 3),
            "three restarts, then it stays down"
        );
        assert!(!p.restarts_after(0, 0), "a clean exit is no failure");
        assert!(policy("on-failure").restarts_after(1, 1000), "no limit");
        assert!(policy("always").restarts_after(0, 1000));
        assert!(!policy("no").restarts_after(1, 0));
    }

    #[test]
    fn back_off_doubles_caps_and_resets() {
        let ms = Duration::from_millis;
        let short = Duration::from_secs(1);
        assert_eq!(next_delay(Duration::ZERO, short), ms(100));
        assert_eq!(next_delay(ms(100), short), ms(200));
        assert_eq!(next_delay(ms(400), short), ms(800));
        assert_eq!(
            next_delay(Duration::from_secs(40), short),
            Duration::from_secs(60)
        );
        assert_eq!(
            next_delay(Duration::from_secs(60), short),
            Duration::from_secs(60)
        );
        assert_eq!(next_delay(ms(6400), Duration::from_secs(10)), ms(100));
    }

    #[test]
    fn a_user_stop_or_kill_ends_the_restarts() {
        let p = policy("always");
        let mut st = ContainerState::default();
        let second = Duration::from_secs(1);
        assert_eq!(
            plan(&p, &mut st, 0, second, false),
            Some(Duration::from_millis(100))
        );
        assert!(st.restart_pending);
        assert_eq!(
            plan(&p, &mut st, 0, second, false),
            Some(Duration::from_millis(200))
        );
        st.exit_on_next = true;
        assert_eq!(plan(&p, &mut st, 137, second, false), None);
        assert!(!st.restart_pending);
        let mut st = ContainerState {
            manually_stopped: true,
            ..Default::default()
        };
        assert_eq!(plan(&p, &mut st, 0, second, false), None);
        let mut st = ContainerState::default();
        assert_eq!(
            plan(&p, &mut st, 0, second, true),
            None,
            "berth restart starts it itself"
        );
    }

    #[test]
    fn boot_starts_always_and_unless_stopped_not_stopped_by_hand() {
        let ran = ContainerState {
            started_at: Some("2026-01-01T00:00:00Z".into()),
            ..Default::default()
        };
        let stopped = ContainerState {
            manually_stopped: true,
            ..ran.clone()
        };
        assert!(policy("always").starts_at_boot(&ran));
        assert!(policy("always").starts_at_boot(&stopped));
        assert!(policy("unless-stopped").starts_at_boot(&ran));
        assert!(!policy("unless-stopped").starts_at_boot(&stopped));
        assert!(!policy("on-failure").starts_at_boot(&ran));
        assert!(
            !policy("always").starts_at_boot(&ContainerState::default()),
            "never started"
        );
    }
}
