//! Shell completions and man pages, both made from the clap definition so they
//! never fall behind the commands (`clap_complete`, `clap_mangen`). Neither opens
//! the engine: they work for any user, before anything is installed.

use crate::args::{Cli, CompletionArgs, ManArgs};
use anyhow::{Context, Result};
use clap::CommandFactory;
use std::path::Path;

pub fn cmd_completion(a: &CompletionArgs) -> Result<i32> {
    let mut cmd = visible_tree();
    clap_complete::generate(a.shell, &mut cmd, "berth", &mut std::io::stdout());
    Ok(0)
}

/// clap_complete offers hidden subcommands too (`monitor`, `__man`), which no user
/// types: completions are made from a copy of the tree without them.
fn visible_tree() -> clap::Command {
    let full = Cli::command();
    let visible: Vec<clap::Command> = full
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    clap::Command::new("berth")
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_subcommand(true)
        .args(full.get_arguments().cloned())
        .subcommands(visible)
}

/// `berth __man DIR`: one page per command (`berth.1`, `berth-run.1`,
/// `berth-container-run.1`, …), as `make install` puts them under man1.
pub fn cmd_man(a: &ManArgs) -> Result<i32> {
    std::fs::create_dir_all(&a.dir)
        .with_context(|| format!("creating the man page directory {}", a.dir.display()))?;
    let mut cmd = Cli::command();
    cmd.build();
    let count = write_pages(&cmd, &a.dir)?;
    eprintln!("{count} man pages written to {}", a.dir.display());
    Ok(0)
}

/// Writes `cmd`'s page as NAME.1 and recurses into its visible subcommands. Names
/// are clap's display names once the tree is built (`berth-container-run`).
fn write_pages(cmd: &clap::Command, dir: &Path) -> Result<usize> {
    let name = cmd.get_display_name().unwrap_or(cmd.get_name());
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut buf)?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, buf).with_context(|| format!("writing {}", path.display()))?;
    let mut count = 1;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        count += write_pages(sub, dir)?;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_leave_out_hidden_commands() {
        let mut out = Vec::new();
        clap_complete::generate(
            clap_complete::Shell::Bash,
            &mut visible_tree(),
            "berth",
            &mut out,
        );
        let bash = String::from_utf8(out).unwrap();
        assert!(bash.contains("container") && bash.contains("--publish"));
        assert!(
            !bash.contains("monitor") && !bash.contains("__man"),
            "{bash}"
        );
    }

    #[test]
    fn man_pages_cover_management_forms() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Cli::command();
        cmd.build();
        let n = write_pages(&cmd, dir.path()).unwrap();
        assert!(n > 40, "{n} pages");
        let run = std::fs::read_to_string(dir.path().join("berth-container-run.1")).unwrap();
        assert!(run.contains("publish"), "{run}");
        assert!(dir.path().join("berth-image-ls.1").exists());
        assert!(
            !dir.path().join("berth-monitor.1").exists(),
            "hidden commands get no page"
        );
    }
}
