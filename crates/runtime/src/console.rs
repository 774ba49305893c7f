//! Receiving a pty master over a console socket (the runc/OCI convention: the runtime
//! connects to a unix socket and sends the master fd with SCM_RIGHTS).

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use std::io::{self, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("console socket {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("console socket {0}: the runtime sent no pty master")]
    NoFd(PathBuf),
}

pub struct ConsoleSocket {
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    /// Binds the socket before the runtime is started; the runtime's connect then
    /// succeeds from the backlog even though we only accept afterwards.
    pub fn bind(path: &Path) -> Result<Self, ConsoleError> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).map_err(|source| ConsoleError::Io {
            path: path.into(),
            source,
        })?;
        Ok(ConsoleSocket {
            path: path.into(),
            listener,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn receive_master(&self) -> Result<OwnedFd, ConsoleError> {
        let io_err = |source| ConsoleError::Io {
            path: self.path.clone(),
            source,
        };
        let (stream, _) = self.listener.accept().map_err(io_err)?;
        let mut buf = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| io_err(e.into()))?;
        for c in msg.cmsgs().map_err(|e| io_err(e.into()))? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                if let Some(&fd) = fds.first() {
                    // SAFETY: the kernel just installed this fd for us; we own it.
                    return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
                }
            }
        }
        Err(ConsoleError::NoFd(self.path.clone()))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
