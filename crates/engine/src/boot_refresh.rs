//! Keeps a running system container's boot state current after the boot. READY=1
//! comes once; a unit that fails later (or a `systemctl reset-failed`) changes
//! systemd's `SystemState` without a word to the monitor. `ps` and `inspect` ask
//! systemd over its private bus (`sdbus`, well under a millisecond) for the
//! containers whose boot finished, and record a change. A container whose systemd
//! does not answer is not asked again for a while, so a wedged or hostile one slows
//! `ps` by at most `sdbus`'s timeout now and then. An answer is good for a few
//! seconds: asking forks a process into the container, and a host with hundreds
//! of system containers runs `ps` often (scripts polling it), so each systemd is
//! asked at most once per `FRESH_FOR` however often `ps` runs.

use crate::model::{BootState, Container, ProcessId};
use crate::sdbus::Asking;
use crate::Engine;
use std::time::{Duration, SystemTime};

/// How long a container whose systemd did not answer is left alone.
const QUIET_AFTER_FAILURE: Duration = Duration::from_secs(30);
const FAILED_STAMP: &str = "bus-unanswered";
/// How long an answer stands before the container's systemd is asked again.
const FRESH_FOR: Duration = Duration::from_secs(3);
const ASKED_STAMP: &str = "bus-asked";

/// The boot state systemd's `SystemState` means for a finished boot; None for the
/// transient states (starting, stopping, …) that READY/STOPPING already tell.
pub fn boot_state_of(system_state: &str) -> Option<BootState> {
    match system_state {
        "running" => Some(BootState::Ready),
        "degraded" | "maintenance" => Some(BootState::Degraded),
        _ => None,
    }
}

/// Asks `c`'s systemd for its state if its boot finished, and records (in the
/// store and in `c`) a change between ready and degraded.
pub fn refresh(engine: &Engine, c: &mut Container) {
    refresh_all(engine, std::slice::from_mut(c));
}

/// [`refresh`] for many containers, their systemds asked side by side.
pub fn refresh_all(engine: &Engine, list: &mut [Container]) {
    let asked: Vec<(usize, ProcessId, Asking)> = list
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let init = askable(engine, c)?;
            match Asking::start(init.pid) {
                Ok(a) => Some((i, init, a)),
                Err(_) => {
                    quiet(engine, c);
                    None
                }
            }
        })
        .collect();
    let deadline = crate::sdbus::deadline();
    for (i, init, asking) in asked {
        let answer = asking.finish(deadline);
        let c = &mut list[i];
        // The answer is the container's only if its init is still the same process.
        if !init.is_alive() {
            continue;
        }
        match answer {
            Ok(state) => record(engine, c, boot_state_of(&state)),
            Err(_) => quiet(engine, c),
        }
    }
}

/// The init to ask through, for a running system container whose boot finished
/// and whose systemd has not recently left us unanswered.
fn askable(engine: &Engine, c: &Container) -> Option<ProcessId> {
    if !c.is_running()
        || !c.spec.systemd
        || !matches!(c.state.boot, Some(BootState::Ready | BootState::Degraded))
        || crate::freezer::is_paused(&c.id) // a frozen systemd cannot answer
        || stamped_within(
            &engine.paths.run_dir(&c.id).join(FAILED_STAMP),
            QUIET_AFTER_FAILURE,
        )
        || stamped_within(&engine.paths.run_dir(&c.id).join(ASKED_STAMP), FRESH_FOR)
    {
        return None;
    }
    let init = c.state.init.filter(|p| p.is_alive())?;
    let _ = std::fs::write(engine.paths.run_dir(&c.id).join(ASKED_STAMP), b"");
    Some(init)
}

fn quiet(engine: &Engine, c: &Container) {
    let _ = std::fs::write(engine.paths.run_dir(&c.id).join(FAILED_STAMP), b"");
}

fn record(engine: &Engine, c: &mut Container, now: Option<BootState>) {
    let Some(now) = now.filter(|n| c.state.boot != Some(*n)) else {
        return;
    };
    // Only a finished boot changes here: a stop or restart meanwhile has the last word.
    let recorded = engine.update_state(&c.id, |state| {
        if matches!(state.boot, Some(BootState::Ready | BootState::Degraded)) {
            state.boot = Some(now);
        }
        state.boot
    });
    if let Ok(boot) = recorded {
        c.state.boot = boot;
    }
}

/// Whether the stamp file was written less than `window` ago.
fn stamped_within(stamp: &std::path::Path, window: Duration) -> bool {
    std::fs::metadata(stamp)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age < window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_states_map_to_boot_states() {
        assert_eq!(boot_state_of("running"), Some(BootState::Ready));
        assert_eq!(boot_state_of("degraded"), Some(BootState::Degraded));
        assert_eq!(boot_state_of("maintenance"), Some(BootState::Degraded));
        for transient in [
            "starting",
            "initializing",
            "stopping",
            "offline",
            "unknown",
            "",
        ] {
            assert_eq!(boot_state_of(transient), None, "{transient}");
        }
    }

    #[test]
    fn a_fresh_failure_stamp_keeps_quiet() {
        let dir = tempfile::tempdir().unwrap();
        let stamp = dir.path().join(FAILED_STAMP);
        assert!(!stamped_within(&stamp, QUIET_AFTER_FAILURE));
        std::fs::write(&stamp, b"").unwrap();
        assert!(stamped_within(&stamp, QUIET_AFTER_FAILURE));
        assert!(!stamped_within(&stamp, Duration::ZERO));
    }
}
