//! Learning-rate schedules and early stopping, evaluated once per epoch on the host.

use serde::{Deserialize, Serialize};

use crate::config::{Scheduler, TrainingConfig};

/// Schedule state carried across epochs (saved in checkpoints so a resumed run continues it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    /// Learning rate in force for the next epoch.
    pub lr: f64,
    /// Best monitored loss so far.
    pub best: f64,
    /// Epochs since `best` improved (early stopping).
    pub since_best: usize,
    /// Epochs since the last plateau reduction or improvement.
    pub plateau_wait: usize,
}

/// The learning-rate schedule and early-stopping rule of a [`TrainingConfig`].
#[derive(Clone, Debug)]
pub struct Schedule {
    cfg: TrainingConfig,
    base_lr: f64,
}

/// What to do after an epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochDecision {
    /// Learning rate for the next epoch.
    pub next_lr: f64,
    /// Whether the monitored loss improved on the best so far.
    pub improved: bool,
    /// Whether training should stop (early stopping).
    pub stop: bool,
}

impl Schedule {
    /// A schedule starting from `base_lr` (the learning rate in force).
    pub fn new(cfg: &TrainingConfig, base_lr: f64) -> Self {
        Schedule {
            cfg: cfg.clone(),
            base_lr,
        }
    }

    /// The state before the first epoch.
    pub fn initial(&self) -> ScheduleState {
        ScheduleState {
            lr: self.lr_at(0, self.base_lr),
            best: f64::INFINITY,
            since_best: 0,
            plateau_wait: 0,
        }
    }

    /// Warm-up (linear from lr/10) then the schedule's own value for `epoch` (0-based), where
    /// `plateau_lr` is the plateau schedule's current value.
    fn lr_at(&self, epoch: usize, plateau_lr: f64) -> f64 {
        let c = &self.cfg;
        let lr = match c.scheduler {
            Scheduler::Constant => self.base_lr,
            Scheduler::Plateau => plateau_lr,
            Scheduler::Exponential => self.base_lr * c.exp_gamma.powi(epoch as i32),
            Scheduler::Cosine => {
                let t = (epoch as f64 / c.epochs.max(1) as f64).min(1.0);
                c.min_lr
                    + 0.5 * (self.base_lr - c.min_lr) * (1.0 + (std::f64::consts::PI * t).cos())
            }
        };
        let lr = if c.scheduler == Scheduler::Constant {
            lr
        } else {
            lr.max(c.min_lr)
        };
        if epoch < c.warmup_epochs {
            let f = 0.1 + 0.9 * epoch as f64 / c.warmup_epochs as f64;
            lr * f
        } else {
            lr
        }
    }

    /// Updates `state` after `epoch` (0-based) with the monitored loss.
    pub fn after_epoch(
        &self,
        state: &mut ScheduleState,
        epoch: usize,
        monitored: f64,
    ) -> EpochDecision {
        let c = &self.cfg;
        let improved = monitored < state.best;
        if improved {
            state.best = monitored;
            state.since_best = 0;
            state.plateau_wait = 0;
        } else {
            state.since_best += 1;
            state.plateau_wait += 1;
        }
        // The plateau value evolves on its own track (warm-up is applied on top of it).
        let mut plateau_lr = if epoch < c.warmup_epochs {
            self.base_lr
        } else {
            state.lr
        };
        if c.scheduler == Scheduler::Plateau && state.plateau_wait > c.plateau_patience {
            plateau_lr = (plateau_lr * c.plateau_factor).max(c.min_lr);
            state.plateau_wait = 0;
        }
        let next_lr = self.lr_at(epoch + 1, plateau_lr);
        state.lr = next_lr;
        let stop = c.early_stop_patience > 0 && state.since_best >= c.early_stop_patience;
        EpochDecision {
            next_lr,
            improved,
            stop,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(s: Scheduler) -> TrainingConfig {
        TrainingConfig {
            scheduler: s,
            epochs: 10,
            ..TrainingConfig::default()
        }
    }

    #[test]
    fn plateau_halves_after_patience_and_respects_min_lr() {
        let sch = Schedule::new(&cfg(Scheduler::Plateau), 1e-3);
        let mut st = sch.initial();
        assert_eq!(st.lr, 1e-3);
        // Improves, then 3 flat epochs: patience 2 → reduce on the third.
        let losses = [1.0; 15];
        let mut lrs = Vec::new();
        for (e, &l) in losses.iter().enumerate() {
            lrs.push(sch.after_epoch(&mut st, e, l).next_lr);
        }
        assert_eq!(lrs[0], 1e-3);
        assert_eq!(lrs[2], 1e-3);
        assert_eq!(lrs[3], 5e-4);
        assert_eq!(lrs[6], 2.5e-4);
        assert!(lrs.iter().all(|&l| l >= 1e-4));
        assert_eq!(*lrs.last().unwrap(), 1e-4);
    }

    #[test]
    fn early_stop_after_patience_epochs_without_improvement() {
        let sch = Schedule::new(&cfg(Scheduler::Constant), 1e-3);
        let mut st = sch.initial();
        let d: Vec<bool> = [3.0, 2.0, 2.5, 2.1, 2.0]
            .iter()
            .enumerate()
            .map(|(e, &l)| sch.after_epoch(&mut st, e, l).stop)
            .collect();
        assert_eq!(d, vec![false, false, false, false, true]);
    }

    #[test]
    fn exponential_cosine_and_warmup() {
        let sch = Schedule::new(&cfg(Scheduler::Exponential), 1e-3);
        let mut st = sch.initial();
        let lr1 = sch.after_epoch(&mut st, 0, 1.0).next_lr;
        assert!((lr1 - 1e-3 * 0.95).abs() < 1e-15);
        let sch = Schedule::new(&cfg(Scheduler::Cosine), 1e-3);
        let mut st = sch.initial();
        let mut last = 0.0;
        for e in 0..10 {
            last = sch.after_epoch(&mut st, e, 1.0 / (e + 1) as f64).next_lr;
        }
        assert!((last - 1e-4).abs() < 1e-12, "cosine ends at min_lr: {last}");
        let w = TrainingConfig {
            warmup_epochs: 2,
            scheduler: Scheduler::Constant,
            ..TrainingConfig::default()
        };
        let sch = Schedule::new(&w, 1e-3);
        let mut st = sch.initial();
        assert!((st.lr - 1e-4).abs() < 1e-15);
        assert!((sch.after_epoch(&mut st, 0, 1.0).next_lr - 5.5e-4).abs() < 1e-15);
        assert_eq!(sch.after_epoch(&mut st, 1, 0.5).next_lr, 1e-3);
    }
}
