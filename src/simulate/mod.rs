//! Simulation of PtychoPINN datasets: synthetic objects and the default probe ([`objects`]),
//! scan positions, the forward model on the GPU (patch extraction, probe multiply, far-field
//! amplitude), Poisson noise, and splits (`ptycho simulate` drives it from
//! `crate::workflow::simulate`).
//!
//! Scaling (physics.md): for patches Y and probe P, s_sim = sqrt(nphotons / mean_m Σ|Y·P|²);
//! the noiseless amplitude A of ψ = Y·P is computed on the GPU; the observed amplitude is
//! X = sqrt(Poisson((s_sim·A)²)) and diff3d = X / s_sim. With `noise = false`, diff3d = A.

pub mod objects;

use num_complex::Complex32;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson};

use crate::data::Dataset;
use crate::fft::FftError;
use crate::fft::{Direction, FftOptions, FftPlan, Norm, Output};
use crate::gpu::{Engine, GpuBuffer, GpuError};
use crate::linalg::Cmul;
use crate::physics::{ExtractPatches, PhysicsError};

/// Errors of the simulation: the GPU forward model's layers, kept as the cause.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// Patch extraction failed.
    #[error(transparent)]
    Physics(#[from] PhysicsError),
    /// The far-field FFT failed.
    #[error(transparent)]
    Fft(#[from] FftError),
    /// A GPU failure (allocation, device).
    #[error(transparent)]
    Gpu(#[from] GpuError),
}

impl SimulateError {
    /// The GPU error underneath, if that is what this is (else `self` back).
    pub fn into_gpu(self) -> std::result::Result<GpuError, Self> {
        match self {
            SimulateError::Gpu(g) => Ok(g),
            SimulateError::Fft(f) => f.into_gpu().map_err(SimulateError::Fft),
            SimulateError::Physics(p) => p.into_gpu().map_err(SimulateError::Physics),
        }
    }
}

/// Result alias of the simulation.
pub type Result<T, E = SimulateError> = std::result::Result<T, E>;

/// Scan pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanKind {
    /// Uniform random positions.
    Random,
    /// A regular grid.
    Grid,
}

impl ScanKind {
    /// Every kind by name, as the command line writes them.
    pub const NAMES: [&'static str; 2] = ["random", "grid"];

    /// The name of this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanKind::Random => "random",
            ScanKind::Grid => "grid",
        }
    }
}

impl std::str::FromStr for ScanKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "random" => Ok(ScanKind::Random),
            "grid" => Ok(ScanKind::Grid),
            _ => Err(format!("scan '{s}': expected random or grid")),
        }
    }
}

/// Scan positions (x, y) inside [buffer, W − buffer] × [buffer, H − buffer].
pub fn scan_positions(
    kind: ScanKind,
    count: usize,
    step: f64,
    h: usize,
    w: usize,
    buffer: f64,
    seed: u64,
) -> (Vec<f64>, Vec<f64>) {
    let (lo_x, hi_x) = (buffer, w as f64 - buffer);
    let (lo_y, hi_y) = (buffer, h as f64 - buffer);
    match kind {
        ScanKind::Random => {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5CA9);
            (0..count)
                .map(|_| (rng.random_range(lo_x..=hi_x), rng.random_range(lo_y..=hi_y)))
                .unzip()
        }
        ScanKind::Grid => {
            let mut xs = Vec::new();
            let mut ys = Vec::new();
            let mut y = lo_y;
            while y <= hi_y + 1e-9 {
                let mut x = lo_x;
                while x <= hi_x + 1e-9 {
                    xs.push(x);
                    ys.push(y);
                    x += step;
                }
                y += step;
            }
            (xs, ys)
        }
    }
}

/// Patterns simulated per GPU submission (bounded memory for any M).
const CHUNK: usize = 256;

