// One Stockham stage over global memory (the multi-pass path, for lines that do not fit in
// workgroup memory or when forced): one invocation per butterfly, reading `src`, writing `dst`.
// The plan ping-pongs between the caller's scratch and destination, applying the input
// ifftshift on the first stage and the output fftshift, scale and amplitude epilogue on the
// last stage of each axis (same flag bits as fft_lines).
#import shared/complex
#import shared/fft
#import shared/index

// Rust twin: crate::fft::StageParams
struct Params {
    lines: u32,
    lines_per_frame: u32,
    frame_stride: u32,
    line_stride: u32,
    elem_stride: u32,
    flags: u32,         // bits as fft_lines; shifts/epilogue only set on the first/last stage
    scale: f32,
    tw_offset: u32,
    len: u32,           // line length L
    radix: u32,         // 2, 4 or 8
    p: u32,             // product of the radices of earlier stages
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> twiddles: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> dst: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read_write> amp: array<f32>;

override WG: u32 = 64u;
// The stage's radix (2, 4 or 8; equal to params.radix): a constant, so the loops over r unroll
// and `v` stays in registers.
override R: u32 = 8u;

fn global_index(line: u32, j: u32) -> u32 {
    let f = line / params.lines_per_frame;
    let l = line - f * params.lines_per_frame;
    return f * params.frame_stride + l * params.line_stride + j * params.elem_stride;
}

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let n = params.len;
    let radix = R;
    let nb = n / radix;
    let gid = linear_workgroup(wid, nwg) * WG + t;
    // Column lines: neighbouring invocations take neighbouring lines (contiguous addresses).
    var line: u32;
    var i: u32;
    if ((params.flags & 32u) != 0u) {
        let cols = params.lines_per_frame;
        let per_frame = cols * nb;
        let fr = gid / per_frame;
        let rest = gid - fr * per_frame;
        line = fr * cols + rest % cols;
        i = rest / cols;
    } else {
        line = gid / nb;
        i = gid % nb;
    }
    if (line >= params.lines) {
        return;
    }
    let f = params.flags;
    let s = select(-1.0, 1.0, (f & 8u) != 0u);
    let half = n / 2u;
    var sl = line;
    if ((f & 2u) != 0u) {
        let fr = line / params.lines_per_frame;
        let l = line - fr * params.lines_per_frame;
        sl = fr * params.lines_per_frame + (l + params.lines_per_frame / 2u) % params.lines_per_frame;
    }
    let p = params.p;
    let k = i % p;
    let tw_step = n / (radix * p);
    var v: array<vec2<f32>, 8>;
    for (var r = 0u; r < radix; r++) {
        var j = i + r * nb;
        if ((f & 1u) != 0u) {
            j = (j + half) % n;
        }
        var x = src[global_index(sl, j)];
        if (r > 0u && k > 0u) {
            x = cmul(x, fft_twiddle(twiddles[params.tw_offset + r * k * tw_step], s));
        }
        v[r] = x;
    }
    fft_butterfly(&v, 0u, radix, s);
    let out0 = (i - k) * radix + k;
    for (var r = 0u; r < radix; r++) {
        var j = out0 + r * p;
        if ((f & 4u) != 0u) {
            j = (j + half) % n;
        }
        let gi = global_index(line, j);
        if ((f & 16u) != 0u) {
            amp[gi] = length(v[r]) * params.scale;
        } else {
            dst[gi] = v[r] * params.scale;
        }
    }
}
