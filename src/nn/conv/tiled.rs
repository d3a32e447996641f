//! Tile shapes of the portable conv kernels (`conv2d_fwd`, `conv2d_bwd_weight`): workgroup-memory
//! tiles with 4×4-pixel × 4-channel register blocks, sized from the adapter's limits.

use crate::gpu::{DeviceProfile, Engine};

fn pow2_at_least(v: usize) -> usize {
    v.max(1).next_power_of_two()
}

/// Tile shape of `conv2d_fwd` (override constants), chosen per adapter and layer shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ConvTiling {
    /// Tile height (multiple of 4).
    pub th: u32,
    /// Tile width (multiple of 4).
    pub tw: u32,
    /// Output channels per workgroup (multiple of 4).
    pub co_t: u32,
    /// Input channels staged per chunk.
    pub ci_t: u32,
}

impl ConvTiling {
    /// Picks the tile for `cin → cout` at `h × w`: 16×16 pixels (smaller for small images),
    /// enough 4-channel groups for about `target` invocations, and the largest input-channel
    /// chunk (≤ 16) whose workgroup memory fits the adapter.
    pub fn choose(engine: &Engine, cin: usize, cout: usize, h: usize, w: usize) -> ConvTiling {
        Self::choose_on(&engine.profile(), cin, cout, h, w)
    }

    /// [`Self::choose`] for a device profile.
    pub fn choose_on(p: &DeviceProfile, cin: usize, cout: usize, h: usize, w: usize) -> ConvTiling {
        let lim = &p.limits;
        let target = if p.is_cpu { 64 } else { 128 }.min(lim.invocations_per_workgroup as usize);
        let th = pow2_at_least(h).clamp(4, 16);
        let tw = pow2_at_least(w).clamp(4, 16);
        let pb = (th / 4) * (tw / 4);
        let co_max = cout.div_ceil(4) * 4;
        let mut co_t = (4 * (target / pb).max(1)).min(co_max).max(4);
        while pb * co_t / 4 > lim.invocations_per_workgroup as usize && co_t > 4 {
            co_t -= 4;
        }
        let tiling = |ci_t: usize| ConvTiling {
            th: th as u32,
            tw: tw as u32,
            co_t: co_t as u32,
            ci_t: ci_t as u32,
        };
        let mut ci_t = pow2_at_least(cin).min(16);
        while ci_t > 1 && tiling(ci_t).workgroup_bytes() > lim.workgroup_storage_bytes as usize {
            ci_t /= 2;
        }
        tiling(ci_t)
    }

    /// Invocations per workgroup: one per 4×4-pixel × 4-channel register block.
    pub fn invocations(&self) -> usize {
        (self.th as usize / 4) * (self.tw as usize / 4) * (self.co_t as usize / 4)
    }

    /// Workgroup memory the kernel declares with this tile: the input tile with its halo and
    /// the weights of `co_t` output channels, for `ci_t` input channels.
    pub fn workgroup_bytes(&self) -> usize {
        let (th, tw, co, ci) = (
            self.th as usize,
            self.tw as usize,
            self.co_t as usize,
            self.ci_t as usize,
        );
        4 * ci * ((th + 2) * (tw + 2) + 9 * co)
    }

    /// The override constants of `conv2d_fwd` for this tile.
    pub fn constants(&self) -> [(&'static str, f64); 4] {
        [
            ("TH", self.th as f64),
            ("TW", self.tw as f64),
            ("CO_T", self.co_t as f64),
            ("CI_T", self.ci_t as f64),
        ]
    }
}

/// Tile shape of `conv2d_bwd_weight`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct WeightTiling {
    /// Pixel tile height.
    pub th: u32,
    /// Pixel tile width (multiple of 4).
    pub tw: u32,
    /// Output channels per workgroup (multiple of 4).
    pub co_t: u32,
    /// Input channels per workgroup.
    pub ci_t: u32,
    /// Row groups per (channel group, input channel).
    pub pr: u32,
}

impl WeightTiling {
    /// Picks the tile for `cin → cout` at `h × w` within the adapter's limits.
    pub fn choose(engine: &Engine, cin: usize, cout: usize, h: usize, w: usize) -> WeightTiling {
        Self::choose_on(&engine.profile(), cin, cout, h, w)
    }

    /// [`Self::choose`] for a device profile.
    pub fn choose_on(
        p: &DeviceProfile,
        cin: usize,
        cout: usize,
        h: usize,
        w: usize,
    ) -> WeightTiling {
        let lim = &p.limits;
        let target = if p.is_cpu { 64 } else { 128 }.min(lim.invocations_per_workgroup as usize);
        let th = pow2_at_least(h).clamp(1, 8);
        let tw = pow2_at_least(w).clamp(4, 8);
        let mut co_t = cout.div_ceil(4).min(4) * 4;
        let mut ci_t = pow2_at_least(cin).min(16);
        loop {
            let threads = (co_t / 4) * ci_t;
            let t = WeightTiling {
                th: th as u32,
                tw: tw as u32,
                co_t: co_t as u32,
                ci_t: ci_t as u32,
                pr: (target / threads).clamp(1, th) as u32,
            };
            if (t.invocations() <= lim.invocations_per_workgroup as usize
                && t.workgroup_bytes() <= lim.workgroup_storage_bytes as usize)
                || (ci_t == 1 && co_t == 4)
            {
                return t;
            }
            if ci_t > 1 {
                ci_t /= 2;
            } else {
                co_t -= 4;
            }
        }
    }

    /// Invocations per workgroup.
    pub fn invocations(&self) -> usize {
        (self.co_t as usize / 4) * self.ci_t as usize * self.pr as usize
    }

    /// Workgroup memory the kernel declares with this tile: the input tiles, the output-gradient
    /// tile and the partial sums of every invocation.
    pub fn workgroup_bytes(&self) -> usize {
        let (th, tw) = (self.th as usize, self.tw as usize);
        let (co, ci, pr) = (self.co_t as usize, self.ci_t as usize, self.pr as usize);
        4 * ci * (th + 2) * (tw + 2) + 4 * th * tw * co + 16 * 10 * (co / 4) * ci * pr
    }

    /// The override constants of `conv2d_bwd_weight` for this tile.
    pub fn constants(&self) -> [(&'static str, f64); 5] {
        [
            ("TH", self.th as f64),
            ("TW", self.tw as f64),
            ("CO_T", self.co_t as f64),
            ("CI_T", self.ci_t as f64),
            ("PR", self.pr as f64),
        ]
    }
}
