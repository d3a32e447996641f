//! What training and inference share about a batch of groups: the host-side gather of its
//! patterns and offsets, the object_big canvas that holds its members, and the largest batch
//! whose buffers fit one storage binding.

use crate::data::group::Groups;
use crate::gpu::Engine;
use crate::model::Network;
use crate::physics::canvas_side;
use crate::workflow::{Result, WorkflowError};

/// The normalised patterns and relative offsets of the groups `idx` (members group-major) for
/// a network of `net.layout.cfg.c` channels and `n`×`n` patterns.
#[allow(clippy::type_complexity, reason = "two parallel arrays")]
pub fn gather(
    net: &Network,
    n: usize,
    x: &[f32],
    g: &Groups,
    idx: &[usize],
) -> Result<(Vec<f32>, Vec<[f32; 2]>)> {
    if g.c != net.layout.cfg.c {
        return Err(WorkflowError::Mismatch(format!(
            "groups of {} patterns for a network with {} channels",
            g.c, net.layout.cfg.c
        )));
    }
    let nn = n * n;
    let mut xs = Vec::with_capacity(idx.len() * g.c * nn);
    let mut offs = Vec::with_capacity(idx.len() * g.c);
    for &gi in idx {
        for k in gi * g.c..(gi + 1) * g.c {
            let m = g.members[k];
            xs.extend_from_slice(&x[m * nn..(m + 1) * nn]);
            offs.push([g.offsets[k][0] as f32, g.offsets[k][1] as f32]);
        }
    }
    Ok((xs, offs))
}

/// The object_big canvas side M that holds every member of `g` translated by its relative
/// offset (physics.md: M = N + 2·ceil(max |offset|), even), never below `current`.
pub fn fitted_canvas(n: usize, current: usize, g: &Groups) -> usize {
    canvas_side(n, g.max_abs_offset()).max(current)
}

/// Largest batch (groups) whose buffers fit one storage binding of the adapter: bigger
/// batches are split into micro-batches with gradient accumulation (training) or run in turn
/// (validation, inference), so GPU memory is bounded whatever the batch size. With `modes`
/// probe modes the physics holds every mode's exit waves and far fields of a group in one
/// buffer (`modes`·C·N² complex values).
pub fn max_batch(engine: &Engine, net: &Network, canvas: usize, modes: usize) -> usize {
    let n = net.layout.cfg.n;
    let c = net.layout.cfg.c;
    let per = net
        .largest_buffer_per_image()
        .max((modes.max(1) * c * n * n * 8) as u64)
        .max((canvas * canvas * 8) as u64);
    ((engine.limits().storage_binding_bytes / per) as usize).max(1)
}