/// Runs the forward model on the GPU: ground-truth patches and noiseless amplitudes A of
/// ψ = Y·P (orthonormal far field, DC at (N/2, N/2)). With a probe of P incoherent modes
/// (modes × N × N) the far-field amplitude of every mode is computed on the GPU and the modes
/// add in intensity: A = sqrt(Σ_p A_p²) (summed on the host, in f64, modes in order).
pub fn forward(
    engine: &Engine,
    obj: &[Complex32],
    (h, w): (usize, usize),
    probe: &[Complex32],
    n: usize,
    xs: &[f64],
    ys: &[f64],
) -> Result<(Vec<Complex32>, Vec<f32>)> {
    let m = xs.len();
    let gobj = engine.upload("sim.object", obj)?;
    let modes = probe.len() / (n * n);
    let gprobes = probe
        .chunks_exact(n * n)
        .map(|mode| engine.upload("sim.probe", mode))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let extract = ExtractPatches::new(engine)?;
    let cmul = Cmul::new(engine)?;
    let mut patches = Vec::with_capacity(m * n * n);
    let mut amps = Vec::with_capacity(m * n * n);
    let opts = FftOptions {
        norm: Norm::Ortho,
        shift_output: true,
        output: Output::Amplitude,
        ..Default::default()
    };
    let mut k0 = 0;
    while k0 < m {
        let c = CHUNK.min(m - k0);
        let plan = FftPlan::with_options(engine, n, n, c, Direction::Forward, opts)?;
        let pos: Vec<[f32; 2]> = (k0..k0 + c).map(|k| [xs[k] as f32, ys[k] as f32]).collect();
        let gpos = engine.upload("sim.positions", &pos)?;
        let y = engine.alloc::<Complex32>("sim.patches", c * n * n)?;
        let psi = engine.alloc::<Complex32>("sim.psi", c * n * n)?;
        let amp = engine.alloc::<f32>("sim.amplitude", c * n * n)?;
        let scratch = plan.alloc_scratch(engine)?;
        let mut extra: Vec<GpuBuffer<f32>> = Vec::new();
        let mut rec = engine.recording("simulate");
        extract.record(engine, &mut rec, &gobj, (h, w), &gpos, &y, n)?;
        let iy = rec.read(&y);
        let mut ia = Vec::with_capacity(modes);
        for (p, gprobe) in gprobes.iter().enumerate() {
            // Every mode its own amplitude buffer (read back after the whole recording).
            let amp_p = if p == 0 {
                &amp
            } else {
                extra.push(engine.alloc::<f32>("sim.amplitude_mode", c * n * n)?);
                extra.last().expect("just pushed")
            };
            cmul.record(engine, &mut rec, &y, gprobe, &psi, n * n, false)?;
            plan.record_amplitude(engine, &mut rec, &psi, amp_p, &scratch)?;
            ia.push(rec.read(amp_p));
        }
        let out = engine.submit(rec)?;
        patches.extend(out.get::<Complex32>(iy));
        if modes == 1 {
            amps.extend(out.get::<f32>(ia[0]));
        } else {
            let per: Vec<Vec<f32>> = ia.into_iter().map(|id| out.get::<f32>(id)).collect();
            amps.extend((0..c * n * n).map(|e| {
                per.iter()
                    .map(|a| (a[e] as f64).powi(2))
                    .sum::<f64>()
                    .sqrt() as f32
            }));
        }
        k0 += c;
    }
    Ok((patches, amps))
}

/// s_sim = sqrt(nphotons / mean over patterns of Σ A²) (f64 accumulation).
pub fn sim_scale(amps: &[f32], m: usize, nphotons: f64) -> f64 {
    let total: f64 = amps.iter().map(|&a| (a as f64) * (a as f64)).sum();
    (nphotons / (total / m.max(1) as f64)).sqrt()
}

/// Applies Poisson noise: X = sqrt(Poisson((s·A)²)) / s, seeded.
pub fn poisson_noise(amps: &[f32], s: f64, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9015_5017);
    amps.iter()
        .map(|&a| {
            let lam = (s * a as f64).powi(2);
            let k = if lam > 0.0 {
                Poisson::new(lam).map(|p| p.sample(&mut rng)).unwrap_or(lam)
            } else {
                0.0
            };
            (k.sqrt() / s) as f32
        })
        .collect()
}

/// Everything `simulate` needs besides the object and probe.
#[derive(Clone, Debug)]
pub struct SimParams {
    /// Photons per pattern.
    pub nphotons: f64,
    /// Apply Poisson noise.
    pub noise: bool,
    /// Seed.
    pub seed: u64,
    /// Object kind (metadata).
    pub object_kind: String,
}

