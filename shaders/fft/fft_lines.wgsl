// Batched 1-D FFT of whole lines in workgroup memory: each workgroup loads LINES lines of length
// L (rows of a frame, or columns), runs every Stockham stage in `smem` with barriers between
// stages, and writes the lines back. A 2-D FFT is two dispatches: rows (src → scratch), then
// columns (scratch → dst). See shared/fft.wgsl for the stage algebra.
//
// Thread mapping: invocation t works on line t / TPL of the workgroup, butterflies
// t mod TPL + m·TPL (m < RMAX/R) of each stage, TPL = L / RMAX. Global loads and stores are a
// separate cooperative loop whose element order follows memory (row lines: consecutive
// invocations take consecutive elements of a line; column lines: consecutive invocations take
// the same element of neighbouring columns), so both are contiguous across invocations.
//
// Fused extras, all chosen by params: ifftshift of the input (element and line index, first
// pass), fftshift of the output (element index), a final scale, and the amplitude epilogue
// (write |z|·scale to a real buffer instead of z·scale).
#import shared/complex
#import shared/fft
#import shared/index

// Rust twin: crate::fft::LinesParams
struct Params {
    lines: u32,          // lines in this dispatch (all frames of the chunk)
    lines_per_frame: u32,
    frame_stride: u32,   // complex values between frames
    line_stride: u32,    // complex values between neighbouring lines of a frame
    elem_stride: u32,    // complex values between neighbouring elements of a line
    flags: u32,          // bit 0: ifftshift elements on load, bit 1: ifftshift lines on load,
                         // bit 2: fftshift elements on store, bit 3: inverse direction,
                         // bit 4: write amplitude |z|·scale to `amp` instead of z·scale to `dst`,
                         // bit 5: column lines (load order: line index fastest)
    scale: f32,          // applied on store
    tw_offset: u32,      // where this axis's LUT starts in `twiddles`
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> twiddles: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> dst: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read_write> amp: array<f32>;

override L: u32 = 64u;        // line length (power of two, 8..=1024)
override RMAX: u32 = 4u;      // largest radix (4 or 8)
override LINES: u32 = 4u;     // lines per workgroup
// Workgroup memory: LINES·L complex values (8 bytes each), sized by the plan from the adapter's
// max_compute_workgroup_storage_size.
var<workgroup> smem: array<vec2<f32>, LINES * L>;

// Element e of the workgroup's cooperative load/store → (line in the workgroup, element j),
// in memory order: for column lines (flag bit 5) neighbouring e are neighbouring columns.
fn line_elem(e: u32, flags: u32) -> vec2<u32> {
    if ((flags & 32u) != 0u) {
        return vec2<u32>(e % LINES, e / LINES);
    }
    return vec2<u32>(e / L, e % L);
}

fn global_index(line: u32, j: u32) -> u32 {
    let f = line / params.lines_per_frame;
    let l = line - f * params.lines_per_frame;
    return f * params.frame_stride + l * params.line_stride + j * params.elem_stride;
}

@compute @workgroup_size(LINES * (L / RMAX))
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let tpl = L / RMAX;
    let wg_threads = LINES * tpl;
    let line0 = linear_workgroup(wid, nwg) * LINES;
    let half = L / 2u;
    let f = params.flags;

    // Cooperative load of LINES·L values into smem[line·L + j].
    for (var e = t; e < LINES * L; e += wg_threads) {
        let lj = line_elem(e, f);
        let ll = lj.x;
        let j = lj.y;
        let line = line0 + ll;
        if (line < params.lines) {
            var sj = j;
            if ((f & 1u) != 0u) {
                sj = (j + half) % L;
            }
            var sl = line;
            if ((f & 2u) != 0u) {
                let fr = line / params.lines_per_frame;
                let l = line - fr * params.lines_per_frame;
                sl = fr * params.lines_per_frame + (l + params.lines_per_frame / 2u) % params.lines_per_frame;
            }
            smem[ll * L + j] = src[global_index(sl, sj)];
        }
    }
    workgroupBarrier();

    let s = select(-1.0, 1.0, (f & 8u) != 0u);
    let ll = t / tpl;
    let i0 = t % tpl;
    let base = ll * L;
    var v: array<vec2<f32>, 8>;
    // Stages: nstages − 1 of radix RMAX, then one of radix rlast (= RMAX when it divides L).
    // Stage schedule derived from L and RMAX. (Extra overrides used only inside function bodies
    // were not applied by wgpu 30 here, so the schedule is computed from the ones that are.)
    let log_l = countTrailingZeros(L);
    let log_r = countTrailingZeros(RMAX);
    let nstages = (log_l + log_r - 1u) / log_r;
    let rlast = 1u << (log_l - log_r * (nstages - 1u));
    var p = 1u;  // product of the earlier radices
    // The stages of radix RMAX, one butterfly per invocation. RMAX is an override constant, so
    // here the radix is a compile-time constant: the loops over r unroll and `v` stays in
    // registers (a radix chosen per iteration indexes `v` dynamically, which spills it).
    let nb = L / RMAX;
    for (var st = 0u; st + 1u < nstages; st++) {
        let tw_step = L / (RMAX * p);
        let k = i0 & (p - 1u);
        for (var r = 0u; r < RMAX; r++) {
            var x = smem[base + i0 + r * nb];
            if (r > 0u && k > 0u) {
                x = cmul(x, fft_twiddle(twiddles[params.tw_offset + r * k * tw_step], s));
            }
            v[r] = x;
        }
        workgroupBarrier();
        fft_butterfly(&v, 0u, RMAX, s);
        let out0 = (i0 - k) * RMAX + k;
        for (var r = 0u; r < RMAX; r++) {
            smem[base + out0 + r * p] = v[r];
        }
        workgroupBarrier();
        p *= RMAX;
    }
    // The last stage, of radix rlast (a constant too: it follows from L and RMAX), with
    // RMAX / rlast butterflies per invocation.
    {
        let nbl = L / rlast;
        let per = RMAX / rlast;
        let tw_step = L / (rlast * p);
        for (var m = 0u; m < per; m++) {
            let i = i0 + m * tpl;
            let k = i & (p - 1u);
            for (var r = 0u; r < rlast; r++) {
                var x = smem[base + i + r * nbl];
                if (r > 0u && k > 0u) {
                    x = cmul(x, fft_twiddle(twiddles[params.tw_offset + r * k * tw_step], s));
                }
                v[m * rlast + r] = x;
            }
        }
        workgroupBarrier();
        for (var m = 0u; m < per; m++) {
            let i = i0 + m * tpl;
            let k = i & (p - 1u);
            fft_butterfly(&v, m * rlast, rlast, s);
            let out0 = (i - k) * rlast + k;
            for (var r = 0u; r < rlast; r++) {
                smem[base + out0 + r * p] = v[m * rlast + r];
            }
        }
        workgroupBarrier();
    }

    // Cooperative store, with the output fftshift and the epilogue.
    for (var e = t; e < LINES * L; e += wg_threads) {
        let lj = line_elem(e, f);
        let sl = lj.x;
        let j = lj.y;
        let line = line0 + sl;
        if (line < params.lines) {
            var dj = j;
            if ((f & 4u) != 0u) {
                dj = (j + half) % L;
            }
            let z = smem[sl * L + j];
            let gi = global_index(line, dj);
            if ((f & 16u) != 0u) {
                amp[gi] = length(z) * params.scale;
            } else {
                dst[gi] = z * params.scale;
            }
        }
    }
}
