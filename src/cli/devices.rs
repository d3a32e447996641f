//! `ptycho devices`: every adapter with its key limits, the one `auto` picks, and the kernels
//! the configuration gets on each (conv layout and why, conv tiles, FFT variant).

use clap::Args;

use super::flags::Overrides;
use crate::config::resolve;
use crate::gpu::Accelerator;
use crate::util::text::{human_bytes, truncate};
use crate::workflow::Result;
use crate::workflow::devices::{self, AdapterPlan};

/// `ptycho devices`.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `ptycho devices`.
pub fn run(args: &DevicesArgs, global: &Overrides) -> Result<()> {
    let cfg = resolve(None, global)?.config;
    let exec = &cfg.execution;
    if exec.accelerator != Accelerator::Auto {
        // An explicit choice must exist; fail before listing anything.
        super::open_engine(exec)?;
    }
    let list = devices::plans(
        exec.limits,
        exec.conv_layout,
        cfg.data.n,
        cfg.model.n_filters_scale as usize,
    )?;
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
        for p in &list {
            let a = &p.adapter;
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
        for p in &list {
            let limits = format!("execution.limits = {}", exec.limits.as_str());
            print_plan(p, &limits, cfg.data.n, cfg.model.n_filters_scale);
        }
    }
    Ok(())
}

/// The kernels one adapter gets: conv layout and why, tiles per conv shape, FFT variants.
fn print_plan(p: &AdapterPlan, limits: &str, n: usize, scale: u32) {
    let a = &p.adapter;
    println!("\n{} [{}, {}]", a.name, a.backend, a.device_type);
    let l = &a.profile.limits;
    let lanes = match (l.subgroup_min_size, l.subgroup_max_size) {
        _ if !a.profile.subgroups => "none".to_string(),
        (lo, hi) if lo == hi => format!("{lo} lanes"),
        (lo, hi) => format!("{lo}–{hi} lanes"),
    };
    println!(
        "  device limits ({limits}): {} workgroup memory, {} invocations; subgroups: {lanes}",
        human_bytes(l.workgroup_storage_bytes as u64),
        l.invocations_per_workgroup
    );
    match p.conv_layout {
        Some(layout) => println!("  conv layout: {layout} ({})", p.conv_reason),
        None => println!("  conv layout: none ({})", p.conv_reason),
    }
    if !p.convs.is_empty() {
        println!("  conv tiles, PtychoPINN's network at N = {n}, n_filters_scale = {scale}:");
        println!(
            "    {:<22} {:>9} {:>5}  {:<24} {:<24} {:<28} {:>8}",
            "layer", "channels", "size", "forward", "input grad", "weight grad", "wg-mem"
        );
        for c in &p.convs {
            println!(
                "    {:<22} {:>9} {:>5}  {:<24} {:<24} {:<28} {:>8}",
                c.layer,
                format!("{}→{}", c.cin, c.cout),
                format!("{}²", c.size),
                c.forward.to_string(),
                c.input_grad.to_string(),
                c.weight_grad.to_string(),
                human_bytes(c.workgroup_bytes as u64)
            );
        }
    }
    let fft: Vec<String> = p
        .fft
        .iter()
        .map(|f| match f.variant {
            "workgroup" => format!(
                "{}: workgroup memory, {} lines/wg",
                f.len, f.lines_per_workgroup
            ),
            v => format!("{}: {v}", f.len),
        })
        .collect();
    println!("  fft: {}", fft.join("; "));
}
