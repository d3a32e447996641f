//! The Ptychodus product (specs/data.md): one set of values written as the NPZ that Ptychodus
//! 1.7's `npz_product_file` plugin reads and, with the `hdf5` feature, as the HDF5 file its
//! `h5_product_file` plugin reads (`ptychodus.api.io.load_product`).
//!
//! Conventions are Ptychodus 1.7's: positions and pixel sizes in metres; the object centre is
//! the metre coordinate of the pixel-index point ((W − 1)/2, (H − 1)/2), so that
//! `x_px = (x_m − center_x_m)/pixel_width_m + (W − 1)/2` maps a probe position back onto the
//! canvas.

#[cfg(feature = "hdf5")]
mod h5;

use std::path::Path;

use num_complex::Complex32;

use crate::data::{DataError, Dataset, npz};
use crate::stitch::Stitched;

/// Placeholder detector–object distance when the data carry no geometry (metres).
pub const PLACEHOLDER_DISTANCE_M: f64 = 1.0;
/// Placeholder photon energy when the data carry no geometry (eV).
pub const PLACEHOLDER_ENERGY_EV: f64 = 10_000.0;

/// The experiment geometry a dataset carries (from a CXI file, via its `_metadata`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Geometry {
    /// Object pixel width (x) in metres.
    pub pixel_width_m: f64,
    /// Object pixel height (y) in metres.
    pub pixel_height_m: f64,
    /// Detector–object distance in metres, if known.
    pub detector_distance_m: Option<f64>,
    /// Photon energy in eV, if known.
    pub photon_energy_ev: Option<f64>,
}

impl Geometry {
    /// The metadata keys that carry a geometry (written by the CXI reader).
    pub fn to_metadata(&self, meta: &mut serde_json::Map<String, serde_json::Value>) {
        meta.insert("object_pixel_width_m".into(), self.pixel_width_m.into());
        meta.insert("object_pixel_height_m".into(), self.pixel_height_m.into());
        if let Some(z) = self.detector_distance_m {
            meta.insert("detector_distance_m".into(), z.into());
        }
        if let Some(e) = self.photon_energy_ev {
            meta.insert("photon_energy_eV".into(), e.into());
        }
    }

    /// The geometry recorded in a dataset's metadata, if any (positive, finite pixel sizes).
    pub fn of(d: &Dataset) -> Option<Geometry> {
        let f = |k: &str| {
            d.metadata
                .get(k)
                .and_then(|v| v.as_f64())
                .filter(|v| v.is_finite() && *v > 0.0)
        };
        Some(Geometry {
            pixel_width_m: f("object_pixel_width_m")?,
            pixel_height_m: f("object_pixel_height_m")?,
            detector_distance_m: f("detector_distance_m"),
            photon_energy_ev: f("photon_energy_eV"),
        })
    }
}

/// A Ptychodus product: one object layer, one or more (incoherent) probe modes.
#[derive(Clone, Debug, PartialEq)]
pub struct Product {
    /// Product name.
    pub name: String,
    /// Free-text comments.
    pub comments: String,
    /// Detector–object distance (m).
    pub detector_distance_m: f64,
    /// Photon energy (eV).
    pub photon_energy_ev: f64,
    /// Object (H, W).
    pub object: Vec<Complex32>,
    /// Object height H.
    pub h: usize,
    /// Object width W.
    pub w: usize,
    /// Object pixel width (m).
    pub pixel_width_m: f64,
    /// Object pixel height (m).
    pub pixel_height_m: f64,
    /// Object centre x (m).
    pub center_x_m: f64,
    /// Object centre y (m).
    pub center_y_m: f64,
    /// Probe, every mode (modes × N × N).
    pub probe: Vec<Complex32>,
    /// Probe size N.
    pub n: usize,
    /// Position index of each probe position.
    pub indexes: Vec<i64>,
    /// Probe positions x (m).
    pub x_m: Vec<f64>,
    /// Probe positions y (m).
    pub y_m: Vec<f64>,
    /// Epoch of each loss value.
    pub loss_epochs: Vec<i64>,
    /// Training loss per epoch.
    pub loss_values: Vec<f64>,
}

