//! Training: the epoch loop, schedules, checkpoints and run directories.

pub mod run;
pub mod schedule;
