//! `logs` for the log drivers that keep no file berth reads, and `--details`.

use anyhow::{bail, Result};
use berth_engine::logs::{LogDriver, LogLine};
use berth_engine::model::Container;

/// Refuses `logs` for a container whose driver keeps nothing berth can read, saying
/// why and where its output went.
pub fn readable(c: &Container) -> Result<()> {
    match c.spec.host_config.log.driver {
        LogDriver::JsonFile => Ok(()),
        LogDriver::None => bail!(
            "container {} was created with --log-driver none: its output was not kept, so there are no logs to show; create it with --log-driver json-file (the default) to keep them",
            c.name
        ),
        LogDriver::Journald => bail!(
            "container {} logs to the systemd journal (--log-driver journald): read them with journalctl CONTAINER_ID_FULL={}",
            c.name,
            c.id
        ),
    }
}

/// docker's `logs --details`: the entry's extra attributes as `k=v,k=v` before
/// the text (after the timestamp).
pub fn with_details(l: &LogLine, timestamps: bool) -> String {
    let attrs: Vec<String> = l.attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let time = if timestamps {
        format!("{} ", l.time)
    } else {
        String::new()
    };
    format!("{time}{} {}", attrs.join(","), l.log)
}