impl Product {
    /// The product of a stitched reconstruction at positions (`xs`, `ys`) in object pixels.
    /// Pixel sizes, distance and energy come from `geometry` (CXI data); otherwise the pixel
    /// is `pixel_size_m` and distance and energy are placeholders (said in `comments`).
    pub fn new(
        s: &Stitched,
        probe: &[Complex32],
        (xs, ys): (&[f64], &[f64]),
        geometry: Option<Geometry>,
        pixel_size_m: f64,
        losses: &[(i64, f64)],
    ) -> Product {
        let g = geometry.unwrap_or(Geometry {
            pixel_width_m: pixel_size_m,
            pixel_height_m: pixel_size_m,
            detector_distance_m: None,
            photon_energy_ev: None,
        });
        let (pw, ph) = (g.pixel_width_m, g.pixel_height_m);
        let placeholders = g.detector_distance_m.is_none() || g.photon_energy_ev.is_none();
        Product {
            name: "ptycho reconstruction".into(),
            comments: if placeholders {
                "PtychoPINN-style reconstruction by ptycho (WGSL); distance and energy are placeholders"
                    .into()
            } else {
                "PtychoPINN-style reconstruction by ptycho (WGSL)".into()
            },
            detector_distance_m: g.detector_distance_m.unwrap_or(PLACEHOLDER_DISTANCE_M),
            photon_energy_ev: g.photon_energy_ev.unwrap_or(PLACEHOLDER_ENERGY_EV),
            object: s.object.clone(),
            h: s.h,
            w: s.w,
            pixel_width_m: pw,
            pixel_height_m: ph,
            center_x_m: (s.origin_xy[0] + (s.w as f64 - 1.0) / 2.0) * pw,
            center_y_m: (s.origin_xy[1] + (s.h as f64 - 1.0) / 2.0) * ph,
            probe: probe.to_vec(),
            n: (probe.len() as f64).sqrt() as usize,
            indexes: (0..xs.len() as i64).collect(),
            x_m: xs.iter().map(|x| x * pw).collect(),
            y_m: ys.iter().map(|y| y * ph).collect(),
            loss_epochs: losses.iter().map(|l| l.0).collect(),
            loss_values: losses.iter().map(|l| l.1).collect(),
        }
    }

    /// The same product with a probe of several modes (modes × `n` × `n`).
    pub fn with_probe(mut self, probe: &[Complex32], n: usize) -> Self {
        self.probe = probe.to_vec();
        self.n = n;
        self
    }

    /// Probe modes.
    pub fn modes(&self) -> usize {
        self.probe.len() / (self.n * self.n).max(1)
    }

    /// Writes the NPZ product (uncompressed), atomically.
    pub fn write_npz(&self, path: &Path) -> Result<(), DataError> {
        let m = self.x_m.len();
        let k = self.loss_epochs.len();
        npz::write_npz(path, |z| {
            z.array(
                "detector_object_distance_m",
                &[],
                vec![self.detector_distance_m],
            )?;
            z.array("photon_energy_eV", &[], vec![self.photon_energy_ev])?;
            z.array("object", &[1, self.h, self.w], self.object.clone())?;
            z.array("object_pixel_width_m", &[], vec![self.pixel_width_m])?;
            z.array("object_pixel_height_m", &[], vec![self.pixel_height_m])?;
            z.array("object_center_x_m", &[], vec![self.center_x_m])?;
            z.array("object_center_y_m", &[], vec![self.center_y_m])?;
            z.array("probe", &[self.modes(), self.n, self.n], self.probe.clone())?;
            z.array("probe_pixel_width_m", &[], vec![self.pixel_width_m])?;
            z.array("probe_pixel_height_m", &[], vec![self.pixel_height_m])?;
            z.array("probe_position_indexes", &[m], self.indexes.clone())?;
            z.array("probe_position_x_m", &[m], self.x_m.clone())?;
            z.array("probe_position_y_m", &[m], self.y_m.clone())?;
            z.array("loss_epochs", &[k], self.loss_epochs.clone())?;
            z.array("loss_values", &[k], self.loss_values.clone())?;
            z.string("name", &self.name)?;
            z.string("comments", &self.comments)
        })
    }

    /// Writes the HDF5 product as Ptychodus 1.7's `save_product` lays it out, atomically.
    #[cfg(feature = "hdf5")]
    pub fn write_h5(&self, path: &Path) -> Result<(), DataError> {
        h5::write_product(path, self)
    }
}
