//! Running iproute2 and nft. berth drives them through their batch modes (one
//! process per step) rather than netlink from Rust: the netlink crates are async and
//! need a runtime, and the monitor that sets networks up is deliberately
//! single-threaded with none; nft has no maintained Rust binding.

use std::io::Write;
use std::process::{Command, Stdio};

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

/// Runs `program args…` with `input` on stdin; returns stdout.
pub fn run(program: &str, args: &[&str], input: &str) -> Result<String, CmdError> {
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
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|source| CmdError::Missing {
            program: program.into(),
            source,
        })?;
    if !out.status.success() {
        return Err(CmdError::Failed {
            what: format!("{program} {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ip -batch -` in the host's network namespace.
pub fn ip_batch(lines: &[String]) -> Result<(), CmdError> {
    run("ip", &["-batch", "-"], &lines.join("\n")).map(|_| ())
}

/// `ip -batch -` inside the network namespace of process `pid`.
pub fn ip_batch_in(pid: i32, lines: &[String]) -> Result<(), CmdError> {
    let ns = format!("--net=/proc/{pid}/ns/net");
    run("nsenter", &[&ns, "ip", "-batch", "-"], &lines.join("\n")).map(|_| ())
}

/// `nft -f -`.
pub fn nft(script: &str) -> Result<String, CmdError> {
    run("nft", &["-f", "-"], script)
}

pub fn nft_list(args: &[&str]) -> Result<String, CmdError> {
    run("nft", args, "")
}
