//! The MPI side of [`super::Comm`] (rsmpi over the system's Open MPI or MPICH). All calls are
//! made from the main thread (MPI_THREAD_FUNNELED).

use std::sync::OnceLock;

use mpi::Count;
use mpi::datatype::{Partition, PartitionMut};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use super::{Comm, Element, sum_parts_in_order};

static WORLD: OnceLock<Comm> = OnceLock::new();

fn comm() -> SimpleCommunicator {
    SimpleCommunicator::world()
}

/// Records the world's rank, size and node-local rank once MPI is initialised.
pub(super) fn set_world(universe: &mpi::environment::Universe) {
    let w = universe.world();
    let local = w.split_shared(w.rank()).rank();
    let _ = WORLD.set(Comm {
        rank: w.rank() as usize,
        size: w.size() as usize,
        local_rank: local as usize,
    });
}

/// The world communicator, if MPI was initialised.
pub(super) fn world() -> Option<Comm> {
    WORLD.get().copied()
}

/// Counts and offsets of the chunks the ranks reduce ([`super::block`]).
fn chunks(len: usize, k: usize) -> (Vec<Count>, Vec<Count>) {
    let counts = (0..k)
        .map(|r| super::block(len, k, r).len() as Count)
        .collect();
    let displs = (0..k)
        .map(|r| super::block(len, k, r).start as Count)
        .collect();
    (counts, displs)
}

/// Reduce-scatter then all-gather by chunks: rank r receives chunk r of every rank
/// (all-to-all), adds the K pieces in rank order, and every rank gathers the summed chunks.
/// Each element is added on exactly one rank in rank order, so the result does not depend on
/// MPI's reduction algorithms; a rank moves 2·(K−1)/K of the vector each way, as a ring
/// all-reduce does. Returns the bytes this rank sent and received.
pub(super) fn sum_in_rank_order<T: Element>(c: &Comm, v: &mut [T]) -> u64 {
    let world = comm();
    let (k, me) = (c.size, c.rank);
    let (counts, displs) = chunks(v.len(), k);
    let mine = counts[me] as usize;
    // What every rank sends to rank j is its own chunk j; what rank `me` receives is chunk
    // `me` of each rank, laid out rank after rank.
    let recv_counts: Vec<Count> = vec![mine as Count; k];
    let recv_displs: Vec<Count> = (0..k).map(|j| (j * mine) as Count).collect();
    let mut parts = vec![T::default(); k * mine];
    {
        let send = Partition::new(&*v, &counts[..], &displs[..]);
        let mut recv = PartitionMut::new(&mut parts[..], &recv_counts[..], &recv_displs[..]);
        world.all_to_all_varcount_into(&send, &mut recv);
    }
    let mut summed = vec![T::default(); mine];
    sum_parts_in_order(&parts, k, &mut summed);
    {
        let mut recv = PartitionMut::new(&mut *v, &counts[..], &displs[..]);
        world.all_gather_varcount_into(&summed[..], &mut recv);
    }
    let elem = std::mem::size_of::<T>() as u64;
    // Sent and received in both phases: the other ranks' chunks out and this rank's chunk in
    // K − 1 times, then the reverse.
    2 * ((v.len() - mine) + (k - 1) * mine) as u64 * elem
}

/// Rank 0's values to every rank.
pub(super) fn broadcast<T: Element>(v: &mut [T]) {
    let world = comm();
    world.process_at_rank(0).broadcast_into(v);
}

/// Every rank's bytes, in rank order.
pub(super) fn all_gather_bytes(b: &[u8]) -> Vec<Vec<u8>> {
    // Each message travels behind one marker byte: an empty slice's dangling pointer (0x1 for
    // u8) is Open MPI's MPI_IN_PLACE, which MPI_Allgatherv would take for "in place".
    let mut framed = Vec::with_capacity(b.len() + 1);
    framed.push(b'#');
    framed.extend_from_slice(b);
    let b = &framed[..];
    let world = comm();
    let k = world.size() as usize;
    let mut lens = vec![0 as Count; k];
    world.all_gather_into(&(b.len() as Count), &mut lens[..]);
    let displs: Vec<Count> = lens
        .iter()
        .scan(0, |acc, &l| {
            let d = *acc;
            *acc += l;
            Some(d)
        })
        .collect();
    let total: usize = lens.iter().map(|&l| l as usize).sum();
    let mut all = vec![0u8; total];
    {
        let mut recv = PartitionMut::new(&mut all[..], &lens[..], &displs[..]);
        world.all_gather_varcount_into(b, &mut recv);
    }
    (0..k)
        .map(|r| all[displs[r] as usize + 1..(displs[r] + lens[r]) as usize].to_vec())
        .collect()
}

/// MPI_Abort on the world.
pub(super) fn abort(code: i32) -> ! {
    comm().abort(code)
}
