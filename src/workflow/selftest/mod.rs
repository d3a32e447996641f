//! `ptycho selftest`: every kernel the adapter can run, in every layout and variant, on a few
//! shapes (tile edges, sizes that are not multiples of a workgroup, the widest layers, a
//! storage binding forced small so that batches are chunked), against its CPU twin; then two
//! training steps of a small network against the f64 twin of the whole step. What a user runs
//! on a new driver (Metal, DX12, an AMD or Intel Vulkan driver) before trusting a
//! reconstruction.
//!
//! Each check compares the GPU's values `g` with the twin's `w` by two errors, both relative to
//! the twin: the relative L2 error ‖g − w‖ / ‖w‖ and the max error max|g − w| / max|w|. A check
//! passes when both are within its [`Bound`] (documented with each check: f32 rounding of the
//! arithmetic it does, with a margin); a non-finite value fails.

mod checks;

use serde::Serialize;

use crate::gpu::Engine;
use crate::workflow::Result;

pub use checks::all_checks;

/// How close a check's GPU values must be to its twin's.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Bound {
    /// Largest relative L2 error.
    pub l2: f64,
    /// Largest max error relative to the twin's largest magnitude.
    pub max: f64,
}

impl Bound {
    /// Results that must be identical (copies, selections, integer-exact sums).
    pub const EXACT: Bound = Bound { l2: 0.0, max: 0.0 };

    /// A few f32 roundings per value.
    pub const ROUNDING: Bound = Bound {
        l2: 1e-6,
        max: 1e-5,
    };

    /// Sums of up to about `terms` f32 products: f32 rounding grows like √terms on average and
    /// like terms at worst.
    pub fn sums(terms: usize) -> Bound {
        let t = terms.max(1) as f64;
        Bound {
            l2: 2e-7 * t.sqrt() + 1e-6,
            max: 2e-7 * t + 1e-5,
        }
    }

    /// This bound scaled by `k` (`--tolerance-scale`).
    pub fn scaled(self, k: f64) -> Bound {
        Bound {
            l2: self.l2 * k,
            max: self.max * k,
        }
    }
}

/// What a check computed: the GPU's values and the twin's, flattened (complex values as
/// (re, im) pairs).
#[derive(Clone, Debug, Default)]
pub struct Comparison {
    /// From the GPU.
    pub gpu: Vec<f64>,
    /// From the CPU twin.
    pub twin: Vec<f64>,
}

impl Comparison {
    /// Appends another output of the same check.
    pub fn push(
        &mut self,
        gpu: impl IntoIterator<Item = f64>,
        twin: impl IntoIterator<Item = f64>,
    ) {
        self.gpu.extend(gpu);
        self.twin.extend(twin);
    }

    /// Appends an output of another scale, both sides divided by its twin's largest magnitude
    /// (so that the errors of each output count relative to itself).
    pub fn push_scaled(&mut self, gpu: &[f64], twin: &[f64]) {
        let k = twin.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let k = if k > 0.0 { 1.0 / k } else { 1.0 };
        self.push(gpu.iter().map(|v| v * k), twin.iter().map(|v| v * k));
    }

    /// (relative L2 error, max error relative to max |twin|); infinite for a non-finite GPU
    /// value or a length mismatch.
    pub fn errors(&self) -> (f64, f64) {
        if self.gpu.len() != self.twin.len() || self.gpu.iter().any(|v| !v.is_finite()) {
            return (f64::INFINITY, f64::INFINITY);
        }
        let (mut num, mut den, mut max_err, mut max_w) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for (g, w) in self.gpu.iter().zip(&self.twin) {
            num += (g - w) * (g - w);
            den += w * w;
            max_err = max_err.max((g - w).abs());
            max_w = max_w.max(w.abs());
        }
        if den == 0.0 {
            // An all-zero twin: any non-zero GPU value is an error of its own size.
            return (num.sqrt(), max_err);
        }
        ((num / den).sqrt(), max_err / max_w)
    }
}

/// Runs one check's GPU side and its twin.
pub type RunCheck = Box<dyn Fn(&Engine) -> Result<Comparison>>;

/// One check: a kernel (its file stem), the layout or variant it runs in, a shape, its bound,
/// and the computation.
pub struct Check {
    /// Kernel name (as `shaders/<domain>/<name>.wgsl`), or `training step`.
    pub kernel: &'static str,
    /// Every kernel the check runs (the chain that ends in `kernel`).
    pub covers: Vec<&'static str>,
    /// Layout or variant: `tiled`, `subgroup`, `global`, `chunked`, …
    pub variant: String,
    /// Shape, as the table prints it.
    pub shape: String,
    /// How close the GPU must be.
    pub bound: Bound,
    /// Runs the GPU side and the twin.
    pub run: RunCheck,
}

/// The outcome of one check.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// Kernel name.
    pub kernel: &'static str,
    /// Every kernel the check ran.
    pub covers: Vec<&'static str>,
    /// Layout or variant.
    pub variant: String,
    /// Shape.
    pub shape: String,
    /// Relative L2 error (infinite on error).
    pub rel_l2: f64,
    /// Max error relative to max |twin| (infinite on error).
    pub rel_max: f64,
    /// The bound it was held to.
    pub bound: Bound,
    /// Within the bound.
    pub pass: bool,
    /// The error that stopped the check, if any.
    pub error: Option<String>,
}

impl Outcome {
    /// `kernel [variant] shape: what went wrong`, for the one-line failure.
    pub fn describe(&self) -> String {
        match &self.error {
            Some(e) => format!("{} [{}] {}: {e}", self.kernel, self.variant, self.shape),
            None => format!(
                "{} [{}] {}: relative L2 error {:.2e} (bound {:.1e}), max {:.2e} (bound {:.1e})",
                self.kernel,
                self.variant,
                self.shape,
                self.rel_l2,
                self.bound.l2,
                self.rel_max,
                self.bound.max
            ),
        }
    }
}

/// Runs `checks` on `engine` with every bound scaled by `tolerance_scale`, calling `each` after
/// every check (progress output).
pub fn run(
    engine: &Engine,
    checks: &[Check],
    tolerance_scale: f64,
    mut each: impl FnMut(&Outcome),
) -> Vec<Outcome> {
    let mut out = Vec::with_capacity(checks.len());
    for c in checks {
        let bound = c.bound.scaled(tolerance_scale);
        let o = match (c.run)(engine) {
            Ok(cmp) => {
                let (l2, max) = cmp.errors();
                Outcome {
                    kernel: c.kernel,
                    covers: c.covers.clone(),
                    variant: c.variant.clone(),
                    shape: c.shape.clone(),
                    rel_l2: l2,
                    rel_max: max,
                    bound,
                    pass: l2 <= bound.l2 && max <= bound.max,
                    error: None,
                }
            }
            Err(e) => Outcome {
                kernel: c.kernel,
                covers: c.covers.clone(),
                variant: c.variant.clone(),
                shape: c.shape.clone(),
                rel_l2: f64::INFINITY,
                rel_max: f64::INFINITY,
                bound,
                pass: false,
                error: Some(e.to_string()),
            },
        };
        each(&o);
        out.push(o);
    }
    out
}

/// The kernels `outcomes` exercised (to check coverage).
pub fn covered(outcomes: &[Outcome]) -> Vec<&'static str> {
    let mut k: Vec<&'static str> = outcomes.iter().flat_map(|o| o.covers.clone()).collect();
    k.sort_unstable();
    k.dedup();
    k
}
