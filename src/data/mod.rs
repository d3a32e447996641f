//! Dataset preparation on the CPU side: grouping of scan positions and splits.

pub mod group;
pub mod npz;
