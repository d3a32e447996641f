//! Dataset preparation on the CPU side: the PtychoPINN NPZ contract, the Ptychodus product,
//! float TIFF images, and the grouping of scan positions.

pub mod group;
pub mod npz;
pub mod product;
pub mod tiff;

pub use npz::{DataError, Dataset};