/// Simulates a dataset for an object, a probe and positions.
#[allow(
    clippy::too_many_arguments,
    reason = "object, probe and scan are independent inputs"
)]
pub fn simulate(
    engine: &Engine,
    obj: Vec<Complex32>,
    (h, w): (usize, usize),
    probe: Vec<Complex32>,
    n: usize,
    xs: Vec<f64>,
    ys: Vec<f64>,
    p: &SimParams,
) -> Result<Dataset> {
    let m = xs.len();
    let (patches, amps) = forward(engine, &obj, (h, w), &probe, n, &xs, &ys)?;
    let s = sim_scale(&amps, m, p.nphotons);
    let diff = if p.noise {
        poisson_noise(&amps, s, p.seed)
    } else {
        amps
    };
    Ok(Dataset {
        n,
        xcoords: xs,
        ycoords: ys,
        diff,
        probe,
        object: Some((h, w, obj)),
        patches: Some(patches),
        start: None,
        scan_index: Some(vec![0; m]),
        metadata: serde_json::json!({
            "N": n,
            "nphotons": p.nphotons,
            "seed": p.seed,
            "object": p.object_kind,
            "noise": p.noise,
            "sim_scale": s,
            "ptycho_version": env!("CARGO_PKG_VERSION"),
        }),
    })
}

/// Splits a dataset into disjoint train and test parts by scan row: the `fraction` of patterns
/// with the smallest y go to train (contiguous regions, so each part stitches on its own).
pub fn split(d: &Dataset, fraction: f64) -> (Dataset, Dataset) {
    let mut idx: Vec<usize> = (0..d.len()).collect();
    idx.sort_by(|&a, &b| d.ycoords[a].total_cmp(&d.ycoords[b]).then(a.cmp(&b)));
    let cut = ((d.len() as f64) * fraction).round() as usize;
    let (a, b) = idx.split_at(cut.min(d.len()));
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_unstable();
    b.sort_unstable();
    (subset(d, &a), subset(d, &b))
}

/// The patterns `idx` of `d` (object, probe and metadata kept).
pub fn subset(d: &Dataset, idx: &[usize]) -> Dataset {
    let nn = d.n * d.n;
    let pick = |v: &[f64]| idx.iter().map(|&i| v[i]).collect::<Vec<_>>();
    Dataset {
        n: d.n,
        xcoords: pick(&d.xcoords),
        ycoords: pick(&d.ycoords),
        diff: idx
            .iter()
            .flat_map(|&i| d.diff[i * nn..(i + 1) * nn].iter().copied())
            .collect(),
        probe: d.probe.clone(),
        object: d.object.clone(),
        patches: d.patches.as_ref().map(|p| {
            idx.iter()
                .flat_map(|&i| p[i * nn..(i + 1) * nn].iter().copied())
                .collect()
        }),
        start: d.start.as_ref().map(|(x, y)| (pick(x), pick(y))),
        scan_index: d
            .scan_index
            .as_ref()
            .map(|s| idx.iter().map(|&i| s[i]).collect()),
        metadata: d.metadata.clone(),
    }
}

/// A preview PNG: object amplitude, object phase, and the first diffraction pattern (log₁₀).
pub fn preview(d: &Dataset) -> image::RgbImage {
    let mut panels = Vec::new();
    if let Some((h, w, o)) = &d.object {
        panels.push(crate::util::plot::colormap_with_bar(
            &o.iter().map(|z| z.norm() as f64).collect::<Vec<_>>(),
            *h,
            *w,
            None,
        ));
        panels.push(crate::util::plot::colormap_with_bar(
            &o.iter().map(|z| z.arg() as f64).collect::<Vec<_>>(),
            *h,
            *w,
            None,
        ));
    }
    if !d.is_empty() {
        let nn = d.n * d.n;
        let logd: Vec<f64> = d.diff[..nn]
            .iter()
            .map(|&a| ((a as f64).powi(2) + 1e-12).log10())
            .collect();
        panels.push(crate::util::plot::colormap_with_bar(&logd, d.n, d.n, None));
    }
    let wsum: u32 = panels.iter().map(|p| p.width() + 8).sum();
    let hmax = panels.iter().map(|p| p.height()).max().unwrap_or(1);
    let mut img = image::RgbImage::from_pixel(wsum.max(1), hmax, image::Rgb([255, 255, 255]));
    let mut x = 0;
    for p in &panels {
        image::imageops::overlay(&mut img, p, x as i64, 0);
        x += p.width() + 8;
    }
    img
}
