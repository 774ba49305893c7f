//! Healthchecks (`--health-*`, the image's HEALTHCHECK), docker's way: the
//! container's monitor runs the check at each interval as an exec in the container
//! (in a forked child, so the monitor's loop never waits on the container and stays
//! small), and the child records the result: status `starting`, `healthy` or
//! `unhealthy`, the failing streak and the last five results, shown by `inspect`
//! (`State.Health`) and `ps`.

use crate::model::ContainerState;
use crate::{Engine, EngineError};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// docker's defaults for the durations left at 0, and the retries.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: u32 = 3;
/// Results kept, and output kept of each (docker's).
const MAX_LOG: usize = 5;
const MAX_OUTPUT: usize = 4096;

/// docker's `HealthConfig`: `Test` is `["CMD", arg…]` or `["CMD-SHELL", command]`
/// (`["NONE"]` switches an image's check off and never gets here); durations in
/// nanoseconds, 0 = the default.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    #[serde(default)]
    pub test: Vec<String>,
    #[serde(default)]
    pub interval: u64,
    #[serde(default)]
    pub timeout: u64,
    #[serde(default)]
    pub start_period: u64,
    #[serde(default)]
    pub start_interval: u64,
    #[serde(default)]
    pub retries: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HealthError {
    #[error("--no-healthcheck conflicts with --health-* options: drop one of them")]
    Conflict,
    #[error("invalid {flag} {value:?}: {why}")]
    Value {
        flag: &'static str,
        value: String,
        why: String,
    },
}

fn ns(d: u64, default: Duration) -> Duration {
    match d {
        0 => default,
        n => Duration::from_nanos(n),
    }
}

impl HealthConfig {
    pub fn interval(&self) -> Duration {
        ns(self.interval, DEFAULT_INTERVAL)
    }
    pub fn timeout(&self) -> Duration {
        ns(self.timeout, DEFAULT_TIMEOUT)
    }
    pub fn start_period(&self) -> Duration {
        Duration::from_nanos(self.start_period)
    }
    pub fn retries(&self) -> u32 {
        match self.retries {
            0 => DEFAULT_RETRIES,
            n => n,
        }
    }

    /// The wait before the next check, `since_start` after the container started:
    /// the start interval during the start period, the interval after it.
    pub fn next_wait(&self, since_start: Duration) -> Duration {
        if since_start < self.start_period() {
            return ns(self.start_interval, DEFAULT_START_INTERVAL);
        }
        self.interval()
    }

    /// The command to exec, or `None` for a test that runs nothing.
    pub fn argv(&self) -> Option<Vec<String>> {
        match self.test.split_first()? {
            (kind, rest) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
            (kind, [cmd]) if kind == "CMD-SHELL" => {
                Some(vec!["/bin/sh".into(), "-c".into(), cmd.clone()])
            }
            _ => None,
        }
    }

    /// The caller's options over the image's, field by field, as docker merges
    /// them; `["NONE"]` (`--no-healthcheck`, `HEALTHCHECK NONE`) means none.
    pub fn merged(user: Option<&HealthConfig>, image: Option<&HealthConfig>) -> Option<Self> {
        let pick = |u: u64, i: u64| if u != 0 { u } else { i };
        let merged = match (user, image) {
            (None, i) => i.cloned()?,
            (Some(u), None) => u.clone(),
            (Some(u), Some(i)) => HealthConfig {
                test: if u.test.is_empty() {
                    i.test.clone()
                } else {
                    u.test.clone()
                },
                interval: pick(u.interval, i.interval),
                timeout: pick(u.timeout, i.timeout),
                start_period: pick(u.start_period, i.start_period),
                start_interval: pick(u.start_interval, i.start_interval),
                retries: if u.retries != 0 { u.retries } else { i.retries },
            },
        };
        merged.argv().map(|_| merged)
    }

    /// An image config's `config.Healthcheck` (oci-spec's `Config` drops docker's
    /// extensions, so the blob is read as plain JSON).
    pub fn from_image_config(blob: &[u8]) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_slice(blob).ok()?;
        serde_json::from_value(v.get("config")?.get("Healthcheck")?.clone()).ok()
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    #[default]
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// One check, as docker's `HealthcheckResult`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct HealthResult {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

/// `State.Health` as docker shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: HealthStatus,
    pub failing_streak: u32,
    pub log: Vec<HealthResult>,
}

impl Health {
    /// Adds a result; failures in the start period do not count until a check
    /// succeeded (docker's rule).
    pub fn record(&mut self, result: HealthResult, in_start_period: bool, retries: u32) {
        if result.exit_code == 0 {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else if !(in_start_period && self.status == HealthStatus::Starting) {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = HealthStatus::Unhealthy;
            }
        }
        self.log.push(result);
        let excess = self.log.len().saturating_sub(MAX_LOG);
        self.log.drain(..excess);
    }
}

