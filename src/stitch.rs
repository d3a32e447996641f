//! Stitching object patches into one object (PtychoPINN's reassembly, physics.md "Inference and
//! stitching"): crop the central `crop` pixels of each patch, place each crop with a translation
//! of **+(position − mean position)** (bilinear, zero fill), sum, and divide by the same
//! placement of ones (+1e-9). Under this sign a simulated object's ground-truth patches
//! restitch to the object itself (docs/findings.md F-01).
//!
//! With probe weighting (PtychoPINN inference's `--patch-weighting probe`) each cropped pixel
//! also carries the weight Σ_modes |P|² of the probe at that pixel: the object is
//! Σ |P|²·O / Σ |P|², so the well-lit centre of every patch dominates its dim rim.
//!
//! Stitching is an accumulation after inference, done on the CPU in f64 with a deterministic
//! order (docs/findings.md F-09); [`Stitcher`] streams it batch by batch so that inference of
//! any number of patterns holds one batch of patches at a time.

use num_complex::{Complex32, Complex64};

/// A stitched object and where it sits in object coordinates.
#[derive(Clone, Debug, PartialEq)]
pub struct Stitched {
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
    /// The object, row-major.
    pub object: Vec<Complex32>,
    /// Object-pixel coordinates (x, y) of canvas pixel (0, 0).
    pub origin_xy: [f64; 2],
    /// Placement weight per pixel (0 where no patch contributed).
    pub weight: Vec<f32>,
}

impl Stitched {
    /// Pixels inside the scanned area — the bounding box of the scan positions `xs`, `ys` —
    /// that no patch covers (accumulated weight ≤ `covered_min`, see
    /// [`Weighting::covered_min`]): holes in the stitched object, where it is 0.
    pub fn holes(&self, xs: &[f64], ys: &[f64], covered_min: f64) -> usize {
        let lo_hi = |v: &[f64]| {
            v.iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                    (a.min(x), b.max(x))
                })
        };
        let ((x0, x1), (y0, y1)) = (lo_hi(xs), lo_hi(ys));
        (0..self.h * self.w)
            .filter(|&i| {
                let (r, c) = (i / self.w, i % self.w);
                let (x, y) = (self.origin_xy[0] + c as f64, self.origin_xy[1] + r as f64);
                (x0..=x1).contains(&x)
                    && (y0..=y1).contains(&y)
                    && self.weight[i] as f64 <= covered_min
            })
            .count()
    }
}

/// Stitches `patches` (M, N, N) measured at `xs`, `ys` using the central `crop` pixels.
pub fn stitch(patches: &[Complex32], n: usize, xs: &[f64], ys: &[f64], crop: usize) -> Stitched {
    stitch_weighted(patches, n, xs, ys, &Weighting::Uniform { crop })
}

/// [`stitch`] with any [`Weighting`].
pub fn stitch_weighted(
    patches: &[Complex32],
    n: usize,
    xs: &[f64],
    ys: &[f64],
    weighting: &Weighting,
) -> Stitched {
    let m = xs.len();
    assert_eq!(patches.len(), m * n * n, "patches must be (M, N, N)");
    let mut s = Stitcher::weighted(n, xs, ys, weighting);
    s.add(patches);
    s.finish()
}

/// The configuration's choice of [`Weighting`] (`inference.patch_weighting`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatchWeighting {
    /// [`Weighting::Uniform`].
    #[default]
    Uniform,
    /// [`Weighting::Probe`].
    Probe,
}

impl PatchWeighting {
    /// Name as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            PatchWeighting::Uniform => "uniform",
            PatchWeighting::Probe => "probe",
        }
    }

    /// The weighting for crop `crop` (uniform) or probe `probe` (modes × N × N).
    pub fn weighting(self, crop: usize, probe: &[Complex32]) -> Weighting {
        match self {
            PatchWeighting::Uniform => Weighting::Uniform { crop },
            PatchWeighting::Probe => Weighting::Probe {
                probe: probe.to_vec(),
            },
        }
    }
}

/// How the pixels of a patch are weighted when patches are averaged.
#[derive(Clone, Debug, PartialEq)]
pub enum Weighting {
    /// The central `crop` pixels, each with weight 1 (PtychoPINN's `reassemble_position`).
    Uniform {
        /// Side of the central square used.
        crop: usize,
    },
    /// The central N/2 pixels (the network's object support; PtychoPINN's `middle_trim`, 32 at
    /// N = 64), each weighted by the probe intensity there summed over modes, Σ_p |P_p|²
    /// (`probe`: modes × N × N), scaled to a maximum of 1.
    Probe {
        /// The probe, modes × N × N.
        probe: Vec<Complex32>,
    },
}

