//! `ptycho batch reconstruct|train -i IN -o OUT` (and `ptycho -b …`, Ptychodus's own syntax):
//! ptycho in Ptychodus's place on its batch-mode folders (Ptychodus 1.7's
//! `ModelCore.batch_mode_execute`, `StandardFileLayout`), so that facility workflows that move
//! those folders around can call ptycho instead.
//!
//! - reconstruct: `IN/diffraction.h5` + `IN/product.h5` (geometry, positions, probe) + the
//!   trained model `IN/model/` (a ptycho run directory) → `OUT/product.h5` and
//!   `OUT/product.000000.h5` (what `ptychodus -b reconstruct` writes for a single-pass
//!   reconstructor such as PtychoPINN), the stitched object in the input object's frame.
//! - train: `IN/diffraction.h5` + `IN/product.h5` → `OUT/model/`, the run directory a later
//!   reconstruct reads from `IN/model/`.
//!
//! ptycho's settings come from `IN/ptycho.toml` (a ptycho configuration file) when present;
//! Ptychodus's `settings.ini` is not read.

use std::path::{Path, PathBuf};

use crate::config::{Resolved, Source};
use crate::data::npz::write_dataset;
use crate::data::product::Product;
use crate::data::ptychodus::{self, BatchGeometry, read_input};
use crate::gpu::Engine;
use crate::workflow::infer::{InferOptions, infer};
use crate::workflow::train::{TrainOptions, TrainSummary, train};
use crate::workflow::{Result, WorkflowError};

/// ptycho's settings in a batch input folder.
pub const SETTINGS: &str = "ptycho.toml";
/// The model folder (a ptycho run directory) in the input (reconstruct) or output (train).
pub const MODEL: &str = "model";

/// A scratch folder removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Result<Scratch> {
        let p = std::env::temp_dir().join(format!(
            "ptycho-batch-{what}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&p).map_err(|e| WorkflowError::io(&p, e))?;
        Ok(Scratch(p))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The input folder as a PtychoPINN NPZ in `scratch` (without the initial-guess object, which
/// training and inference do not use), and the geometry.
fn stage(input: &Path, scratch: &Scratch) -> Result<(PathBuf, usize, BatchGeometry)> {
    let (mut d, g) = read_input(input)?;
    d.object = None;
    let n = d.n;
    let npz = scratch.0.join("diffraction.npz");
    write_dataset(&npz, &d)?;
    Ok((npz, n, g))
}

/// The settings file of `input`, if it has one.
pub fn settings_file(input: &Path) -> Option<PathBuf> {
    let p = input.join(SETTINGS);
    p.is_file().then_some(p)
}

/// Trains on the input folder into `output/model`. `resolved` is the configuration (from the
/// folder's `ptycho.toml`); the pattern size comes from the data where it leaves the default.
pub fn train_folder(
    engine: &Engine,
    resolved: &Resolved,
    input: &Path,
    output: &Path,
) -> Result<TrainSummary> {
    let scratch = Scratch::new("train")?;
    let (npz, n, _) = stage(input, &scratch)?;
    let mut r = resolved.clone();
    if r.sources.get("data.n").copied().unwrap_or(Source::Default) == Source::Default {
        r.config.data.n = n;
        r.sources.insert("data.n".into(), Source::Data);
    }
    r.config.validate()?;
    std::fs::create_dir_all(output).map_err(|e| WorkflowError::io(output, e))?;
    train(
        engine,
        &r,
        &TrainOptions {
            train_data: npz,
            test_data: None,
            output_dir: output.join(MODEL),
            resume: false,
            overwrite: false,
            read: Default::default(),
        },
    )
}

/// Reconstructs the input folder with the model `input/model` (configuration `resolved`, from
/// its config.toml) into `output/product.h5` and `output/product.000000.h5`; returns the
/// files written.
pub fn reconstruct_folder(
    engine: &Engine,
    resolved: &Resolved,
    input: &Path,
    output: &Path,
) -> Result<Vec<PathBuf>> {
    let model = input.join(MODEL);
    let scratch = Scratch::new("reconstruct")?;
    let (npz, _, g) = stage(input, &scratch)?;
    let out = scratch.0.join("out");
    infer(
        engine,
        resolved,
        &InferOptions {
            model_dir: model.clone(),
            test_data: npz,
            output_dir: out.clone(),
            overwrite: false,
            read: Default::default(),
            tiff: false,
            checkpoint: None,
            also_stitch: None,
        },
    )?;
    let rec = out.join("reconstruction.npz");
    let object = crate::eval::files::read_complex2(&rec, "object")?;
    let origin = crate::eval::files::read_f64_1(&rec, "origin_xy")?;
    let (h, w) = object.dim();
    let [pw, ph] = g.pixel_m;
    let [_, win] = g.object_hw;
    let hin = g.object_hw[0];
    // Canvas pixel (r, c) is object pixel (origin + (c, r)); the input maps object pixel X to
    // metres as (X − (W − 1)/2)·pw + centre.
    let center_x_m =
        (origin[0] + (w as f64 - 1.0) / 2.0 - (win as f64 - 1.0) / 2.0) * pw + g.center_m[0];
    let center_y_m =
        (origin[1] + (h as f64 - 1.0) / 2.0 - (hin as f64 - 1.0) / 2.0) * ph + g.center_m[1];
    let rows = crate::workflow::train::run_dir::read_metrics(&model.join("metrics.csv"))
        .unwrap_or_default();
    let n = resolved.config.data.n;
    let product = Product {
        name: format!("{}_ptycho", g.name),
        comments: format!(
            "PtychoPINN-style reconstruction by ptycho (WGSL), model {}",
            model.display()
        ),
        detector_distance_m: g.detector_distance_m,
        photon_energy_ev: g.photon_energy_ev,
        object: object
            .iter()
            .map(|z| num_complex::Complex32::new(z.re as f32, z.im as f32))
            .collect(),
        h,
        w,
        pixel_width_m: pw,
        pixel_height_m: ph,
        center_x_m,
        center_y_m,
        probe: g.probe.clone(),
        n,
        indexes: g.indexes.clone(),
        x_m: g.x_m.clone(),
        y_m: g.y_m.clone(),
        loss_epochs: rows.iter().map(|r| r.epoch as i64).collect(),
        loss_values: rows.iter().map(|r| r.train_loss).collect(),
    };
    std::fs::create_dir_all(output).map_err(|e| WorkflowError::io(output, e))?;
    let staged = scratch.0.join(ptychodus::PRODUCT);
    product.write_h5(&staged)?;
    let mut files = Vec::new();
    for name in [
        ptychodus::PRODUCT.to_string(),
        "product.000000.h5".to_string(),
    ] {
        let dst = output.join(&name);
        let tmp = crate::util::fs::temp_path(&dst);
        std::fs::copy(&staged, &tmp)
            .and_then(|_| std::fs::rename(&tmp, &dst))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                WorkflowError::io(&dst, e)
            })?;
        files.push(dst);
    }
    Ok(files)
}
