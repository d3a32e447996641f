//! Progress output of training epochs and inference: an indicatif bar on a terminal, one plain
//! line per epoch otherwise.

use std::io::IsTerminal;
use std::time::Instant;

/// Per-epoch progress: an indicatif bar on a terminal, one plain line per epoch otherwise.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    quiet: bool,
    start: Instant,
    label: String,
}

impl Progress {
    /// Starts an epoch of `steps` steps.
    pub fn epoch(label: &str, steps: usize, quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new(steps as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            b.set_prefix(label.to_string());
            b
        });
        Progress {
            bar,
            quiet,
            start: Instant::now(),
            label: label.to_string(),
        }
    }

    /// Reports a finished step with the running loss and throughput.
    pub fn step(&self, loss: f64, patterns: usize) {
        self.advance(1, loss, patterns);
    }

    /// Reports `steps` finished steps (batches) with the running loss and throughput.
    pub fn advance(&self, steps: usize, loss: f64, patterns: usize) {
        if let Some(b) = &self.bar {
            let rate = patterns as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
            b.set_message(format!("loss {loss:.5} {rate:.1} patterns/s"));
            b.inc(steps as u64);
        }
    }

    /// Reports a finished step with the throughput only (inference).
    pub fn tick(&self, patterns: usize) {
        if let Some(b) = &self.bar {
            let rate = patterns as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
            b.set_message(format!("{rate:.1} patterns/s"));
            b.inc(1);
        }
    }

    /// Ends the epoch with its summary line.
    pub fn finish(self, summary: &str) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        if !self.quiet {
            eprintln!("{} {summary}", self.label);
        }
    }

    /// Seconds since the epoch started.
    pub fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }
}
