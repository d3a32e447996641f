//! The HDF5 Ptychodus product (feature `hdf5`), as Ptychodus 1.7's `save_product` lays it out.

use std::path::Path;

use hdf5::types::VarLenUnicode;

use super::Product;
use crate::data::{DataError, one_line};

/// Writes `p` as the HDF5 product Ptychodus 1.7 reads (`ptychodus.api.io.load_product`):
/// metadata as root attributes, `object` (1, H, W) and `probe` (1, N, N) complex64 with their
/// pixel sizes (and the object centre) as attributes, positions and losses as datasets.
/// Written to a temporary file in the same folder and renamed when complete.
pub(super) fn write_product(path: &Path, p: &Product) -> Result<(), DataError> {
    let tmp = crate::util::fs::temp_path(path);
    let result = write_product_to(&tmp, p)
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| e.to_string()));
    result.map_err(|message| {
        let _ = std::fs::remove_file(&tmp);
        DataError::File {
            path: path.display().to_string(),
            message,
        }
    })
}

fn write_product_to(tmp: &Path, p: &Product) -> Result<(), String> {
    let e = |e: hdf5::Error| one_line(e);
    let f = hdf5::File::create(tmp).map_err(e)?;
    let text = |s: &str| s.parse::<VarLenUnicode>().map_err(|x| x.to_string());
    f.new_attr::<VarLenUnicode>()
        .create("name")
        .and_then(|a| a.write_scalar(&text(&p.name).unwrap_or_default()))
        .map_err(e)?;
    f.new_attr::<VarLenUnicode>()
        .create("comments")
        .and_then(|a| a.write_scalar(&text(&p.comments).unwrap_or_default()))
        .map_err(e)?;
    let scalar = |loc: &hdf5::Location, name: &str, v: f64| -> Result<(), String> {
        loc.new_attr::<f64>()
            .create(name)
            .and_then(|a| a.write_scalar(&v))
            .map_err(e)
    };
    scalar(&f, "detector_object_distance_m", p.detector_distance_m)?;
    scalar(&f, "photon_energy_eV", p.photon_energy_ev)?;
    for k in [
        "probe_photon_count",
        "exposure_time_s",
        "mass_attenuation_m2_per_kg",
        "tomography_angle_deg",
        "focus_object_distance_m",
        "tilt_angle_deg",
    ] {
        scalar(&f, k, 0.0)?;
    }
    f.new_attr::<bool>()
        .create("far_field")
        .and_then(|a| a.write_scalar(&true))
        .map_err(e)?;
    let m = p.x_m.len();
    f.new_dataset_builder()
        .with_data(&ndarray::Array1::from(p.indexes.clone()))
        .create("probe_position_indexes")
        .map_err(e)?;
    for (k, v) in [
        ("probe_position_x_m", &p.x_m),
        ("probe_position_y_m", &p.y_m),
    ] {
        f.new_dataset_builder()
            .with_data(&ndarray::Array1::from(v.clone()))
            .create(k)
            .map_err(e)?;
    }
    debug_assert_eq!(p.indexes.len(), m);
    let probe = ndarray::Array3::from_shape_vec((p.modes(), p.n, p.n), p.probe.clone())
        .map_err(|x| x.to_string())?;
    let probe = f
        .new_dataset_builder()
        .with_data(&probe)
        .create("probe")
        .map_err(e)?;
    scalar(&probe, "pixel_width_m", p.pixel_width_m)?;
    scalar(&probe, "pixel_height_m", p.pixel_height_m)?;
    let object = ndarray::Array3::from_shape_vec((1, p.h, p.w), p.object.clone())
        .map_err(|x| x.to_string())?;
    let object = f
        .new_dataset_builder()
        .with_data(&object)
        .create("object")
        .map_err(e)?;
    scalar(&object, "center_x_m", p.center_x_m)?;
    scalar(&object, "center_y_m", p.center_y_m)?;
    scalar(&object, "pixel_width_m", p.pixel_width_m)?;
    scalar(&object, "pixel_height_m", p.pixel_height_m)?;
    // One layer: no spacings (Ptychodus checks len(spacing) + 1 == layers).
    f.new_dataset::<f64>()
        .shape(0)
        .create("object_layer_spacing_m")
        .map_err(e)?;
    f.new_dataset_builder()
        .with_data(&ndarray::Array1::from(p.loss_epochs.clone()))
        .create("loss_epochs")
        .map_err(e)?;
    f.new_dataset_builder()
        .with_data(&ndarray::Array1::from(p.loss_values.clone()))
        .create("loss_values")
        .map_err(e)?;
    f.flush().map_err(e)?;
    f.close().map_err(e)?;
    Ok(())
}
