//! Waiting for something a container serves, each with a deadline: an HTTP page,
//! an ssh login. Only "eventually" is asserted, never how soon.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::fixtures::Scratch;

/// `GET /index.html` over HTTP/1.0; the whole answer, headers included.
pub fn http_get(addr: &str, timeout: Duration) -> std::io::Result<String> {
    let addr = addr.parse().expect("an IP:PORT address");
    let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// The first answer of `http_get(addr)` within 30 s; panics with the last error.
pub fn wait_http(addr: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match http_get(addr, Duration::from_secs(3)) {
            Ok(body) => return body,
            Err(e) if Instant::now() > deadline => panic!("GET {addr}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(30)),
        }
    }
}

/// An ed25519 key pair without passphrase in a scratch directory: `key` and
/// `key.pub`.
pub struct SshKey {
    pub key: PathBuf,
    _dir: Scratch,
}

impl SshKey {
    pub fn new(tag: &str) -> Self {
        let dir = Scratch::new(tag);
        let key = dir.path().join("id");
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .expect("run ssh-keygen");
        assert!(st.success(), "ssh-keygen failed");
        SshKey { key, _dir: dir }
    }

    pub fn public(&self) -> PathBuf {
        self.key.with_extension("pub")
    }

    pub fn dir(&self) -> &Path {
        self.key.parent().unwrap()
    }

    /// Logs in as root on `127.0.0.1:port` and runs `command`, retrying for up to
    /// 60 s while sshd is not up yet; returns what the last try printed (stdout then
    /// stderr).
    pub fn login(&self, port: u16, command: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = Command::new("ssh")
                .arg("-i")
                .arg(&self.key)
                .args(["-p", &port.to_string()])
                .args(["-o", "StrictHostKeyChecking=no"])
                .args(["-o", "UserKnownHostsFile=/dev/null"])
                .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=3"])
                .args(["-o", "LogLevel=ERROR", "root@127.0.0.1", command])
                .output()
                .expect("run ssh");
            let last = format!("{}{}", crate::stdout(&out), crate::stderr(&out));
            if out.status.success() || Instant::now() > deadline {
                return last;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
