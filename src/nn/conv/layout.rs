//! Which conv kernel family a layer runs ([`ConvLayout`]) and the tiling of each pass
//! ([`PassTiling`]).

use crate::gpu::{DeviceProfile, Engine};

use super::{ConvTiling, SubgroupTiling, WeightTiling};
use crate::nn::{NnError, Result};

/// Which family of conv kernels a layer runs.
///
/// - [`ConvLayout::Tiled`]: `conv2d_fwd` / `conv2d_bwd_weight`, workgroup-memory tiles with
///   4×4-pixel × 4-channel register blocks ([`ConvTiling`], [`WeightTiling`]); runs anywhere.
/// - [`ConvLayout::Subgroup`]: `conv2d_fwd_subgroup` / `conv2d_bwd_weight_subgroup`, one
///   8-lane subgroup per 8×8-pixel × 16-channel tile with the input halo spread by
///   `subgroupBroadcast` ([`SubgroupTiling`]). Valid only where the device has
///   `Features::SUBGROUP` and every subgroup is exactly 8 lanes (min = max = 8), the width its
///   unrolled broadcasts are written for. It is lavapipe's fastest measured layout
///   (performance-notes.md); whether it pays on a GPU is unmeasured, so [`ConvLayout::auto`]
///   picks it only on CPU adapters.
///
/// The configuration's `execution.conv_layout` ([`ConvLayoutChoice`], environment variable
/// `PTYCHO_CONV_LAYOUT`) forces either; forcing `subgroup` where it is not valid is an error,
/// never a silent fallback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConvLayout {
    /// Workgroup-memory tiles, register blocks (any adapter).
    Tiled,
    /// One 8-lane subgroup per tile, halo by broadcast (subgroup size exactly 8).
    Subgroup,
}

/// A requested conv layout: one of [`ConvLayout`], or the adapter's automatic choice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConvLayoutChoice {
    /// [`ConvLayout::auto`].
    #[default]
    Auto,
    /// [`ConvLayout::Tiled`].
    Tiled,
    /// [`ConvLayout::Subgroup`] (an error where the adapter cannot run it).
    Subgroup,
}

impl ConvLayout {
    /// Lanes the subgroup kernels are written for.
    pub const SUBGROUP_LANES: u32 = 8;