impl Weighting {
    /// Accumulated weight above which a stitched pixel counts as covered: half a full-weight
    /// placement (uniform), or a weight that is not negligible (probe; PtychoPINN masks
    /// Σ W ≤ 1e-6·max Σ W).
    pub fn covered_min(&self) -> f64 {
        match self {
            Weighting::Uniform { .. } => 0.5,
            Weighting::Probe { .. } => 1e-3,
        }
    }

    /// The side of the central square and its weights (row-major, crop × crop).
    fn map(&self, n: usize) -> (usize, Vec<f64>) {
        match self {
            Weighting::Uniform { crop } => {
                let crop = (*crop).min(n).max(1);
                (crop, vec![1.0; crop * crop])
            }
            Weighting::Probe { probe } => {
                let crop = (n / 2).max(1);
                let c0 = n / 2 - crop / 2;
                let modes = (probe.len() / (n * n)).max(1);
                let mut w = vec![0.0f64; crop * crop];
                for (k, wk) in w.iter_mut().enumerate() {
                    let (r, c) = (c0 + k / crop, c0 + k % crop);
                    *wk = (0..modes)
                        .map(|p| {
                            probe
                                .get(p * n * n + r * n + c)
                                .map_or(0.0, |z| z.norm_sqr() as f64)
                        })
                        .sum();
                }
                let max = w.iter().copied().fold(0.0, f64::max);
                if max > 0.0 {
                    w.iter_mut().for_each(|v| *v /= max);
                }
                (crop, w)
            }
        }
    }
}

/// Streaming stitcher: the canvas is laid out from all positions up front, then patches are
/// added in order, a batch at a time, so host memory holds one batch of patches plus the
/// canvas whatever the dataset size. Adding in any batching gives bit-identical results
/// (patches are accumulated in the order of `xs`).
#[derive(Clone, Debug)]
pub struct Stitcher {
    n: usize,
    crop: usize,
    xs: Vec<f64>,
    ys: Vec<f64>,
    mean: [f64; 2],
    pad: usize,
    size: usize,
    next: usize,
    acc: Vec<Complex64>,
    wsum: Vec<f64>,
    /// Weight of each pixel of the crop (crop × crop).
    wmap: Vec<f64>,
    /// Accumulated weight above which a pixel counts as covered.
    covered_min: f64,
}

impl Stitcher {
    /// A stitcher for patches of `n`×`n` at positions (`xs`, `ys`), central `crop` pixels.
    pub fn new(n: usize, xs: &[f64], ys: &[f64], crop: usize) -> Self {
        Self::weighted(n, xs, ys, &Weighting::Uniform { crop })
    }

    /// A stitcher with the given [`Weighting`].
    pub fn weighted(n: usize, xs: &[f64], ys: &[f64], weighting: &Weighting) -> Self {
        let m = xs.len();
        let (crop, wmap) = weighting.map(n);
        let covered_min = weighting.covered_min();
        let mx = xs.iter().sum::<f64>() / m.max(1) as f64;
        let my = ys.iter().sum::<f64>() / m.max(1) as f64;
        let max_off = xs
            .iter()
            .map(|x| (x - mx).abs())
            .chain(ys.iter().map(|y| (y - my).abs()))
            .fold(0.0, f64::max);
        let mut pad = max_off.ceil() as usize;
        pad += pad % 2;
        let size = crop + 2 * pad;
        Stitcher {
            n,
            crop,
            xs: xs.to_vec(),
            ys: ys.to_vec(),
            mean: [mx, my],
            pad,
            size,
            next: 0,
            acc: vec![Complex64::new(0.0, 0.0); size * size],
            wsum: vec![0.0f64; size * size],
            wmap,
            covered_min,
        }
    }

    /// Patches added so far.
    pub fn added(&self) -> usize {
        self.next
    }

    /// Continues with the patch of position `k` (≥ the next one): a process that stitches
    /// only a block of the positions starts at the block.
    pub fn skip_to(&mut self, k: usize) {
        assert!(
            k >= self.next && k <= self.xs.len(),
            "skip past the positions"
        );
        self.next = k;
    }

    /// The accumulated weighted sums and weights as plain numbers, (re, im) pairs then the
    /// weights: what processes that stitched separate blocks add up before [`Self::finish`].
    pub fn sums(&self) -> Vec<f64> {
        let mut v = Vec::with_capacity(3 * self.acc.len());
        v.extend(self.acc.iter().flat_map(|z| [z.re, z.im]));
        v.extend_from_slice(&self.wsum);
        v
    }

