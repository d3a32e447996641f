//! Range checks of every value, after the sources are merged: the first violation is a
//! [`ConfigError::Invalid`] naming the key, the value and what is allowed.

use super::{Config, ConfigError};
use crate::gpu::Fault;

impl Config {
    /// Checks every value; the first violation is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn bad(
            key: &'static str,
            value: impl ToString,
            expected: &'static str,
        ) -> Result<(), ConfigError> {
            Err(ConfigError::Invalid {
                key,
                value: value.to_string(),
                expected,
            })
        }
        let (d, m, t, i, e) = (
            &self.data,
            &self.model,
            &self.training,
            &self.inference,
            &self.execution,
        );
        if !(16..=1024).contains(&d.n) || !d.n.is_power_of_two() {
            return bad("data.n", d.n, "a power of two in 16..=1024");
        }
        if d.gridsize != 1 && d.gridsize != 2 {
            return bad("data.gridsize", d.gridsize, "gridsize must be 1 or 2");
        }
        if d.gridsize == 2 && d.neighbor_count < 4 {
            return bad(
                "data.neighbor_count",
                d.neighbor_count,
                "at least 4 (C = 4 members per group) when gridsize is 2",
            );
        }
        if d.gridsize == 2 && !m.object_big {
            return bad(
                "model.object_big",
                m.object_big,
                "true when gridsize is 2 (ptycho implements PtychoPINN's default object_big path; the single-patch variant is not implemented)",
            );
        }
        if !(d.nphotons > 0.0 && d.nphotons.is_finite()) {
            return bad(
                "data.nphotons",
                d.nphotons,
                "a positive, finite photon count",
            );
        }
        if !(1..=8).contains(&m.n_filters_scale) {
            return bad(
                "model.n_filters_scale",
                m.n_filters_scale,
                "an integer in 1..=8",
            );
        }
        if !(m.probe_scale > 0.0 && m.probe_scale.is_finite()) {
            return bad("model.probe_scale", m.probe_scale, "a positive number");
        }
        if !(m.probe_mask_sigma >= 0.0 && m.probe_mask_sigma.is_finite()) {
            return bad(
                "model.probe_mask_sigma",
                m.probe_mask_sigma,
                "a number ≥ 0 (pixels; 0 = a hard edge)",
            );
        }
        if !(m.probe_mask_diameter >= 0.0 && m.probe_mask_diameter <= d.n as f64) {
            return bad(
                "model.probe_mask_diameter",
                m.probe_mask_diameter,
                "in 0..=data.n pixels (0 = N/2)",
            );
        }
        if t.epochs == 0 {
            return bad("training.epochs", t.epochs, "at least 1");
        }
        if t.batch_size == 0 {
            return bad("training.batch_size", t.batch_size, "at least 1");
        }
        if !(t.learning_rate > 0.0 && t.learning_rate.is_finite()) {
            return bad(
                "training.learning_rate",
                t.learning_rate,
                "learning rate must be > 0",
            );
        }
        if !(0.0..1.0).contains(&t.beta1) {
            return bad("training.beta1", t.beta1, "in [0, 1)");
        }
        if !(0.0..1.0).contains(&t.beta2) {
            return bad("training.beta2", t.beta2, "in [0, 1)");
        }
        if !(t.epsilon > 0.0) {
            return bad("training.epsilon", t.epsilon, "> 0");
        }
        if !(t.nll_weight >= 0.0 && t.mae_weight >= 0.0) || t.nll_weight + t.mae_weight <= 0.0 {
            return bad(
                "training.nll_weight",
                format!("{} (mae_weight {})", t.nll_weight, t.mae_weight),
                "non-negative weights, not both zero",
            );
        }
        if !(0.0..1.0).contains(&t.validation_split) {
            return bad("training.validation_split", t.validation_split, "in [0, 1)");
        }
        if !(t.plateau_factor > 0.0 && t.plateau_factor < 1.0) {
            return bad("training.plateau_factor", t.plateau_factor, "in (0, 1)");
        }
        if !(t.min_lr >= 0.0) {
            return bad("training.min_lr", t.min_lr, ">= 0");
        }
        if !(t.exp_gamma > 0.0 && t.exp_gamma <= 1.0) {
            return bad("training.exp_gamma", t.exp_gamma, "in (0, 1]");
        }
        if t.checkpoint_every == 0 {
            return bad(
                "training.checkpoint_every",
                t.checkpoint_every,
                "at least 1",
            );
        }
        if t.accumulate_grad_batches == 0 {
            return bad(
                "training.accumulate_grad_batches",
                t.accumulate_grad_batches,
                "accumulate must be >= 1",
            );
        }
        if i.stitch_crop == 0 || i.stitch_crop > d.n {
            return bad("inference.stitch_crop", i.stitch_crop, "in 1..=N");
        }
        if !(i.pixel_size_m > 0.0 && i.pixel_size_m.is_finite()) {
            return bad(
                "inference.pixel_size_m",
                i.pixel_size_m,
                "a positive length in metres",
            );
        }
        if !(e.learning_rate >= 0.0 && e.learning_rate.is_finite()) {
            return bad(
                "execution.learning_rate",
                e.learning_rate,
                "learning rate must be > 0 (0 = no override)",
            );
        }
        if e.num_workers > 256 {
            return bad("execution.num_workers", e.num_workers, "in 0..=256");
        }
        if e.max_binding_bytes != 0 && e.max_binding_bytes < 1024 {
            return bad(
                "execution.max_binding_bytes",
                e.max_binding_bytes,
                "a byte count ≥ 1024 (0 = the adapter's limit)",
            );
        }
        if !e.fault.trim().is_empty() && e.fault.parse::<Fault>().is_err() {
            return bad(
                "execution.fault",
                &e.fault,
                "oom:N or lost:N (N ≥ 1, the failing submit), or empty",
            );
        }
        Ok(())
    }
}
