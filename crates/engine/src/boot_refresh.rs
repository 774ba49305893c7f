//! Keeps a running system container's boot state current after the boot. READY=1
//! comes once; a unit that fails later (or a `systemctl reset-failed`) changes
//! systemd's `SystemState` without a word to the monitor. `ps` and `inspect` ask
//! systemd over its private bus (`sdbus`, well under a millisecond) for the
//! containers whose boot finished, and record a change. A container whose systemd
//! does not answer is not asked again for a while, so a wedged or hostile one slows
//! `ps` by at most `sdbus`'s timeout now and then.

use crate::model::{BootState, Container};
use crate::Engine;
use std::time::{Duration, SystemTime};

/// How long a container whose systemd did not answer is left alone.
const QUIET_AFTER_FAILURE: Duration = Duration::from_secs(30);
const FAILED_STAMP: &str = "bus-unanswered";

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
    if !c.is_running()
        || !c.spec.systemd
        || !matches!(c.state.boot, Some(BootState::Ready | BootState::Degraded))
    {
        return;
    }
    let Some(init) = c.state.init.filter(|p| p.is_alive()) else {
        return;
    };
    let stamp = engine.paths.run_dir(&c.id).join(FAILED_STAMP);
    if recently_failed(&stamp) {
        return;
    }
    let asked = crate::sdbus::system_state(init.pid);
    // The answer is the container's only if its init is still the same process.
    if !init.is_alive() {
        return;
    }
    let Some(now) = (match asked {
        Ok(state) => boot_state_of(&state),
        Err(_) => {
            let _ = std::fs::write(&stamp, b"");
            None
        }
    }) else {
        return;
    };
    if c.state.boot == Some(now) {
        return;
    }
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

fn recently_failed(stamp: &std::path::Path) -> bool {
    std::fs::metadata(stamp)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age < QUIET_AFTER_FAILURE)
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
        assert!(!recently_failed(&stamp));
        std::fs::write(&stamp, b"").unwrap();
        assert!(recently_failed(&stamp));
    }
}
