//! What `ptycho devices` reports for each adapter beyond its limits: the conv layout the
//! configuration gets there and why, the tiles PtychoPINN's network gets in it, and the FFT
//! variant per pattern size. Derived from each adapter's [`DeviceProfile`] without opening a
//! device, by the same functions the kernels are built with.

use serde::Serialize;

use crate::fft::{self, FftOptions};
use crate::gpu::{self, AdapterSummary, DeviceProfile, LimitsProfile};
use crate::model::{Layout, NetConfig};
use crate::nn::{Conv2d, ConvLayout, ConvLayoutChoice, PassTiling};

/// The tiles of one conv layer.
#[derive(Clone, Debug, Serialize)]
pub struct ConvPlan {
    /// Layer name (`encoder.0.conv0`, …).
    pub layer: String,
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Image side.
    pub size: usize,
    /// Forward pass.
    pub forward: PassTiling,
    /// Input-gradient pass.
    pub input_grad: PassTiling,
    /// Weight-gradient pass.
    pub weight_grad: PassTiling,
    /// Largest workgroup memory of the three passes, bytes (0 for the subgroup layout).
    pub workgroup_bytes: usize,
}

/// How one FFT length runs.
#[derive(Clone, Debug, Serialize)]
pub struct FftPlan {
    /// Line length (the pattern side).
    pub len: usize,
    /// `workgroup` (one `fft_lines` dispatch per axis) or `global` (`fft_stage` passes).
    pub variant: &'static str,
    /// Lines per workgroup of the workgroup-memory kernel (0 for `global`).
    pub lines_per_workgroup: u32,
}

/// One adapter with the kernels it would get.
#[derive(Clone, Debug, Serialize)]
pub struct AdapterPlan {
    /// The adapter and its limits.
    #[serde(flatten)]
    pub adapter: AdapterSummary,
    /// The conv layout the configuration gets on it (`None`: it cannot run the forced one).
    pub conv_layout: Option<ConvLayout>,
    /// Why: the automatic choice's reason, that the configuration forced it, or why the forced
    /// layout cannot run.
    pub conv_reason: String,
    /// The tiles of every distinct conv shape of the network the plan was made for.
    pub convs: Vec<ConvPlan>,
    /// The FFT variant per pattern size.
    pub fft: Vec<FftPlan>,
}

/// The conv layout `choice` gets on `p`, and why.
pub fn conv_layout_on(p: &DeviceProfile, choice: ConvLayoutChoice) -> (Option<ConvLayout>, String) {
    let (auto, why) = ConvLayout::auto_on(p);
    match choice {
        ConvLayoutChoice::Auto => (Some(auto), why),
        ConvLayoutChoice::Tiled => (
            Some(ConvLayout::Tiled),
            "forced by execution.conv_layout".into(),
        ),
        ConvLayoutChoice::Subgroup if ConvLayout::subgroup_valid_on(p) => (
            Some(ConvLayout::Subgroup),
            "forced by execution.conv_layout".into(),
        ),
        ConvLayoutChoice::Subgroup => {
            let has = if p.subgroups {
                format!(
                    "subgroups of {}–{} lanes",
                    p.limits.subgroup_min_size, p.limits.subgroup_max_size
                )
            } else {
                "no subgroup operations".into()
            };
            let e = format!(
                "execution.conv_layout = subgroup needs subgroup operations with exactly {} \
                 lanes; this adapter has {has}",
                ConvLayout::SUBGROUP_LANES
            );
            (None, e)
        }
    }
}

/// The tiles of every distinct conv shape of `net` in `layout` on `p`.
pub fn conv_plans(p: &DeviceProfile, net: &Layout, layout: ConvLayout) -> Vec<ConvPlan> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for l in &net.layers {
        let s = l.spec;
        let key = (s.cin, s.cout, s.height, s.in_cstride);
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let (forward, input_grad, weight_grad) = Conv2d::tilings_on(p, &s, layout);
        let workgroup_bytes = [forward, input_grad, weight_grad]
            .iter()
            .map(|t| t.workgroup_bytes())
            .max()
            .unwrap_or(0);
        out.push(ConvPlan {
            layer: l.name.clone(),
            cin: s.cin,
            cout: s.cout,
            size: s.height,
            forward,
            input_grad,
            weight_grad,
            workgroup_bytes,
        });
    }
    out
}

/// The FFT variant of each length in `lens` on `p`.
pub fn fft_plans(p: &DeviceProfile, lens: &[usize]) -> Vec<FftPlan> {
    lens.iter()
        .map(
            |&len| match fft::lines_per_workgroup(&p.limits, len, &FftOptions::default()) {
                Some(lines) => FftPlan {
                    len,
                    variant: "workgroup",
                    lines_per_workgroup: lines,
                },
                None => FftPlan {
                    len,
                    variant: "global",
                    lines_per_workgroup: 0,
                },
            },
        )
        .collect()
}

/// Every adapter on this machine with the kernels the configuration would get on it: the
/// network is PtychoPINN's at pattern size `n`, `filter_scale` and gridsize 1; the FFT rows
/// cover `n`, `2n` and `4n`.
pub fn plans(
    limits: LimitsProfile,
    choice: ConvLayoutChoice,
    n: usize,
    filter_scale: usize,
) -> super::Result<Vec<AdapterPlan>> {
    let net = Layout::new(&NetConfig::with_filter_scale(n, 1, filter_scale))?;
    Ok(gpu::list_adapters(limits)
        .into_iter()
        .map(|adapter| {
            let p = adapter.profile;
            let (conv_layout, conv_reason) = conv_layout_on(&p, choice);
            let convs = conv_layout.map_or_else(Vec::new, |l| conv_plans(&p, &net, l));
            AdapterPlan {
                fft: fft_plans(&p, &[n, 2 * n, 4 * n]),
                adapter,
                conv_layout,
                conv_reason,
                convs,
            }
        })
        .collect())
}
