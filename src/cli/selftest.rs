//! `ptycho selftest`: every kernel against its CPU twin on this adapter.

use clap::Args;

use super::flags::Overrides;
use crate::workflow::selftest::{self, Outcome};
use crate::workflow::{Result, WorkflowError};

/// `ptycho selftest`.
#[derive(Debug, Args)]
pub struct SelftestArgs {
    /// Print JSON (one object per check, then the summary) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Run only the checks of kernels whose name contains this (e.g. `conv2d`, `fft`).
    #[arg(long, value_name = "NAME")]
    pub only: Option<String>,
    /// Multiply every check's error bound by this (1 = the documented bounds; 0 turns any
    /// rounding into a failure, which shows that the checks can fail).
    #[arg(long, default_value_t = 1.0, value_name = "FACTOR")]
    pub tolerance_scale: f64,
}

fn row(o: &Outcome) -> String {
    format!(
        "{:<28} {:<26} {:<58} {:>10.2e} {:>10.2e}  {}",
        o.kernel,
        o.variant,
        o.shape,
        o.rel_l2,
        o.rel_max,
        if o.pass { "pass" } else { "FAIL" }
    )
}

/// Runs `ptycho selftest`; fails (exit 1) naming the first check that failed.
pub fn run(a: &SelftestArgs, global: &Overrides) -> Result<()> {
    if !(a.tolerance_scale >= 0.0 && a.tolerance_scale.is_finite()) {
        return Err(WorkflowError::Usage(format!(
            "--tolerance-scale {}: must be a finite number ≥ 0",
            a.tolerance_scale
        )));
    }
    let engine = super::open_engine(&super::execution(global)?)?;
    let checks: Vec<_> = selftest::all_checks(&engine)
        .into_iter()
        .filter(|c| a.only.as_deref().is_none_or(|k| c.kernel.contains(k)))
        .collect();
    if checks.is_empty() {
        return Err(WorkflowError::Usage(format!(
            "--only {}: no kernel of that name",
            a.only.as_deref().unwrap_or("")
        )));
    }
    let lim = engine.limits();
    let limits = serde_json::json!({"profile": engine.options().limits,
        "workgroup_storage_bytes": lim.workgroup_storage_bytes,
        "invocations_per_workgroup": lim.invocations_per_workgroup,
        "storage_binding_bytes": lim.storage_binding_bytes});
    if !a.json {
        println!(
            "adapter: {} (limits {}: {} B workgroup memory, {} invocations, {} B per binding)",
            engine.describe(),
            limits["profile"].as_str().unwrap_or("?"),
            lim.workgroup_storage_bytes,
            lim.invocations_per_workgroup,
            lim.storage_binding_bytes
        );
        println!(
            "{:<28} {:<26} {:<58} {:>10} {:>10}",
            "kernel", "variant", "shape", "rel L2", "rel max"
        );
    }
    let outcomes = selftest::run(&engine, &checks, a.tolerance_scale, |o| {
        if a.json {
            println!("{}", serde_json::to_string(o).unwrap_or_default());
        } else {
            println!("{}", row(o));
        }
    });
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.pass).collect();
    let summary = format!(
        "{} of {} checks passed on {} ({} kernels)",
        outcomes.len() - failed.len(),
        outcomes.len(),
        engine.describe(),
        selftest::covered(&outcomes).len()
    );
    if a.json {
        println!(
            "{}",
            serde_json::json!({"adapter": engine.describe(), "limits": limits,
                "checks": outcomes.len(),
                "failed": failed.len(), "pass": failed.is_empty()})
        );
    } else {
        println!("{summary}");
    }
    match failed.first() {
        None => Ok(()),
        Some(first) => Err(WorkflowError::SelftestFailed {
            failed: failed.len(),
            total: outcomes.len(),
            first: first.describe(),
        }),
    }
}