    /// Replaces the sums by `v` (as [`Self::sums`] lays them out, e.g. summed over processes).
    pub fn set_sums(&mut self, v: &[f64]) {
        let n = self.acc.len();
        assert_eq!(v.len(), 3 * n, "sums of another canvas");
        for (z, p) in self.acc.iter_mut().zip(v.chunks_exact(2)) {
            *z = Complex64::new(p[0], p[1]);
        }
        self.wsum.copy_from_slice(&v[2 * n..]);
    }

    /// Adds the next patches (a whole number of `n`×`n` frames, in position order).
    pub fn add(&mut self, patches: &[Complex32]) {
        let (n, crop, pad, size) = (self.n, self.crop, self.pad, self.size);
        let frames = patches.len() / (n * n);
        assert_eq!(frames * n * n, patches.len(), "whole patches only");
        assert!(
            self.next + frames <= self.xs.len(),
            "more patches than positions"
        );
        let c0 = n / 2 - crop / 2; // first cropped row/column of a patch
        for (f, p) in patches.chunks_exact(n * n).enumerate() {
            let k = self.next + f;
            let (dx, dy) = (self.xs[k] - self.mean[0], self.ys[k] - self.mean[1]);
            // Translated crop: out[r, c] = crop_canvas[r − dy, c − dx], where the crop canvas
            // holds the crop at rows/cols [pad, pad + crop).
            let (r_lo, r_hi) = (
                ((pad as f64 + dy).floor() as isize).max(0),
                ((pad as f64 + dy + crop as f64).ceil() as isize + 1).min(size as isize),
            );
            let (q_lo, q_hi) = (
                ((pad as f64 + dx).floor() as isize).max(0),
                ((pad as f64 + dx + crop as f64).ceil() as isize + 1).min(size as isize),
            );
            for r in r_lo..r_hi {
                let sy = r as f64 - dy - pad as f64;
                let (y0, fy) = (sy.floor(), sy - sy.floor());
                for c in q_lo..q_hi {
                    let sx = c as f64 - dx - pad as f64;
                    let (x0, fx) = (sx.floor(), sx - sx.floor());
                    let mut v = Complex64::new(0.0, 0.0);
                    let mut wgt = 0.0;
                    for (ty, wy) in [(y0, 1.0 - fy), (y0 + 1.0, fy)] {
                        for (tx, wx) in [(x0, 1.0 - fx), (x0 + 1.0, fx)] {
                            if ty >= 0.0
                                && tx >= 0.0
                                && ty < crop as f64
                                && tx < crop as f64
                                && wy * wx > 0.0
                            {
                                let z = p[(c0 + ty as usize) * n + c0 + tx as usize];
                                let wb = wy * wx * self.wmap[ty as usize * crop + tx as usize];
                                v += Complex64::new(z.re as f64, z.im as f64) * wb;
                                wgt += wb;
                            }
                        }
                    }
                    let i = r as usize * size + c as usize;
                    self.acc[i] += v;
                    self.wsum[i] += wgt;
                }
            }
        }
        self.next += frames;
    }

    /// The stitched object (cut to the bounding box of covered pixels).
    pub fn finish(self) -> Stitched {
        let (size, pad, crop) = (self.size, self.pad, self.crop);
        let (acc, wsum) = (&self.acc, &self.wsum);
        // Keep the bounding box of the covered pixels (weight > 0.5): the square canvas is
        // larger than the scanned area whenever the scan is not square.
        let covered = |i: usize| wsum[i] > self.covered_min;
        let rows: Vec<usize> = (0..size)
            .filter(|&r| (0..size).any(|c| covered(r * size + c)))
            .collect();
        let cols: Vec<usize> = (0..size)
            .filter(|&c| (0..size).any(|r| covered(r * size + c)))
            .collect();
        let (r0, r1) = (
            rows.first().copied().unwrap_or(0),
            rows.last().map_or(0, |r| r + 1),
        );
        let (q0, q1) = (
            cols.first().copied().unwrap_or(0),
            cols.last().map_or(0, |c| c + 1),
        );
        let (h, w) = (r1 - r0, q1 - q0);
        let mut object = Vec::with_capacity(h * w);
        let mut weight = Vec::with_capacity(h * w);
        for r in r0..r1 {
            for c in q0..q1 {
                let i = r * size + c;
                let z = acc[i] / (wsum[i] + 1e-9);
                object.push(Complex32::new(z.re as f32, z.im as f32));
                weight.push(wsum[i] as f32);
            }
        }
        Stitched {
            h,
            w,
            object,
            origin_xy: [
                self.mean[0] - pad as f64 - (crop / 2) as f64 + q0 as f64,
                self.mean[1] - pad as f64 - (crop / 2) as f64 + r0 as f64,
            ],
            weight,
        }
    }
}
