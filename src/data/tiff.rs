//! 32-bit float grey TIFF images of a stitched object's amplitude and phase (`--tiff`), the
//! values themselves rather than a colour map, for ImageJ, tifffile and the like. Written to a
//! temporary file in the same folder and renamed when complete.

use std::path::{Path, PathBuf};

use tiff::encoder::{TiffEncoder, colortype::Gray32Float};

use crate::data::DataError;
use crate::stitch::Stitched;

/// Writes `values` (row-major H×W) as a single-channel IEEE float32 TIFF, atomically.
pub fn write_f32(path: &Path, w: usize, h: usize, values: &[f32]) -> Result<(), DataError> {
    let err = |message: String| DataError::File {
        path: path.display().to_string(),
        message,
    };
    if values.len() != w * h || w == 0 || h == 0 {
        return Err(err(format!(
            "cannot write a {w}×{h} image from {} values",
            values.len()
        )));
    }
    let (w32, h32) = (
        u32::try_from(w).map_err(|e| err(e.to_string()))?,
        u32::try_from(h).map_err(|e| err(e.to_string()))?,
    );
    crate::util::fs::write_atomic(path, |out| -> std::io::Result<()> {
        let mut enc = TiffEncoder::new(out).map_err(std::io::Error::other)?;
        enc.write_image::<Gray32Float>(w32, h32, values)
            .map_err(std::io::Error::other)
    })
    .map_err(|e| err(e.to_string()))
}

/// Writes `amplitude.tiff` (|object|) and `phase.tiff` (arg object, radians) in `dir`
/// and returns their paths.
pub fn write_amplitude_phase(dir: &Path, s: &Stitched) -> Result<[PathBuf; 2], DataError> {
    let amp: Vec<f32> = s.object.iter().map(|z| z.norm()).collect();
    let phase: Vec<f32> = s.object.iter().map(|z| z.arg()).collect();
    let paths = [dir.join("amplitude.tiff"), dir.join("phase.tiff")];
    write_f32(&paths[0], s.w, s.h, &amp)?;
    write_f32(&paths[1], s.w, s.h, &phase)?;
    Ok(paths)
}
