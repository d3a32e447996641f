//! Reading data that do not follow PtychoPINN's conventions: what a file holds (intensities
//! or amplitudes), where its patterns have their zero frequency, what its positions mean
//! (centre or corner of the probe window, (x, y) or (row, col), pixels or metres), and under
//! which keys a plain NPZ or HDF5 file keeps them. Each departure is an explicit reader
//! option (specs/data.md, "Data from other tools"); `ptycho inspect` suggests them.

use std::path::Path;

use super::DataError;

/// What the diffraction array holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum DiffractionKind {
    /// Floating-point arrays are amplitudes, integer arrays detector counts (PtychoPINN's
    /// contract plus counts; CXI files: counts).
    #[default]
    Auto,
    /// Amplitudes (sqrt of intensities), whatever the dtype.
    Amplitude,
    /// Intensities or counts, whatever the dtype: amplitudes = sqrt.
    Intensity,
}

/// Where a pattern's zero frequency sits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum PatternCentre {
    /// At (N/2, N/2) (fftshifted; PtychoPINN).
    #[default]
    Centred,
    /// At (0, 0) (unshifted, as `numpy.fft.fft2` returns it): fftshifted on load.
    Corner,
}

/// What a position marks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum PositionOrigin {
    /// The centre of the probe window (PtychoPINN).
    #[default]
    Centre,
    /// The window's first pixel (top-left corner): the centre is N/2 further along both axes.
    Corner,
}

/// The order of a position's coordinates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum PositionOrder {
    /// (x, y) = (column, row) (PtychoPINN): `xcoords` are columns.
    #[default]
    Xy,
    /// (row, column): the first coordinate (`xcoords`, or column 0 of a positions array) is
    /// the row.
    RowCol,
}

/// The unit of positions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum PositionUnits {
    /// Object pixels (PtychoPINN).
    #[default]
    Pixels,
    /// Metres: divided by the object pixel size (`--object-pixel-size-m`).
    Metres,
}

/// Key names of a plain NPZ or HDF5 file (HDF5: dataset paths); unset = the usual names.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct KeyMap {
    /// Diffraction patterns (M, N, N) [default `diff3d`, `diffraction`].
    pub diffraction: Option<String>,
    /// Probe [default `probeGuess`].
    pub probe: Option<String>,
    /// First coordinate of each position (M,) [default `xcoords`].
    pub x: Option<String>,
    /// Second coordinate (M,) [default `ycoords`].
    pub y: Option<String>,
    /// Positions as one (M, 2) array, instead of `x` and `y`.
    pub positions: Option<String>,
    /// Object [default `objectGuess`].
    pub object: Option<String>,
}

impl KeyMap {
    /// Whether any key is renamed.
    pub fn any(&self) -> bool {
        *self != KeyMap::default()
    }
}

/// Every departure from PtychoPINN's conventions a reader is told about.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Conventions {
    /// Key names.
    pub keys: KeyMap,
    /// Amplitudes or intensities.
    pub diffraction: DiffractionKind,
    /// Zero frequency at the centre or the corner.
    pub centre: PatternCentre,
    /// Positions at the window's centre or corner.
    pub origin: PositionOrigin,
    /// (x, y) or (row, column).
    pub order: PositionOrder,
    /// Pixels or metres.
    pub units: PositionUnits,
}

impl Conventions {
    /// Whether every convention is PtychoPINN's.
    pub fn is_default(&self) -> bool {
        *self == Conventions::default()
    }

    /// Moves the patterns' zero frequency to (N/2, N/2) (corner-centred patterns are
    /// fftshifted).
    pub fn patterns(&self, diff: &mut [f32], n: usize) {
        if self.centre == PatternCentre::Corner {
            for frame in diff.chunks_exact_mut(n * n) {
                let shifted = fftshift(frame, n);
                frame.copy_from_slice(&shifted);
            }
        }
    }

    /// Turns positions as the file stores them into PtychoPINN's (x, y) pixel centres of N×N
    /// windows: swaps (row, column), converts metres with `pixel_size_m`, moves corners to the
    /// centre. Errors name the file and the option.
    pub fn positions(
        &self,
        xs: &mut Vec<f64>,
        ys: &mut Vec<f64>,
        n: usize,
        path: &Path,
        pixel_size_m: Option<f64>,
    ) -> Result<(), DataError> {
        if self.order == PositionOrder::RowCol {
            std::mem::swap(xs, ys);
        }
        if self.units == PositionUnits::Metres {
            let Some(px) = pixel_size_m else {
                return Err(DataError::File {
                    path: path.display().to_string(),
                    message: "--position-units metres needs the object pixel size \
                              (--object-pixel-size-m)"
                        .into(),
                });
            };
            for v in xs.iter_mut().chain(ys.iter_mut()) {
                *v /= px;
            }
        }
        if self.origin == PositionOrigin::Corner {
            let h = n as f64 / 2.0;
            for v in xs.iter_mut().chain(ys.iter_mut()) {
                *v += h;
            }
        }
        Ok(())
    }
}

/// fftshift of one N × N frame (N even: a half-period roll of both axes).
pub fn fftshift(frame: &[f32], n: usize) -> Vec<f32> {
    let h = n / 2;
    (0..n * n)
        .map(|i| {
            let (r, c) = (i / n, i % n);
            frame[((r + h) % n) * n + (c + h) % n]
        })
        .collect()
}
