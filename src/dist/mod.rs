//! Processes that work on one job together: MPI ranks under `mpirun`/`srun` (the `mpi`
//! feature), or the single process of every other run.
//!
//! [`world`] is the job's communicator. Its collectives are deterministic by construction:
//! [`Comm::sum_in_rank_order`] adds every element on one rank, in rank order 0, 1, …, K − 1,
//! so a K-rank run gives the same bits from run to run, whatever the transport's own reduction
//! order. A single process has size 1 and every collective returns its input.
//!
//! Nothing here knows about training or inference: the workflows decide what is summed.

use std::ops::Add;

#[cfg(feature = "mpi")]
mod mpi_comm;

/// What MPI can move: its `Equivalence` with the `mpi` feature, anything without.
#[cfg(feature = "mpi")]
pub trait Transport: ::mpi::traits::Equivalence {}
#[cfg(feature = "mpi")]
impl<T: ::mpi::traits::Equivalence> Transport for T {}
/// What MPI can move: its `Equivalence` with the `mpi` feature, anything without.
#[cfg(not(feature = "mpi"))]
pub trait Transport {}
#[cfg(not(feature = "mpi"))]
impl<T> Transport for T {}

/// Numbers the collectives add (f32 gradients, f64 sums).
pub trait Element: Copy + Add<Output = Self> + Default + Transport {}
impl Element for f32 {}
impl Element for f64 {}

/// A failure of a collective step that every rank sees alike (so every rank stops with the
/// same message and none waits on another).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    /// The first rank (in rank order) that differs from rank 0.
    pub rank: usize,
    /// The key it differs on.
    pub key: String,
    /// Rank 0's value.
    pub expected: String,
    /// That rank's value.
    pub found: String,
}

impl std::fmt::Display for Disagreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rank {} disagrees with rank 0 on {}: {} there, {} on rank 0",
            self.rank, self.key, self.found, self.expected
        )
    }
}

/// The job's processes.
#[derive(Clone, Copy, Debug)]
pub struct Comm {
    rank: usize,
    size: usize,
    local_rank: usize,
}

/// Bytes and seconds spent in [`Comm::sum_in_rank_order`] by this process.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Traffic {
    /// Calls.
    pub calls: u64,
    /// Bytes this rank sent and received.
    pub bytes: u64,
    /// Seconds inside the calls.
    pub seconds: f64,
}

static TRAFFIC: std::sync::Mutex<Traffic> = std::sync::Mutex::new(Traffic {
    calls: 0,
    bytes: 0,
    seconds: 0.0,
});

/// What this process has moved so far.
pub fn traffic() -> Traffic {
    *TRAFFIC.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(feature = "mpi")]
fn count_traffic(bytes: u64, seconds: f64) {
    let mut t = TRAFFIC.lock().unwrap_or_else(|e| e.into_inner());
    t.calls += 1;
    t.bytes += bytes;
    t.seconds += seconds;
}

/// Keeps MPI initialised while it lives (finalises on drop); [`world`] works while it does.
pub struct Session {
    #[cfg(feature = "mpi")]
    _universe: Option<::mpi::environment::Universe>,
}

/// Whether this process was started by an MPI launcher (`mpirun`, `mpiexec`, Slurm's `srun`
/// with PMI/PMIx), from the variables they set.
pub fn launched_by_mpi() -> bool {
    [
        "OMPI_COMM_WORLD_SIZE",
        "PMI_SIZE",
        "PMIX_RANK",
        "MPI_LOCALNRANKS",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some())
}

/// How many processes the launcher started with this one, as its variables say (1 if none
/// says): Open MPI's, PMI's, or Slurm's for the tasks of this `srun` step (also under
/// `srun --mpi=none`, where MPI itself would see K separate jobs of one).
pub fn launched_size() -> usize {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"]
        .iter()
        .filter_map(|v| std::env::var(v).ok()?.trim().parse::<usize>().ok())
        .max()
        .unwrap_or(1)
}

/// Initialises MPI when the process was started by an MPI launcher and the binary has the
/// `mpi` feature; otherwise the job is this one process. Err: started as one of several
/// processes that MPI would not join into one job (a binary without the feature, or `srun`
/// without MPI wiring): each would silently train alone into the same directory.
pub fn init() -> Result<Session, String> {
    let launched = launched_size();
    #[cfg(feature = "mpi")]
    {
        let session = if launched_by_mpi() || launched > 1 {
            let (universe, _) = ::mpi::initialize_with_threading(::mpi::Threading::Funneled)
                .ok_or("MPI was already initialised")?;
            mpi_comm::set_world(&universe);
            Session {
                _universe: Some(universe),
            }
        } else {
            Session { _universe: None }
        };
        let size = world().size();
        if launched > size {
            return Err(format!(
                "started as one of {launched} processes, but MPI joined only {size} of them: under Slurm use `srun --mpi=pmix` (or the MPI plugin your site documents), or mpirun"
            ));
        }
        if size > 1 {
            world().abort_on_panic();
        }
        Ok(session)
    }
    #[cfg(not(feature = "mpi"))]
    {
        if launched > 1 {
            return Err(format!(
                "started as one of {launched} MPI ranks, but this ptycho was built without the `mpi` feature: \
                 rebuild with `cargo build --release --features mpi` (Open MPI: libopenmpi-dev, libclang-dev)"
            ));
        }
        Ok(Session {})
    }
}