    /// Name as written in the configuration and the bench reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ConvLayout::Tiled => "tiled",
            ConvLayout::Subgroup => "subgroup",
        }
    }

    /// Whether `engine` can run [`ConvLayout::Subgroup`]: subgroup operations enabled and every
    /// subgroup exactly [`Self::SUBGROUP_LANES`] wide.
    pub fn subgroup_valid(engine: &Engine) -> bool {
        Self::subgroup_valid_on(&engine.profile())
    }

    /// [`Self::subgroup_valid`] for a device profile.
    pub fn subgroup_valid_on(p: &DeviceProfile) -> bool {
        p.subgroups
            && p.limits.subgroup_min_size == Self::SUBGROUP_LANES
            && p.limits.subgroup_max_size == Self::SUBGROUP_LANES
    }

    /// The layouts `engine` can run (tests and benches run each).
    pub fn available(engine: &Engine) -> Vec<ConvLayout> {
        let mut v = vec![ConvLayout::Tiled];
        if Self::subgroup_valid(engine) {
            v.push(ConvLayout::Subgroup);
        }
        v
    }

    /// The automatic choice: [`ConvLayout::Subgroup`] where valid on a CPU adapter (where it was
    /// measured fastest), [`ConvLayout::Tiled`] otherwise.
    pub fn auto(engine: &Engine) -> ConvLayout {
        Self::auto_on(&engine.profile()).0
    }

    /// The automatic choice on a device profile, and why (what `ptycho devices` prints): the
    /// layout, and the feature or measurement that decided it.
    pub fn auto_on(p: &DeviceProfile) -> (ConvLayout, String) {
        let (lo, hi) = (p.limits.subgroup_min_size, p.limits.subgroup_max_size);
        let lanes = if lo == hi {
            format!("{lo} lanes")
        } else {
            format!("{lo}–{hi} lanes")
        };
        let n = Self::SUBGROUP_LANES;
        if !p.subgroups {
            return (
                ConvLayout::Tiled,
                "no subgroup operations: the portable workgroup-memory tiles".into(),
            );
        }
        if !Self::subgroup_valid_on(p) {
            return (
                ConvLayout::Tiled,
                format!(
                    "subgroups of {lanes}; the subgroup kernels need exactly {n}: the portable \
                     workgroup-memory tiles"
                ),
            );
        }
        if p.is_cpu {
            (
                ConvLayout::Subgroup,
                format!("CPU adapter with {n}-lane subgroups: the fastest layout measured there"),
            )
        } else {
            (
                ConvLayout::Tiled,
                format!(
                    "GPU with {n}-lane subgroups: the subgroup kernels are measured only on CPU \
                     adapters (conv_layout = subgroup forces them)"
                ),
            )
        }
    }

    /// Resolves a requested layout (`None` or `"auto"`: [`ConvLayout::auto`]); fails for an
    /// unknown name or a subgroup layout the adapter cannot run.
    pub fn resolve(engine: &Engine, requested: Option<&str>) -> Result<ConvLayout> {
        let layout = match requested.map(str::trim) {
            None | Some("") | Some("auto") => return Ok(Self::auto(engine)),
            Some("tiled") => ConvLayout::Tiled,
            Some("subgroup") => ConvLayout::Subgroup,
            Some(other) => {
                return Err(NnError::InvalidArgument(format!(
                    "conv layout '{other}': expected tiled, subgroup or auto"
                )));
            }
        };
        layout.check(engine)?;
        Ok(layout)
    }

    /// The layout `choice` asks for on `engine` (an error if the adapter cannot run it).
    pub fn choose(engine: &Engine, choice: ConvLayoutChoice) -> Result<ConvLayout> {
        let layout = match choice {
            ConvLayoutChoice::Auto => return Ok(Self::auto(engine)),
            ConvLayoutChoice::Tiled => ConvLayout::Tiled,
            ConvLayoutChoice::Subgroup => ConvLayout::Subgroup,
        };
        layout.check(engine)?;
        Ok(layout)
    }

    /// Fails if `engine` cannot run this layout.
    pub fn check(self, engine: &Engine) -> Result<()> {
        if self == ConvLayout::Subgroup && !Self::subgroup_valid(engine) {
            let l = engine.limits();
            return Err(NnError::InvalidArgument(format!(
                "conv layout 'subgroup' needs subgroup operations with exactly {} lanes; {} has \
                 subgroups {}, sizes {}–{}",
                Self::SUBGROUP_LANES,
                engine.describe(),
                if engine.has_subgroups() { "on" } else { "off" },
                l.subgroup_min_size,
                l.subgroup_max_size
            )));
        }
        Ok(())
    }
}

impl std::fmt::Display for ConvLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The tiling of one conv pass, whichever layout it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum PassTiling {
    /// `conv2d_fwd` (forward or input gradient).
    Tiled(ConvTiling),
    /// `conv2d_bwd_weight`.
    TiledWeight(WeightTiling),
    /// `conv2d_fwd_subgroup` or `conv2d_bwd_weight_subgroup`.
    Subgroup(SubgroupTiling),
}

impl PassTiling {
    /// Workgroup memory the pass's kernel declares, bytes (the subgroup kernels declare none).
    pub fn workgroup_bytes(&self) -> usize {
        match self {
            PassTiling::Tiled(t) => t.workgroup_bytes(),
            PassTiling::TiledWeight(t) => t.workgroup_bytes(),
            PassTiling::Subgroup(_) => 0,
        }
    }

    /// `(tile height, tile width, output channels, input channels)` per workgroup.
    pub fn shape(&self) -> (u32, u32, u32, u32) {
        match *self {
            PassTiling::Tiled(t) => (t.th, t.tw, t.co_t, t.ci_t),
            PassTiling::TiledWeight(t) => (t.th, t.tw, t.co_t, t.ci_t),
            PassTiling::Subgroup(t) => (
                SubgroupTiling::TILE,
                SubgroupTiling::TILE,
                SubgroupTiling::CO_T,
                t.ci_t,
            ),
        }
    }
}

impl std::fmt::Display for PassTiling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            PassTiling::Tiled(t) => write!(f, "tiled {}x{}x{} ci{}", t.th, t.tw, t.co_t, t.ci_t),
            PassTiling::TiledWeight(t) => {
                write!(
                    f,
                    "tiled {}x{}x{} ci{} pr{}",
                    t.th, t.tw, t.co_t, t.ci_t, t.pr
                )
            }
            PassTiling::Subgroup(t) => write!(f, "subgroup{} 8x8x16 ci{}", t.sg, t.ci_t),
        }
    }
}
