//! Training: the epoch loop, schedules, checkpoints and run directories.

pub mod infer;
pub mod prepare;
pub mod run;
pub mod schedule;
pub mod trainer;
