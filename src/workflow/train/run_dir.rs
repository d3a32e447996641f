//! Run directories: creation rules, the marker file, metrics.csv and the interrupt flag.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use thiserror::Error;

use crate::util::fs;

/// Name of the marker file that identifies a ptycho run directory.
pub const MARKER: &str = "ptycho-run.json";

/// Errors about run and output directories.
#[derive(Debug, Error)]
pub enum RunError {
    /// The directory exists, holds files, and is not a ptycho run.
    #[error(
        "output directory {0} exists and is not a ptycho run directory; choose another or pass --overwrite"
    )]
    NotARun(String),
    /// The directory is a ptycho run and would be overwritten.
    #[error(
        "output directory {0} already holds a ptycho run; pass --resume {0} to continue it or --overwrite to replace it"
    )]
    Exists(String),
    /// File-system failure.
    #[error("{path}: {message}")]
    Io {
        /// The path.
        path: String,
        /// The OS message.
        message: String,
    },
}

fn io(path: &Path, e: std::io::Error) -> RunError {
    RunError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Whether `dir` contains the run marker.
pub fn is_run_dir(dir: &Path) -> bool {
    dir.join(MARKER).is_file()
}

/// Prepares `dir` for a new run (`kind` = "train" or "infer"): creates it, or refuses an existing
/// non-empty directory unless `overwrite`; writes the marker.
pub fn prepare_dir(dir: &Path, kind: &str, overwrite: bool) -> Result<(), RunError> {
    check_dir(dir, overwrite)?;
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let marker = serde_json::json!({ "kind": kind, "ptycho_version": env!("CARGO_PKG_VERSION") });
    fs::write_bytes_atomic(&dir.join(MARKER), marker.to_string().as_bytes()).map_err(|e| io(dir, e))
}

/// The refusal part of [`prepare_dir`], without writing anything: call it before reading the
/// inputs, so that bad inputs leave no directory behind.
pub fn check_dir(dir: &Path, overwrite: bool) -> Result<(), RunError> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .map_err(|e| io(dir, e))?
            .next()
            .is_none();
        if !empty && !overwrite {
            return Err(if is_run_dir(dir) {
                RunError::Exists(dir.display().to_string())
            } else {
                RunError::NotARun(dir.display().to_string())
            });
        }
    }
    Ok(())
}

/// One row of metrics.csv.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochRow {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Mean validation loss (NaN without a validation set).
    pub val_loss: f64,
    /// Learning rate used in the epoch.
    pub lr: f64,
    /// Wall-clock seconds of the epoch.
    pub seconds: f64,
}

/// Rewrites `metrics.csv` atomically with all rows so far.
pub fn write_metrics(path: &Path, rows: &[EpochRow]) -> Result<(), RunError> {
    let mut s = String::from("epoch,train_loss,val_loss,lr,seconds\n");
    for r in rows {
        s.push_str(&format!(
            "{},{:.9e},{:.9e},{:.6e},{:.3}\n",
            r.epoch, r.train_loss, r.val_loss, r.lr, r.seconds
        ));
    }
    fs::write_bytes_atomic(path, s.as_bytes()).map_err(|e| io(path, e))
}

