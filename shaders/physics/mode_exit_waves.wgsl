// Exit waves of an incoherent multi-mode probe (physics.md: the modes add in intensity):
// psi[p, f, j] = obj[f, j] · probe[p, j] for modes p, frames f and pixels j, mode-major so that
// every mode's exit waves are one contiguous batch of frames for the FFT. One invocation per
// output value; consecutive invocations touch consecutive values.
#import shared/complex
#import shared/index

// Rust twin: crate::physics::ModeParams
struct Params {
    frame: u32,     // values per frame (N·N)
    frames: u32,    // frames of the object patches
    modes: u32,     // probe modes P
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> obj: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> probe: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> psi: array<vec2<f32>>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_workgroup(wid, nwg) * WG + lid;
    let per_mode = params.frames * params.frame;
    if (i >= params.modes * per_mode) {
        return;
    }
    let p = i / per_mode;
    let e = i - p * per_mode;
    let j = e % params.frame;
    psi[i] = cmul(obj[e], probe[p * params.frame + j]);
}
