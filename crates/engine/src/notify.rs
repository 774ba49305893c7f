//! The monitor's sd_notify socket: systemd inside the container sends READY=1,
//! STOPPING=1 and STATUS=… here; the monitor records them as the boot state that
//! `run --wait=ready`, `ps`, `inspect` and `exec` read.

use crate::model::BootState;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

pub struct NotifySocket {
    pub socket: UnixDatagram,
}

/// What one datagram changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct NotifyUpdate {
    pub boot: Option<BootState>,
    pub status: Option<String>,
}

impl NotifySocket {
    pub fn bind(path: &Path) -> std::io::Result<Self> {
        let _ = std::fs::remove_file(path);
        let socket = UnixDatagram::bind(path)?;
        socket.set_nonblocking(true)?;
        Ok(NotifySocket { socket })
    }

    /// Reads every queued datagram; returns the combined update.
    pub fn drain(&self) -> NotifyUpdate {
        let mut update = NotifyUpdate::default();
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.socket.recv(&mut buf) {
            let msg = parse(&String::from_utf8_lossy(&buf[..n]));
            update.boot = msg.boot.or(update.boot);
            update.status = msg.status.or(update.status);
        }
        update
    }
}

/// Parses one sd_notify message (newline-separated KEY=VALUE assignments).
pub fn parse(msg: &str) -> NotifyUpdate {
    let mut update = NotifyUpdate::default();
    for line in msg.lines() {
        match line.split_once('=') {
            Some(("READY", "1")) => update.boot = Some(BootState::Ready),
            Some(("STOPPING", "1")) => update.boot = Some(BootState::Stopping),
            Some(("RELOADING", "1")) => update.boot = Some(BootState::Starting),
            Some(("STATUS", s)) => update.status = Some(s.to_string()),
            _ => {}
        }
    }
    update
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sd_notify() {
        assert_eq!(
            parse("READY=1\nSTATUS=Startup finished in 1.2s."),
            NotifyUpdate {
                boot: Some(BootState::Ready),
                status: Some("Startup finished in 1.2s.".into())
            }
        );
        assert_eq!(parse("STOPPING=1").boot, Some(BootState::Stopping));
        assert_eq!(parse("WATCHDOG=1"), NotifyUpdate::default());
    }

    #[test]
    fn socket_round_trip() {
        let dir = std::env::temp_dir().join(format!("berth-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("n.sock");
        let s = NotifySocket::bind(&path).unwrap();
        let client = UnixDatagram::unbound().unwrap();
        client.send_to(b"STATUS=booting", &path).unwrap();
        client.send_to(b"READY=1", &path).unwrap();
        let u = s.drain();
        assert_eq!(u.boot, Some(BootState::Ready));
        assert_eq!(u.status.as_deref(), Some("booting"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
