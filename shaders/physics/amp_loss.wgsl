// Loss on far-field amplitudes and its gradient with respect to the (fftshifted, orthonormal)
// far field F, fused in one pass over the patterns.
//
// Per element: A = |F| (predicted amplitude), X = measured amplitude (normalised data),
// s = intensity scale. Poisson NLL on intensities λ = (s·A)², k = (s·X)²:
//     ℓ = λ − k·log(max(λ, 1e-12))                 (ptycho decision: the clamp, docs/findings.md F-03)
//     dℓ/dA = 2s²A − 2k/A   (for λ > 1e-12; 2s²A otherwise)
// MAE on scaled amplitudes: ℓ = |s·A − s·X|, dℓ/dA = s·sign(A − X).
// Total loss = (nll_weight·Σℓ_nll + mae_weight·Σℓ_mae) / count; the per-element loss goes to
// `loss` for a deterministic reduction, and the gradient with respect to F in the conjugate-
// Wirtinger convention (∂L/∂Re F + i ∂L/∂Im F) is dL/dA · F/|F| (0 where |F| = 0) scaled by
// 1/count. One invocation per element.
//
// With an incoherent multi-mode probe (modes > 1) the far field holds every mode's F_p,
// mode-major (`mode_stride` values apart): the predicted amplitude is A = sqrt(Σ_p |F_p|²) and
// the gradient with respect to each mode's far field is dL/dA · F_p / A. With modes = 1 this is
// exactly the single-mode computation above.
#import shared/index

// Rust twin: crate::physics::AmpLossParams
struct Params {
    count: u32,         // elements in this dispatch
    inv_total: f32,     // 1 / elements in the whole loss (mean over all elements)
    scale: f32,         // s
    nll_weight: f32,
    mae_weight: f32,
    modes: u32,         // probe modes P (0 or 1: a single mode)
    mode_stride: u32,   // values between one mode's far field and the next
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> far: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> measured: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<vec2<f32>>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_workgroup(wid, nwg) * WG + lid;
    if (i >= params.count) {
        return;
    }
    let modes = max(params.modes, 1u);
    var a: f32;
    if (modes == 1u) {
        a = length(far[i]);
    } else {
        var i2 = 0.0;
        for (var p = 0u; p < modes; p++) {
            let fp = far[p * params.mode_stride + i];
            i2 += dot(fp, fp);
        }
        a = sqrt(i2);
    }
    let s = params.scale;
    let x = measured[i];
    let lam = s * s * a * a;
    let k = s * s * x * x;
    var l = 0.0;
    var dl_da = 0.0;
    if (params.nll_weight != 0.0) {
        l += params.nll_weight * (lam - k * log(max(lam, 1e-12)));
        var d = 2.0 * s * s * a;
        if (lam > 1e-12) {
            d -= 2.0 * k / a;
        }
        dl_da += params.nll_weight * d;
    }
    if (params.mae_weight != 0.0) {
        l += params.mae_weight * abs(s * a - s * x);
        dl_da += params.mae_weight * s * sign(a - x);
    }
    loss[i] = l;
    for (var p = 0u; p < modes; p++) {
        let k = p * params.mode_stride + i;
        var g = vec2<f32>(0.0, 0.0);
        if (a > 0.0) {
            g = far[k] * (dl_da * params.inv_total / a);
        }
        grad[k] = g;
    }
}
