//! Training checkpoints (`checkpoints/last.npz`, `best.npz`, `interrupted.npz`): the
//! parameters, both Adam moments and the loop state, as an NPZ written through the data
//! layer's NPZ writer.

use std::path::Path;

use super::schedule::ScheduleState;
use crate::data::npz;
use crate::gpu::Engine;
use crate::model::Network;
use crate::workflow::{Result, WorkflowError};

/// The loop state saved with the weights (numbers only, stored as one f64 array `state`).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainState {
    /// Epochs fully completed.
    pub epochs_done: usize,
    /// Adam step.
    pub step: u64,
    /// Schedule.
    pub schedule: ScheduleState,
}

/// Writes the network's optimiser state and `state` to `path`, atomically.
pub fn write_checkpoint(
    path: &Path,
    net: &Network,
    engine: &Engine,
    state: &TrainState,
) -> Result<()> {
    let (params, m, v, step) = net.optimizer_state(engine)?;
    let numbers = vec![
        state.epochs_done as f64,
        step as f64,
        state.schedule.lr,
        state.schedule.best,
        state.schedule.since_best as f64,
        state.schedule.plateau_wait as f64,
    ];
    npz::write_npz(path, |z| {
        for (k, data) in [("params", params), ("adam_m", m), ("adam_v", v)] {
            let len = data.len();
            z.array(k, &[len], data)?;
        }
        z.array("state", &[numbers.len()], numbers)
    })?;
    Ok(())
}

/// Restores a checkpoint into `net` (weights and Adam state) and returns its loop state.
pub fn read_checkpoint(path: &Path, net: &mut Network, engine: &Engine) -> Result<TrainState> {
    let f = std::fs::File::open(path).map_err(|e| WorkflowError::io(path, e))?;
    let mut z = ndarray_npy::NpzReader::new(f).map_err(|e| WorkflowError::io(path, e))?;
    let mut f32s = |k: &str| -> Result<Vec<f32>> {
        z.by_name::<ndarray::OwnedRepr<f32>, ndarray::Ix1>(k)
            .map(|a| a.to_vec())
            .map_err(|e| WorkflowError::io(path, format!("key '{k}': {e}")))
    };
    let (params, m, v) = (f32s("params")?, f32s("adam_m")?, f32s("adam_v")?);
    let s = z
        .by_name::<ndarray::OwnedRepr<f64>, ndarray::Ix1>("state")
        .map_err(|e| WorkflowError::io(path, format!("key 'state': {e}")))?;
    if s.len() != 6 {
        return Err(WorkflowError::io(
            path,
            format!("key 'state': expected 6 values, got {}", s.len()),
        ));
    }
    net.restore_optimizer(engine, &params, &m, &v, s[1] as u64)?;
    Ok(TrainState {
        epochs_done: s[0] as usize,
        step: s[1] as u64,
        schedule: ScheduleState {
            lr: s[2],
            best: s[3],
            since_best: s[4] as usize,
            plateau_wait: s[5] as usize,
        },
    })
}

/// Loads the weights of a training checkpoint into `net` (inference from a checkpoint; the
/// Adam state is not needed).
pub fn load_checkpoint_weights(path: &Path, net: &mut Network, engine: &Engine) -> Result<()> {
    read_checkpoint(path, net, engine).map(|_| ())
}
