//! Grouping scan positions into training samples (PtychoPINN's gridsize convention).
//!
//! gridsize 1: every group is one pattern with offset zero. gridsize 2: for each seed pattern,
//! take its K nearest neighbours by scan position (the seed itself excluded), choose C = 4 of
//! them at random; the group centre is the mean of their positions and the relative offset of
//! member c is −(pos_c − centre) (PtychoPINN's local_offset_sign = −1).

use crate::util::rng::SplitMix64;

/// Groups of `c` pattern indices with their geometry.
#[derive(Clone, Debug, PartialEq)]
pub struct Groups {
    /// Members per group (C = gridsize²).
    pub c: usize,
    /// Pattern indices, `len = groups · c`, group-major.
    pub members: Vec<usize>,
    /// Group centres (x, y) in object pixels.
    pub centers: Vec<[f64; 2]>,
    /// Relative offsets (x, y) = −(pos − centre) per member, group-major.
    pub offsets: Vec<[f64; 2]>,
}

impl Groups {
    /// Number of groups.
    pub fn len(&self) -> usize {
        self.centers.len()
    }

    /// Whether there are no groups.
    pub fn is_empty(&self) -> bool {
        self.centers.is_empty()
    }

    /// Largest distance of a member from its group centre (sets the object_big canvas size).
    pub fn max_offset(&self) -> f64 {
        self.offsets
            .iter()
            .map(|o| o[0].hypot(o[1]))
            .fold(0.0, f64::max)
    }

    /// Largest |x| or |y| of a relative offset: the object_big canvas must hold every member
    /// translated by it ([`crate::physics::canvas_side`]).
    pub fn max_abs_offset(&self) -> f64 {
        self.offsets
            .iter()
            .flat_map(|o| [o[0].abs(), o[1].abs()])
            .fold(0.0, f64::max)
    }

    /// The groups at `idx` (in that order).
    pub fn select(&self, idx: &[usize]) -> Groups {
        let c = self.c;
        Groups {
            c,
            members: idx
                .iter()
                .flat_map(|&g| self.members[g * c..(g + 1) * c].iter().copied())
                .collect(),
            centers: idx.iter().map(|&g| self.centers[g]).collect(),
            offsets: idx
                .iter()
                .flat_map(|&g| self.offsets[g * c..(g + 1) * c].iter().copied())
                .collect(),
        }
    }
}

/// Indices of the `k` nearest neighbours of each point (excluding itself), by a uniform-grid
/// search: exact, and near O(M·k) for scan patterns of roughly uniform density.
pub fn nearest_neighbours(xs: &[f64], ys: &[f64], k: usize) -> Vec<Vec<usize>> {
    nearest_neighbours_par(xs, ys, k, 0)
}

/// [`nearest_neighbours`] on `workers` threads (0 = the calling thread); same result.
pub fn nearest_neighbours_par(xs: &[f64], ys: &[f64], k: usize, workers: usize) -> Vec<Vec<usize>> {
    let m = xs.len();
    if m == 0 {
        return Vec::new();
    }
    let (minx, maxx) = xs
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let (miny, maxy) = ys
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let area = ((maxx - minx) * (maxy - miny)).max(1.0);
    let cell = (area * (k as f64 + 1.0) / m as f64).sqrt().max(1e-6);
    let nx = (((maxx - minx) / cell) as usize + 1).min(4096);
    let ny = (((maxy - miny) / cell) as usize + 1).min(4096);
    let cell_of = |x: f64, y: f64| {
        let cx = (((x - minx) / cell) as usize).min(nx - 1);
        let cy = (((y - miny) / cell) as usize).min(ny - 1);
        (cx, cy)
    };
    let mut grid: Vec<Vec<usize>> = vec![Vec::new(); nx * ny];
    for i in 0..m {
        let (cx, cy) = cell_of(xs[i], ys[i]);
        grid[cy * nx + cx].push(i);
    }
    let want = k.min(m - 1);
    let query = |i: usize| -> Vec<usize> {
        let (cx, cy) = cell_of(xs[i], ys[i]);
        let mut cand: Vec<(f64, usize)> = Vec::new();
        let mut ring = 0usize;
        loop {
            // Visit the cells at Chebyshev distance `ring`.
            let (x0, x1) = (cx.saturating_sub(ring), (cx + ring).min(nx - 1));
            let (y0, y1) = (cy.saturating_sub(ring), (cy + ring).min(ny - 1));
            for gy in y0..=y1 {
                for gx in x0..=x1 {
                    if gx.abs_diff(cx).max(gy.abs_diff(cy)) != ring {
                        continue;
                    }
                    for &j in &grid[gy * nx + gx] {
                        if j != i {
                            cand.push(((xs[j] - xs[i]).hypot(ys[j] - ys[i]), j));
                        }
                    }
                }
            }
            cand.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            // Every unvisited point is farther than ring·cell.
            let covered = ring as f64 * cell;
            let done = want == 0 || (cand.len() >= want && cand[want - 1].0 <= covered);
            let exhausted = x0 == 0 && y0 == 0 && x1 == nx - 1 && y1 == ny - 1;
            if done || exhausted || want == 0 {
                break;
            }
            ring += 1;
        }
        cand.truncate(want);
        cand.into_iter().map(|(_, j)| j).collect()
    };
    if workers <= 1 {
        return (0..m).map(query).collect();
    }
    let per = m.div_ceil(workers);
    let mut out = vec![Vec::new(); m];
    std::thread::scope(|s| {
        for (w, slot) in out.chunks_mut(per).enumerate() {
            let query = &query;
            s.spawn(move || {
                for (k, v) in slot.iter_mut().enumerate() {
                    *v = query(w * per + k);
                }
            });
        }
    });
    out
}