/// Reads `metrics.csv` back (for `--resume`).
pub fn read_metrics(path: &Path) -> Result<Vec<EpochRow>, RunError> {
    let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
    let mut rows = Vec::new();
    for (k, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let bad = || RunError::Io {
            path: path.display().to_string(),
            message: format!("line {}: malformed row '{line}'", k + 1),
        };
        if f.len() != 5 {
            return Err(bad());
        }
        let num = |s: &str| s.parse::<f64>().map_err(|_| bad());
        rows.push(EpochRow {
            epoch: f[0].parse().map_err(|_| bad())?,
            train_loss: num(f[1])?,
            val_loss: num(f[2])?,
            lr: num(f[3])?,
            seconds: num(f[4])?,
        });
    }
    Ok(rows)
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// Whether the first interrupt prints its line ([`install_interrupt_handler`]).
static ANNOUNCE: AtomicBool = AtomicBool::new(true);

/// Installs the interrupt handler: a signal sets a flag the training loop polls between steps,
/// so the step finishes, a checkpoint is written and the run exits cleanly; a second signal
/// exits at once (status 128 + the signal). On Unix that is SIGINT (Ctrl-C), SIGTERM (`kill`, a
/// batch scheduler's time limit, and what `mpirun` sends its ranks on Ctrl-C — followed by
/// SIGKILL after its `odls_base_sigkill_timeout`, 1 s by default), SIGHUP (the terminal went
/// away) and SIGUSR1 (which `mpirun` forwards to every rank); elsewhere Ctrl-C. A signal the
/// process inherited as ignored stays ignored (SIGHUP under `nohup`, SIGINT in a shell's
/// background job). Safe to call more than once. `announce`: whether the first signal prints
/// what happens next (rank 0 of an MPI run does; the others stay quiet, so that one signal to
/// `mpirun` gives one line, not one per rank).
pub fn install_interrupt_handler(announce: bool) {
    ANNOUNCE.store(announce, Ordering::SeqCst);
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(unix)]
        {
            use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
            let names = [
                (SIGINT, "Ctrl-C (SIGINT)"),
                (SIGTERM, "SIGTERM"),
                (SIGHUP, "SIGHUP"),
                (SIGUSR1, "SIGUSR1"),
            ];
            let wanted: Vec<i32> = names
                .iter()
                .map(|&(s, _)| s)
                .filter(|&s| !inherited_as_ignored(s))
                .collect();
            // If registration fails the signals keep their default action: the run ends
            // without a checkpoint.
            if let Ok(mut signals) = signal_hook::iterator::Signals::new(wanted) {
                std::thread::spawn(move || {
                    for sig in signals.forever() {
                        let name = names
                            .iter()
                            .find(|(s, _)| *s == sig)
                            .map_or("signal", |n| n.1);
                        on_interrupt(name, 128 + sig);
                    }
                });
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrlc::set_handler(|| on_interrupt("Ctrl-C", 130));
        }
    });
}

/// Whether `sig`'s current disposition is SIG_IGN.
#[cfg(unix)]
fn inherited_as_ignored(sig: i32) -> bool {
    // SAFETY: sigaction with a null new action only reads the current one into `old`, a
    // zeroed sigaction that it fully writes.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

/// The first interrupt asks for a checkpoint; the second ends the process.
fn on_interrupt(name: &str, abort_status: i32) {
    if INTERRUPTED.swap(true, Ordering::SeqCst) {
        std::process::exit(abort_status);
    }
    if !ANNOUNCE.load(Ordering::SeqCst) {
        return;
    }
    // Not `eprintln!`: after SIGHUP stderr may be a closed terminal, and the flag is what counts.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "\n{name}: finishing the current step and writing a checkpoint (a second signal aborts)"
    );
}

/// Whether an interrupt was requested.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Requests an interrupt (tests use it to simulate Ctrl-C).
pub fn request_interrupt(on: bool) {
    INTERRUPTED.store(on, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_foreign_dirs_and_round_trips_metrics() {
        let base = std::env::temp_dir().join(format!("ptycho-run-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("foreign")).unwrap();
        std::fs::write(base.join("foreign/data.txt"), "x").unwrap();
        let e = prepare_dir(&base.join("foreign"), "train", false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not a ptycho run") && e.contains("--overwrite"),
            "{e}"
        );
        prepare_dir(&base.join("foreign"), "train", true).unwrap();
        prepare_dir(&base.join("new"), "train", false).unwrap();
        assert!(is_run_dir(&base.join("new")));
        let e = prepare_dir(&base.join("new"), "train", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--resume"), "{e}");
        let rows = vec![
            EpochRow {
                epoch: 1,
                train_loss: 1.5,
                val_loss: 1.25,
                lr: 1e-3,
                seconds: 2.0,
            },
            EpochRow {
                epoch: 2,
                train_loss: 0.75,
                val_loss: f64::NAN,
                lr: 5e-4,
                seconds: 1.0,
            },
        ];
        let p = base.join("new/metrics.csv");
        write_metrics(&p, &rows).unwrap();
        let back = read_metrics(&p).unwrap();
        assert_eq!(back[0], rows[0]);
        assert!(back[1].val_loss.is_nan());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
