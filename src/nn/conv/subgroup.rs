//! Tile shape of the subgroup conv kernels (`conv2d_fwd_subgroup`,
//! `conv2d_bwd_weight_subgroup`): one 8-lane subgroup per 8×8-pixel × 16-channel tile.

use super::ConvLayout;

/// Tile shape of the subgroup conv kernels (override constants). The pixel tile (8×8) and the
/// 16 output channels per workgroup are fixed by the kernels' unrolled code; what varies is the
/// lane count they were checked against and, for the weight gradient, the input channels per
/// workgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SubgroupTiling {
    /// Lanes per workgroup = the subgroup size (always [`ConvLayout::SUBGROUP_LANES`]).
    pub sg: u32,
    /// Weight gradient: input channels per workgroup (1 … 7).
    pub ci_t: u32,
}

impl SubgroupTiling {
    /// Pixel tile side.
    pub const TILE: u32 = 8;
    /// Output channels per workgroup (two per lane).
    pub const CO_T: u32 = 16;
    /// Most input channels one weight-gradient workgroup accumulates (2·9·7 = 126 accumulators
    /// per lane; more would spill).
    pub const CI_MAX: u32 = 7;

    /// Input-channel tiles the weight gradient is compiled for. Each is its own pipeline, and
    /// on lavapipe the 7-channel one takes ≈ 7 s to compile on first use (cached on disk by
    /// Mesa afterwards), so the set is small. A tile wider than the channels it gets costs no
    /// arithmetic (empty slots are skipped), but a wide kernel running few channels is slower
    /// (measured: 7-slot kernel on 1 channel ≈ 1.8× slower than the 1-slot one).
    pub const CI_VARIANTS: [u32; 4] = [1, 2, 4, 7];

    /// Picks the weight-gradient input-channel tile for `cin` input channels: the smallest of
    /// [`Self::CI_VARIANTS`] that holds them all, else [`Self::CI_MAX`] (the fewest
    /// workgroups; the last input-channel tile may be partly empty).
    pub fn choose(cin: usize) -> SubgroupTiling {
        let ci_t = Self::CI_VARIANTS
            .into_iter()
            .find(|&v| v as usize >= cin)
            .unwrap_or(Self::CI_MAX);
        SubgroupTiling {
            sg: ConvLayout::SUBGROUP_LANES,
            ci_t,
        }
    }

    pub(crate) fn fwd_constants(&self) -> [(&'static str, f64); 1] {
        [("SG", self.sg as f64)]
    }

    pub(crate) fn weight_constants(&self) -> [(&'static str, f64); 2] {
        [("SG", self.sg as f64), ("CI_T", self.ci_t as f64)]
    }
}
