//! Shared test helpers: tolerances, a seeded RNG, access to a GPU engine (or a skip), and the
//! one runner of the `ptycho` binary.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use std::ffi::OsStr;
use std::process::{Child, Command, Output, Stdio};

use num_complex::Complex32;
use ptycho::gpu::{Accelerator, Engine, EngineOptions};
use ptycho::util::rng::SplitMix64;

/// Elementwise closeness: |got − want| ≤ abs + rel·|want| (burn's semantics).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tolerance {
    /// Relative part.
    pub(crate) rel: f64,
    /// Absolute part.
    pub(crate) abs: f64,
}

impl Tolerance {
    /// For results that must be bit-identical.
    pub(crate) const EXACT: Tolerance = Tolerance { rel: 0.0, abs: 0.0 };
    /// One or two f32 roundings of an f64 reference.
    pub(crate) const F32_ROUNDING: Tolerance = Tolerance {
        rel: 2.0 * f32::EPSILON as f64,
        abs: 1e-30,
    };
    /// Sums of many f32 terms.
    pub(crate) const F32_SUM: Tolerance = Tolerance {
        rel: 1e-5,
        abs: 1e-6,
    };

    /// Whether `got` is within tolerance of `want`.
    pub(crate) fn close(&self, got: f64, want: f64) -> bool {
        (got - want).abs() <= self.abs + self.rel * want.abs()
    }

    /// Panics naming the first index out of tolerance.
    pub(crate) fn assert_all(&self, what: &str, got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{what}: lengths differ");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!(
                g.is_finite() && self.close(g, w),
                "{what}: element {i}: got {g:e}, want {w:e} (tolerance rel {:e}, abs {:e})",
                self.rel,
                self.abs
            );
        }
    }
}

/// Flattens complex values into (re, im, re, im, …) f64.
pub(crate) fn flat(c: &[Complex32]) -> Vec<f64> {
    c.iter().flat_map(|z| [z.re as f64, z.im as f64]).collect()
}

/// Relative L2 error ‖got − want‖ / ‖want‖ and max relative error max|got − want| / max|want|.
pub(crate) fn rel_errors(got: &[f64], want: &[f64]) -> (f64, f64) {
    assert_eq!(got.len(), want.len());
    let mut num = 0.0;
    let mut den = 0.0;
    let mut max_err: f64 = 0.0;
    let mut max_want: f64 = 0.0;
    for (&g, &w) in got.iter().zip(want) {
        if !g.is_finite() {
            return (f64::INFINITY, f64::INFINITY);
        }
        num += (g - w) * (g - w);
        den += w * w;
        max_err = max_err.max((g - w).abs());
        max_want = max_want.max(w.abs());
    }
    (
        (num / den.max(1e-300)).sqrt(),
        max_err / max_want.max(1e-300),
    )
}

/// A seeded generator for test data: the crate's SplitMix64 with helpers for test values.
#[derive(Clone, Debug)]
pub(crate) struct Rng(SplitMix64);

impl Rng {
    /// Seeded generator.
    pub(crate) fn new(seed: u64) -> Self {
        Rng(SplitMix64::new(seed))
    }
    /// Next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// Uniform in [0, 1).
    pub(crate) fn uniform(&mut self) -> f64 {
        self.0.uniform()
    }
    /// Uniform in [-1, 1) as f32.
    pub(crate) fn sym(&mut self) -> f32 {
        (2.0 * self.uniform() - 1.0) as f32
    }
    /// `n` complex values with parts uniform in [-1, 1).
    pub(crate) fn complex(&mut self, n: usize) -> Vec<Complex32> {
        (0..n)
            .map(|_| Complex32::new(self.sym(), self.sym()))
            .collect()
    }
    /// `n` reals uniform in [-1, 1).
    pub(crate) fn reals(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.sym()).collect()
    }
}

/// The accelerator tests run on (`PTYCHO_TEST_ACCELERATOR`, default auto).
pub(crate) fn test_accelerator() -> Accelerator {
    std::env::var("PTYCHO_TEST_ACCELERATOR")
        .ok()
        .map(|s| s.parse().expect("PTYCHO_TEST_ACCELERATOR"))
        .unwrap_or(Accelerator::Auto)
}