/// Forms groups from scan positions. `n_groups = 0` means one group per pattern (each pattern
/// seeds one group); otherwise `n_groups` seeds are drawn without replacement (with replacement
/// beyond the pattern count).
pub fn make_groups(
    xs: &[f64],
    ys: &[f64],
    gridsize: u32,
    k: usize,
    n_groups: usize,
    seed: u64,
) -> Groups {
    make_groups_par(xs, ys, gridsize, k, n_groups, seed, 0)
}

/// [`make_groups`] with the neighbour search on `workers` threads (the result does not depend on
/// the worker count).
pub fn make_groups_par(
    xs: &[f64],
    ys: &[f64],
    gridsize: u32,
    k: usize,
    n_groups: usize,
    seed: u64,
    workers: usize,
) -> Groups {
    let m = xs.len();
    let c = (gridsize * gridsize) as usize;
    let mut rng = SplitMix64::new(seed);
    let count = if n_groups == 0 { m } else { n_groups };
    let mut seeds: Vec<usize> = (0..m).collect();
    if n_groups != 0 {
        rng.shuffle(&mut seeds);
        while seeds.len() < count {
            seeds.push(rng.below(m));
        }
        seeds.truncate(count);
    }
    let mut g = Groups {
        c,
        members: Vec::with_capacity(count * c),
        centers: Vec::new(),
        offsets: Vec::new(),
    };
    if c == 1 {
        for &s in &seeds {
            g.members.push(s);
            g.centers.push([xs[s], ys[s]]);
            g.offsets.push([0.0, 0.0]);
        }
        return g;
    }
    let nn = nearest_neighbours_par(xs, ys, k.max(c), workers);
    for &s in &seeds {
        let mut pool = nn[s].clone();
        rng.shuffle(&mut pool);
        pool.truncate(c);
        pool.sort_unstable();
        let cx = pool.iter().map(|&j| xs[j]).sum::<f64>() / c as f64;
        let cy = pool.iter().map(|&j| ys[j]).sum::<f64>() / c as f64;
        for &j in &pool {
            g.members.push(j);
            g.offsets.push([-(xs[j] - cx), -(ys[j] - cy)]);
        }
        g.centers.push([cx, cy]);
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_search_equals_brute_force() {
        let mut rng = SplitMix64::new(3);
        let xs: Vec<f64> = (0..500).map(|_| 20.0 + 200.0 * rng.uniform()).collect();
        let ys: Vec<f64> = (0..500).map(|_| 20.0 + 100.0 * rng.uniform()).collect();
        let nn = nearest_neighbours(&xs, &ys, 6);
        for i in 0..xs.len() {
            let mut all: Vec<(f64, usize)> = (0..xs.len())
                .filter(|&j| j != i)
                .map(|j| ((xs[j] - xs[i]).hypot(ys[j] - ys[i]), j))
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let want: Vec<usize> = all[..6].iter().map(|p| p.1).collect();
            assert_eq!(nn[i], want, "point {i}");
        }
    }

    #[test]
    fn gridsize_two_groups_follow_the_convention() {
        // A 5×5 grid with step 10: the 4 nearest neighbours of an interior point are its
        // 4-connected neighbours, whose centre is the seed itself.
        let (xs, ys): (Vec<f64>, Vec<f64>) = (0..25)
            .map(|i| ((i % 5) as f64 * 10.0, (i / 5) as f64 * 10.0))
            .unzip();
        let g = make_groups(&xs, &ys, 2, 4, 0, 7);
        assert_eq!(g.len(), 25);
        assert_eq!(g.c, 4);
        let s = 12; // centre of the grid
        let mem = &g.members[s * 4..s * 4 + 4];
        assert_eq!(mem, &[7, 11, 13, 17]);
        assert_eq!(g.centers[s], [20.0, 20.0]);
        for (k, &j) in mem.iter().enumerate() {
            let o = g.offsets[s * 4 + k];
            assert_eq!(o, [-(xs[j] - 20.0), -(ys[j] - 20.0)]);
        }
        // Offsets of every group sum to zero.
        for gi in 0..g.len() {
            let sx: f64 = (0..4).map(|k| g.offsets[gi * 4 + k][0]).sum();
            let sy: f64 = (0..4).map(|k| g.offsets[gi * 4 + k][1]).sum();
            assert!(sx.abs() < 1e-9 && sy.abs() < 1e-9);
        }
        assert_eq!(
            make_groups(&xs, &ys, 2, 4, 0, 7),
            g,
            "same seed, same groups"
        );
        let sub = make_groups(&xs, &ys, 1, 4, 10, 1);
        assert_eq!(sub.len(), 10);
        assert!(sub.offsets.iter().all(|o| *o == [0.0, 0.0]));
    }
}
