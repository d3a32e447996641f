//! The job's processes without MPI: the single process's collectives, the rank-order sum and
//! the blocks ranks own (the 2-rank jobs themselves: tests/mpi.rs).

mod common;

use ptycho::dist::{self, Comm};

#[test]
fn rank_order_sum_adds_left_to_right() {
    // Three ranks' vectors of 2: element 0 is 1e8, −1e8, 1 and element 1 is 1e8, 1, −1e8.
    // In f32, (1e8 − 1e8) + 1 = 1 but (1e8 + 1) − 1e8 = 0: the order is part of the result,
    // and it is rank order, left to right.
    let parts = [1e8f32, 1e8, -1e8, 1.0, 1.0, -1e8];
    let mut out = [0.0f32; 2];
    dist::sum_parts_in_order(&parts, 3, &mut out);
    assert_eq!(out, [(1e8f32 + -1e8) + 1.0, (1e8f32 + 1.0) + -1e8]);
    assert_eq!(out, [1.0, 0.0]);
}

#[test]
fn blocks_cover_every_item_once_in_rank_order() {
    for len in [0usize, 1, 5, 38, 1000] {
        for k in 1..=7usize {
            let blocks: Vec<_> = (0..k).map(|r| dist::block(len, k, r)).collect();
            assert_eq!(blocks[0].start, 0);
            assert_eq!(blocks[k - 1].end, len);
            for w in blocks.windows(2) {
                assert_eq!(w[0].end, w[1].start);
            }
            let (lo, hi) = (
                blocks.iter().map(|b| b.len()).min().unwrap(),
                blocks.iter().map(|b| b.len()).max().unwrap(),
            );
            assert!(hi - lo <= 1, "len {len}, k {k}: {blocks:?}");
        }
    }
}

#[test]
fn a_single_process_is_its_own_job() {
    let c = Comm::single();
    assert_eq!(
        (c.rank(), c.size(), c.is_root(), c.is_parallel()),
        (0, 1, true, false)
    );
    let mut v = vec![1.5f32, -2.0];
    c.sum_in_rank_order(&mut v);
    c.broadcast(&mut v);
    assert_eq!(v, [1.5, -2.0]);
    assert_eq!(c.agree(&[("data.n", "64".into())]), Ok(()));
    assert_eq!(c.my_block(10), 0..10);
    assert_eq!(c.all_gather_strings("x"), ["x"]);
    // The test process was not started by mpirun.
    assert!(!dist::launched_by_mpi() || std::env::var_os("OMPI_COMM_WORLD_SIZE").is_some());
    assert_eq!(dist::world().size(), 1);
}

/// A binary without the `mpi` feature started as one of several ranks says how to rebuild
/// instead of training alone on every rank.
#[cfg(not(feature = "mpi"))]
#[test]
fn several_ranks_without_the_feature_are_refused() {
    let out = common::ptycho_env(["devices"], &[("OMPI_COMM_WORLD_SIZE", "2")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("one of 2 MPI ranks") && err.contains("--features mpi"),
        "{err}"
    );
}
