//! Reading and writing the PtychoPINN NPZ contract (specs/data.md).
//!
//! Arrays are read with ndarray-npy, accepting float32/float64 and complex64/complex128 where
//! PtychoPINN files vary; `_metadata` (a 0-d unicode array holding JSON, or a legacy pickled
//! object array) is read with npyz. Writes go to a temporary file that is renamed when complete.

pub(crate) mod archive;
mod read;
mod write;

pub use read::{
    Patches, probe_shape, read_dataset, read_dataset_in, read_dataset_with, read_patches,
    read_probe_modes, read_sim_input,
};
pub use write::{NpzOut, add, write_dataset, write_npz, write_reconstruction};