/// A shared engine, or `None` (with a message) when no adapter exists. With
/// `PTYCHO_REQUIRE_GPU=1` (CI) a missing adapter fails the test instead; `PTYCHO_GPU_TESTS=no`
/// skips GPU tests deliberately.
pub(crate) fn gpu_or_skip() -> Option<Arc<Engine>> {
    static ENGINE: OnceLock<Option<Arc<Engine>>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            if std::env::var("PTYCHO_GPU_TESTS").as_deref() == Ok("no") {
                eprintln!("skipping GPU test: PTYCHO_GPU_TESTS=no");
                return None;
            }
            match Engine::new(&EngineOptions {
                accelerator: test_accelerator(),
                ..Default::default()
            }) {
                Ok(e) => Some(Arc::new(e)),
                Err(err) => {
                    if std::env::var("PTYCHO_REQUIRE_GPU").as_deref() == Ok("1") {
                        panic!("PTYCHO_REQUIRE_GPU=1 but no adapter: {err}");
                    }
                    eprintln!("skipping GPU test: {err}");
                    None
                }
            }
        })
        .clone()
}

/// An engine with extra options (not shared), or `None` like [`gpu_or_skip`].
pub(crate) fn gpu_with(options: EngineOptions) -> Option<Engine> {
    gpu_or_skip()?;
    Some(
        Engine::new(&EngineOptions {
            accelerator: test_accelerator(),
            ..options
        })
        .expect("engine"),
    )
}

/// Runs the `ptycho` binary with `args` and the extra environment variables `env`.
pub(crate) fn ptycho_env<I, S>(args: I, env: &[(&str, &str)]) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = Command::new(env!("CARGO_BIN_EXE_ptycho"));
    c.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    spawn(&mut c)
        .expect("run ptycho")
        .wait_with_output()
        .expect("run ptycho")
}

/// Serialises forking a child with having an HDF5 file open in this process.
///
/// HDF5 (1.10.7+) `flock`s every file it opens, on a descriptor opened without `O_CLOEXEC`. A
/// child forked by another test thread while this process has an HDF5 file open inherits that
/// descriptor — and with it the lock — for the child's whole life, and the next open of the file
/// fails with "unable to lock file, errno = 11". So a test holds this guard while it writes an
/// HDF5 file (exclusive lock), and every child is started through [`spawn`]. Readers take shared
/// locks, which coexist, and need not hold it.
pub(crate) fn no_fork_while_hdf5_open() -> MutexGuard<'static, ()> {
    static FORK: Mutex<()> = Mutex::new(());
    FORK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts `c` while no HDF5 file is being written by this process (see
/// [`no_fork_while_hdf5_open`]).
pub(crate) fn spawn(c: &mut Command) -> std::io::Result<Child> {
    let _guard = no_fork_while_hdf5_open();
    c.spawn()
}

/// Runs the `ptycho` binary with `args`.
pub(crate) fn ptycho<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    ptycho_env(args, &[])
}

/// A fresh, empty directory `ptycho-{suite}-{pid}-{name}` in the temp dir.
pub(crate) fn fresh_dir(suite: &str, name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ptycho-{suite}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A path as the `&str` a command line takes.
pub(crate) fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// Asserts that a run succeeded (showing its output if not) and returns its stdout.
pub(crate) fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until the training run in `run` has at least one epoch in metrics.csv (panics after
/// `limit`).
pub(crate) fn wait_for_first_epoch(run: &std::path::Path, limit: std::time::Duration) {
    let t0 = std::time::Instant::now();
    while std::fs::read_to_string(run.join("metrics.csv"))
        .map(|m| m.lines().count() < 2)
        .unwrap_or(true)
    {
        assert!(t0.elapsed() < limit, "training did not finish an epoch");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `kill -SIG pid`.
pub(crate) fn send_signal(pid: u32, sig: &str) {
    let killed = spawn(Command::new("kill").args([format!("-{sig}"), pid.to_string()]))
        .unwrap()
        .wait()
        .unwrap();
    assert!(killed.success(), "kill -{sig} {pid}");
}