/// At each start: a container with a check begins `starting`, without none.
pub fn reset(st: &mut ContainerState, config: Option<&HealthConfig>) {
    st.health = config.map(|_| Health::default());
}

/// Runs one check in the container and records it. Called in a child the monitor
/// forked; `in_start_period` as the monitor counts it.
pub fn check_and_record(id: &str, in_start_period: bool) -> Result<(), EngineError> {
    let engine = Engine::open()?;
    let c = engine.container(id)?;
    let Some(config) = c.spec.healthcheck.clone() else {
        return Ok(());
    };
    let Some(argv) = config.argv() else {
        return Ok(());
    };
    if !c.is_running() {
        return Ok(());
    }
    let start = crate::now();
    let timeout = config.timeout();
    let (exit_code, output) = match crate::exec::exec_probe(&engine, &c, &argv, timeout, MAX_OUTPUT)
    {
        Ok(Some(r)) => r,
        Ok(None) => (
            -1,
            format!("Health check exceeded timeout ({}s)", timeout.as_secs_f64()),
        ),
        Err(e) => (-1, e.to_string()),
    };
    let result = HealthResult {
        start,
        end: crate::now(),
        exit_code,
        output,
    };
    engine.update_state(id, |st| {
        // A check that ends after its container stopped tells nothing.
        if st.status == crate::model::Status::Running {
            let h = st.health.get_or_insert_with(Health::default);
            h.record(result, in_start_period, config.retries());
        }
    })
}

/// The monitor's side: when the next check is due, and the child running the
/// current one. Checks never overlap: the next interval starts when one ends.
pub struct Probe {
    id: String,
    config: HealthConfig,
    started: Instant,
    next: Instant,
    running: Option<(i32, Instant)>,
    /// A check ended since the monitor last asked: the pages forking and reaping
    /// touched are given back before the monitor sleeps for an interval.
    finished: bool,
}

impl Probe {
    pub fn new(id: &str, config: HealthConfig) -> Self {
        let now = Instant::now();
        Probe {
            id: id.to_string(),
            next: now + config.next_wait(Duration::ZERO),
            config,
            started: now,
            running: None,
            finished: false,
        }
    }

    /// How long the monitor may sleep before this needs it.
    pub fn wait(&self) -> Duration {
        let now = Instant::now();
        match self.running {
            Some((_, deadline)) => deadline.saturating_duration_since(now),
            None => self.next.saturating_duration_since(now),
        }
    }

    /// Starts a check that is due; kills one that outlived its timeout by far (the
    /// child kills the exec at the timeout itself: this is for a child stuck in
    /// the runtime).
    pub fn tick(&mut self) {
        let now = Instant::now();
        match self.running {
            Some((pid, deadline)) if now >= deadline => {
                // SAFETY: kill(2) on our own child, not reaped yet.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            Some(_) => {}
            None if now >= self.next => {
                let in_start_period = now - self.started < self.config.start_period();
                if let Some(pid) = fork_check(&self.id, in_start_period) {
                    let grace = self.config.timeout() + Duration::from_secs(30);
                    self.running = Some((pid, now + grace));
                } else {
                    self.next = now + self.config.interval();
                }
            }
            None => {}
        }
    }

    /// Whether a check ended since the last call.
    pub fn take_finished(&mut self) -> bool {
        std::mem::take(&mut self.finished)
    }

    /// The monitor reaped `pid`: if it was the check, the next one is scheduled.
    pub fn reaped(&mut self, pid: i32) {
        if self.running.is_some_and(|(p, _)| p == pid) {
            self.running = None;
            self.finished = true;
            self.next = Instant::now() + self.config.next_wait(self.started.elapsed());
        }
    }
}

/// Forks the child that runs one check and records it; its pid.
fn fork_check(id: &str, in_start_period: bool) -> Option<i32> {
    // SAFETY: the monitor is single-threaded; the child opens its own database
    // connection, runs the runtime (which forks without exec by design) and
    // _exits without unwinding the monitor.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            let code = match check_and_record(id, in_start_period) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("berth monitor {id}: healthcheck: {e}");
                    1
                }
            };
            // SAFETY: leave the forked child without running the monitor's destructors.
            unsafe { libc::_exit(code) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => Some(child.as_raw()),
        Err(_) => None,
    }
}

