//! `system boot` and `system install-boot-unit`: containers with a restart policy
//! back after a host reboot (see `berth_engine::boot`).

use anyhow::Result;
use berth_engine::boot::{self, BootOutcome};
use berth_engine::Engine;

/// Starts what the restart policies bring back; prints each started container's
/// name, each failure on stderr. Exits 1 when any failed.
pub fn cmd_boot(e: &Engine) -> Result<i32> {
    let mut failed = false;
    for outcome in boot::boot(e)? {
        match outcome {
            BootOutcome::Started(c) => println!("{}", c.name),
            BootOutcome::Failed(c, err) => {
                eprintln!("berth: starting {} at boot: {err}", c.name);
                failed = true;
            }
        }
    }
    Ok(i32::from(failed))
}

pub fn cmd_install_boot_unit(e: &Engine) -> Result<i32> {
    let path = boot::install_unit(e)?;
    println!(
        "installed and enabled {} ({}): containers with --restart=always or unless-stopped start at boot",
        boot::UNIT_NAME,
        path.display()
    );
    Ok(0)
}
