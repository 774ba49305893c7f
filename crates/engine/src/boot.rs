//! Containers back after a host reboot, without a daemon: `berth system boot`
//! starts every container whose restart policy asks for it (`always`, and
//! `unless-stopped` unless a user stopped it: `restart::RestartPolicy::starts_at_boot`),
//! and `berth system install-boot-unit` writes and enables one systemd unit that
//! runs it at boot, as podman's `podman-restart.service` runs `podman start`.
//!
//! Boot is idempotent: a container that runs already is left alone, so running it
//! twice (or by hand after the unit did) starts nothing twice.

use crate::model::Container;
use crate::{Engine, EngineError};
use std::path::{Path, PathBuf};

/// The unit's name and where it is written.
pub const UNIT_NAME: &str = "berth-boot.service";
pub const UNIT_DIR: &str = "/etc/systemd/system";

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error(
        "this host does not run systemd as its init (no /run/systemd/system; PID 1 is {0:?}), \
         so there is no unit to install: run `berth system boot` from your init's boot \
         scripts instead (for example an @reboot cron job or /etc/rc.local)"
    )]
    NoSystemd(String),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`systemctl {args}` failed: {why}")]
    Systemctl { args: String, why: String },
}

/// What boot did to one container.
#[derive(Debug)]
pub enum BootOutcome {
    Started(Container),
    Failed(Container, EngineError),
}

/// Starts the containers the restart policies bring back, in creation order.
pub fn boot(engine: &Engine) -> Result<Vec<BootOutcome>, EngineError> {
    let mut all = engine.list()?;
    all.sort_by(|a, b| a.created.cmp(&b.created));
    let mut out = Vec::new();
    for c in all {
        if c.is_running() || !c.spec.restart.starts_at_boot(&c.state) {
            continue;
        }
        out.push(match crate::usecase::start(engine, &c) {
            Ok(()) => BootOutcome::Started(c),
            Err(e) => BootOutcome::Failed(c, e),
        });
    }
    Ok(out)
}

/// The unit that runs `exe system boot` once the network is up, with the state
/// directories this berth uses when they are not the defaults.
pub fn unit_text(exe: &Path, env: &[(&str, String)]) -> String {
    let env: String = env
        .iter()
        .map(|(k, v)| format!("Environment=\"{k}={v}\"\n"))
        .collect();
    format!(
        "# Written by `berth system install-boot-unit`.\n\
         [Unit]\n\
         Description=berth: start containers with restart policy always or unless-stopped\n\
         Wants=network-online.target\n\
         After=network-online.target local-fs.target\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         RemainAfterExit=yes\n\
         {env}\
         ExecStart={exe} system boot\n\
         # The containers' monitors outlive the boot command: stopping this unit must\n\
         # not kill them (their containers stop with the host, and come back at boot).\n\
         KillMode=process\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        exe = exe.display(),
    )
}

/// systemd is the init when it made /run/systemd/system (sd_booted(3)'s test).
pub fn systemd_is_init() -> Result<(), BootError> {
    if Path::new("/run/systemd/system").is_dir() {
        return Ok(());
    }
    let comm = std::fs::read_to_string("/proc/1/comm").unwrap_or_default();
    Err(BootError::NoSystemd(comm.trim().to_string()))
}

/// Writes the unit into `UNIT_DIR`, reloads systemd and enables it. Returns the
/// unit's path.
pub fn install_unit(engine: &Engine) -> Result<PathBuf, BootError> {
    systemd_is_init()?;
    let exe = std::env::current_exe().map_err(|source| BootError::Write {
        path: "/proc/self/exe".into(),
        source,
    })?;
    let env = [
        ("BERTH_ROOT", engine.paths.root.display().to_string()),
        ("BERTH_RUNROOT", engine.paths.runroot.display().to_string()),
    ];
    let path = Path::new(UNIT_DIR).join(UNIT_NAME);
    std::fs::write(&path, unit_text(&exe, &env)).map_err(|source| BootError::Write {
        path: path.clone(),
        source,
    })?;
    systemctl(&["daemon-reload"])?;
    systemctl(&["enable", UNIT_NAME])?;
    Ok(path)
}

fn systemctl(args: &[&str]) -> Result<(), BootError> {
    let fail = |why: String| BootError::Systemctl {
        args: args.join(" "),
        why,
    };
    let out = std::process::Command::new("systemctl")
        .args(args)
        .output()
        .map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_runs_boot_with_the_state_directories() {
        let text = unit_text(
            Path::new("/usr/local/bin/berth"),
            &[("BERTH_ROOT", "/srv/berth".into())],
        );
        assert!(text.contains("ExecStart=/usr/local/bin/berth system boot\n"));
        assert!(text.contains("Environment=\"BERTH_ROOT=/srv/berth\"\n"));
        assert!(text.contains("Type=oneshot\n"));
        assert!(text.contains("KillMode=process\n"));
        assert!(text.contains("WantedBy=multi-user.target\n"));
    }
}
