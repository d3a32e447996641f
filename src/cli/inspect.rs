//! `ptycho inspect FILE`: what a data file holds and the flags that read it.

use clap::Args;

use crate::data::inspect::{Report, inspect};
use crate::workflow::Result;

/// `ptycho inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The file (NPZ or HDF5/CXI).
    #[arg(value_name = "FILE")]
    pub file: std::path::PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `ptycho inspect`.
pub fn run(a: &InspectArgs) -> Result<()> {
    let r = inspect(&a.file)?;
    if a.json {
        let mut v = serde_json::to_value(&r)?;
        v["command"] = r.command().into();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", text(&r));
    }
    Ok(())
}

/// The report as text.
fn text(r: &Report) -> String {
    let mut s = format!("{} ({})\n", r.path, r.format);
    for a in &r.arrays {
        s += &format!(
            "  {:<40} {:<20} {}\n",
            a.name,
            format!("{:?}", a.shape),
            a.dtype
        );
    }
    if r.format == "cxi" {
        s += "Ptychodus's CXI layout: ptycho reads it as it is (counts, translations in metres)\n";
    }
    if let Some(p) = &r.patterns {
        s += &format!(
            "patterns: '{}', {} of {}×{}, {} ({:.1} % whole numbers), zero frequency {} (centre of mass row {:.1}, column {:.1})\n",
            p.key,
            p.count,
            p.n,
            p.n,
            p.holds,
            100.0 * p.integral_fraction,
            if p.zero_frequency == "corner" {
                "at the corner (unshifted)"
            } else {
                "at N/2 (centred)"
            },
            p.centre_of_mass[0],
            p.centre_of_mass[1]
        );
    }
    if let Some(p) = &r.positions {
        s += &format!(
            "positions: {}: first {:.4}…{:.4}, second {:.4}…{:.4} ({}; {} of the window; {})\n",
            p.keys,
            p.first_range[0],
            p.first_range[1],
            p.second_range[0],
            p.second_range[1],
            p.units,
            p.origin,
            if p.order == "rowcol" {
                "(row, column)"
            } else {
                "(x, y)"
            }
        );
    }
    if let Some((k, modes)) = &r.probe {
        s += &format!("probe: '{k}', {modes} mode(s)\n");
    }
    if let Some((k, [h, w])) = &r.object {
        s += &format!("object: '{k}', {h}×{w}\n");
    }
    for p in &r.problems {
        s += &format!("problem: {p}\n");
    }
    for p in &r.notes {
        s += &format!("note: {p}\n");
    }
    if r.patterns.is_some() || r.format == "cxi" {
        s += &format!("read it with: {}\n", r.command());
    }
    s
}