/// The job's communicator: every rank under MPI ([`init`] must have run), else the single
/// process.
pub fn world() -> Comm {
    #[cfg(feature = "mpi")]
    if let Some(c) = mpi_comm::world() {
        return c;
    }
    Comm::single()
}

impl Comm {
    /// The single process.
    pub fn single() -> Comm {
        Comm {
            rank: 0,
            size: 1,
            local_rank: 0,
        }
    }

    /// This process's rank, 0 ≤ rank < size.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Number of processes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Rank among the processes on this node (spreads ranks over a node's adapters).
    pub fn local_rank(&self) -> usize {
        self.local_rank
    }

    /// Whether this is rank 0 (the one that writes files).
    pub fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// Whether more than one process takes part.
    pub fn is_parallel(&self) -> bool {
        self.size > 1
    }

    /// Replaces `v` on every rank by the element-wise sum over ranks, each element added on one
    /// rank in rank order (v₀ + v₁ + … + v_{K−1}): deterministic and the same on every rank.
    /// Every rank must call it with the same length.
    pub fn sum_in_rank_order<T: Element>(&self, v: &mut [T]) {
        if self.size == 1 {
            return;
        }
        let t = std::time::Instant::now();
        #[cfg(feature = "mpi")]
        {
            let bytes = mpi_comm::sum_in_rank_order(self, v);
            count_traffic(bytes, t.elapsed().as_secs_f64());
        }
        #[cfg(not(feature = "mpi"))]
        {
            let _ = (v, t);
            unreachable!("more than one rank needs the mpi feature");
        }
    }

    /// Sends rank 0's `v` to every rank.
    pub fn broadcast<T: Element>(&self, v: &mut [T]) {
        if self.size == 1 {
            return;
        }
        #[cfg(feature = "mpi")]
        mpi_comm::broadcast(v);
        #[cfg(not(feature = "mpi"))]
        let _ = v;
    }

    /// Checks that every rank holds the same value for each key (configuration, data): the
    /// first disagreement in rank order, the same on every rank. Every rank must pass the same
    /// keys in the same order.
    pub fn agree(&self, items: &[(&str, String)]) -> Result<(), Disagreement> {
        if self.size == 1 {
            return Ok(());
        }
        let mine: String = items.iter().map(|(_, v)| format!("{v}\u{1f}")).collect();
        let all = self.all_gather_strings(&mine);
        let values = |s: &str| s.split('\u{1f}').map(str::to_string).collect::<Vec<_>>();
        let root = values(&all[0]);
        for (r, s) in all.iter().enumerate().skip(1) {
            let theirs = values(s);
            for (i, (k, _)) in items.iter().enumerate() {
                let (e, f) = (
                    root.get(i).cloned().unwrap_or_default(),
                    theirs.get(i).cloned().unwrap_or_default(),
                );
                if e != f {
                    return Err(Disagreement {
                        rank: r,
                        key: k.to_string(),
                        expected: e,
                        found: f,
                    });
                }
            }
        }
        Ok(())
    }

    /// Every rank's string, in rank order.
    pub fn all_gather_strings(&self, s: &str) -> Vec<String> {
        if self.size == 1 {
            return vec![s.to_string()];
        }
        #[cfg(feature = "mpi")]
        {
            mpi_comm::all_gather_bytes(s.as_bytes())
                .into_iter()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .collect()
        }
        #[cfg(not(feature = "mpi"))]
        unreachable!("more than one rank needs the mpi feature")
    }

    /// Makes a panic on this rank end the whole job with one line naming the rank (a panic
    /// would otherwise unwind into MPI's finalisation, which waits for ranks that wait for
    /// this one).
    pub fn abort_on_panic(&self) {
        let c = *self;
        std::panic::set_hook(Box::new(move |info| {
            eprintln!(
                "error: rank {} of {}: internal error: {info}",
                c.rank, c.size
            );
            c.abort(101);
        }));
    }

    /// Ends every rank of the job now, after this rank has printed why (never a hang on a
    /// rank that waits for this one). The single process just exits.
    pub fn abort(&self, code: i32) -> ! {
        #[cfg(feature = "mpi")]
        if self.size > 1 {
            mpi_comm::abort(code);
        }
        std::process::exit(code)
    }

    /// The contiguous block of `len` items this rank owns ([`block`]).
    pub fn my_block(&self, len: usize) -> std::ops::Range<usize> {
        block(len, self.size, self.rank)
    }
}

/// The contiguous block of `len` items rank `rank` of `k` owns: [r·len/k, (r+1)·len/k), blocks
/// in rank order, sizes differing by at most one.
pub fn block(len: usize, k: usize, rank: usize) -> std::ops::Range<usize> {
    (rank * len / k)..((rank + 1) * len / k)
}

/// The element-wise sum of `parts` (each `len` long, in rank order) as
/// [`Comm::sum_in_rank_order`] forms it: out[i] = parts[0][i] + parts[1][i] + … (left to right).
pub fn sum_parts_in_order<T: Element>(parts: &[T], k: usize, out: &mut [T]) {
    let len = out.len();
    debug_assert_eq!(parts.len(), k * len);
    out.copy_from_slice(&parts[..len]);
    for j in 1..k {
        for (o, p) in out.iter_mut().zip(&parts[j * len..(j + 1) * len]) {
            *o = *o + *p;
        }
    }
}
