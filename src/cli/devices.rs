//! `ptycho devices`: every adapter with its key limits, and the one `auto` picks.

use clap::Args;

use super::flags::Overrides;
use crate::gpu::{self, Accelerator};
use crate::util::text::{human_bytes, truncate};
use crate::workflow::Result;

/// `ptycho devices`.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `ptycho devices`.
pub fn run(args: &DevicesArgs, global: &Overrides) -> Result<()> {
    let exec = super::execution(global)?;
    if exec.accelerator != Accelerator::Auto {
        // An explicit choice must exist; fail before listing anything.
        super::open_engine(&exec)?;
    }
    let list = gpu::list_adapters();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else if list.is_empty() {
        println!(
            "no adapters found; install a Vulkan driver: on Debian/Ubuntu `apt-get install -y mesa-vulkan-drivers libvulkan1`"
        );
    } else {
        println!(
            "{:<2} {:<34} {:<7} {:<13} {:>8} {:>6} {:>10} {:>12} {:>5}  driver",
            "", "adapter", "backend", "type", "wg-mem", "inv", "binding", "max-buffer", "ts"
        );
        for a in &list {
            println!(
                "{:<2} {:<34} {:<7} {:<13} {:>8} {:>6} {:>10} {:>12} {:>5}  {}",
                if a.auto_pick { "*" } else { "" },
                truncate(&a.name, 34),
                a.backend,
                a.device_type,
                human_bytes(a.max_workgroup_storage_bytes as u64),
                a.max_invocations_per_workgroup,
                human_bytes(a.max_storage_binding_bytes),
                human_bytes(a.max_buffer_bytes),
                if a.timestamp_query { "yes" } else { "no" },
                a.driver
            );
        }
        println!("* = adapter `--accelerator auto` picks");
    }
    Ok(())
}