/// `--health-*` flags into a config; `None` when none was given. Durations in
/// Go's syntax, already in nanoseconds; `cmd` is a shell command.
pub fn from_flags(
    no_healthcheck: bool,
    cmd: Option<&str>,
    durations: [(&'static str, Option<i64>); 4],
    retries: Option<i64>,
) -> Result<Option<HealthConfig>, HealthError> {
    let any = cmd.is_some() || durations.iter().any(|d| d.1.is_some()) || retries.is_some();
    if no_healthcheck {
        return match any {
            true => Err(HealthError::Conflict),
            false => Ok(Some(HealthConfig {
                test: vec!["NONE".into()],
                ..Default::default()
            })),
        };
    }
    if !any {
        return Ok(None);
    }
    let mut d = [0u64; 4];
    for (slot, (flag, v)) in d.iter_mut().zip(durations) {
        let v = v.unwrap_or(0);
        if v < 0 || (v > 0 && v < 1_000_000) {
            return Err(HealthError::Value {
                flag,
                value: format!("{}ns", v),
                why: "give 0 (the default) or at least 1ms".into(),
            });
        }
        *slot = v as u64;
    }
    let r = retries.unwrap_or(0);
    let retries = u32::try_from(r).map_err(|_| HealthError::Value {
        flag: "--health-retries",
        value: r.to_string(),
        why: "give a count ≥ 0".into(),
    })?;
    Ok(Some(HealthConfig {
        test: cmd
            .map(|c| vec!["CMD-SHELL".into(), c.into()])
            .unwrap_or_default(),
        interval: d[0],
        timeout: d[1],
        start_period: d[2],
        start_interval: d[3],
        retries,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(code: i32) -> HealthResult {
        HealthResult {
            start: "s".into(),
            end: "e".into(),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn turns_unhealthy_after_retries_failures_and_keeps_five() {
        let mut h = Health::default();
        h.record(result(0), false, 3);
        assert_eq!(h.status, HealthStatus::Healthy);
        h.record(result(1), false, 3);
        h.record(result(1), false, 3);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Healthy, 2));
        h.record(result(1), false, 3);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Unhealthy, 3));
        for _ in 0..4 {
            h.record(result(1), false, 3);
        }
        assert_eq!(h.log.len(), 5);
        h.record(result(0), false, 3);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Healthy, 0));
    }

    #[test]
    fn start_period_failures_do_not_count_until_healthy() {
        let mut h = Health::default();
        h.record(result(1), true, 1);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
        h.record(result(0), true, 1);
        h.record(result(1), true, 1);
        assert_eq!(h.status, HealthStatus::Unhealthy, "counted once healthy");
    }

    #[test]
    fn user_flags_merge_over_the_image() {
        let image = HealthConfig {
            test: vec!["CMD".into(), "/check".into()],
            interval: 5_000_000_000,
            retries: 2,
            ..Default::default()
        };
        let user = from_flags(
            false,
            None,
            [
                ("--health-interval", Some(1_000_000_000)),
                ("", None),
                ("", None),
                ("", None),
            ],
            None,
        )
        .unwrap()
        .unwrap();
        let m = HealthConfig::merged(Some(&user), Some(&image)).unwrap();
        assert_eq!(m.test, image.test);
        assert_eq!((m.interval, m.retries), (1_000_000_000, 2));
        let none = from_flags(true, None, [("", None); 4], None).unwrap();
        assert_eq!(HealthConfig::merged(none.as_ref(), Some(&image)), None);
        assert_eq!(
            from_flags(true, Some("true"), [("", None); 4], None),
            Err(HealthError::Conflict)
        );
        let shell = from_flags(false, Some("exit 1"), [("", None); 4], None).unwrap();
        assert_eq!(
            HealthConfig::merged(shell.as_ref(), None)
                .unwrap()
                .argv()
                .unwrap(),
            ["/bin/sh", "-c", "exit 1"]
        );
    }

    #[test]
    fn image_healthcheck_is_read_from_the_config_blob() {
        let blob = br#"{"config":{"Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":30000000000,"Retries":3}}}"#;
        let h = HealthConfig::from_image_config(blob).unwrap();
        assert_eq!(h.argv().unwrap(), ["/bin/sh", "-c", "true"]);
        assert_eq!(h.interval(), Duration::from_secs(30));
        assert_eq!(HealthConfig::from_image_config(br#"{"config":{}}"#), None);
    }

    #[test]
    fn start_interval_applies_in_the_start_period() {
        let h = HealthConfig {
            start_period: 10_000_000_000,
            interval: 60_000_000_000,
            ..Default::default()
        };
        assert_eq!(h.next_wait(Duration::from_secs(1)), Duration::from_secs(5));
        assert_eq!(
            h.next_wait(Duration::from_secs(11)),
            Duration::from_secs(60)
        );
    }
}
