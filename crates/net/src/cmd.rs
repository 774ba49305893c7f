//! Running `nft` and `ip` for the rare steps: building berth's nft table (chains
//! and rules are nft's language; see `nfnl` for why not by hand) and reading the
//! host's routes when a network picks its subnet. Everything on the path of each
//! container start and exit goes over netlink from the process itself (`rtnl`,
//! `nfnl`).

use std::io::Write;
use std::process::{Child, Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error("{program} is not installed ({source}); install iproute2 and nftables (apt-get install -y iproute2 nftables util-linux)")]
    Missing {
        program: String,
        source: std::io::Error,
    },
    #[error("{what} failed: {stderr}")]
    Failed { what: String, stderr: String },
}

/// A program started by [`start`], not yet waited for.
pub struct Running {
    child: Child,
    what: String,
}

/// Starts `program args…` with `input` on stdin.
pub fn start(program: &str, args: &[&str], input: &str) -> Result<Running, CmdError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| CmdError::Missing {
            program: program.into(),
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // Scripts are a few kB: the pipe holds them whole, so this cannot block.
        let _ = stdin.write_all(input.as_bytes());
    }
    Ok(Running {
        child,
        what: format!("{program} {}", args.join(" ")),
    })
}

impl Running {
    /// Waits for the program; returns its stdout, or its stderr as the error.
    pub fn finish(self) -> Result<String, CmdError> {
        let out = self
            .child
            .wait_with_output()
            .map_err(|source| CmdError::Missing {
                program: self.what.clone(),
                source,
            })?;
        if !out.status.success() {
            return Err(CmdError::Failed {
                what: self.what,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// Runs `program args…` with `input` on stdin; returns stdout.
pub fn run(program: &str, args: &[&str], input: &str) -> Result<String, CmdError> {
    start(program, args, input)?.finish()
}

/// `nft -f -`.
pub fn nft(script: &str) -> Result<String, CmdError> {
    run("nft", &["-f", "-"], script)
}

/// `nft -f -`, not waited for.
pub fn nft_start(script: &str) -> Result<Running, CmdError> {
    start("nft", &["-f", "-"], script)
}
