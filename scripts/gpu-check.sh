#!/usr/bin/env bash
# The device check: what to run on a machine with a real GPU, given a release binary built
# elsewhere (nothing is compiled there). Runs `ptycho devices`, `ptycho selftest` and the
# shader benchmarks at GPU-sized problems, each with --json into one folder, every step under
# its own time limit so that the whole check ends inside a short lease (≈ 8 minutes at most).
#
#   scripts/gpu-check.sh [--bin PATH] [--out DIR] [--bandwidth-gbs X] [--peak-gflops Y]
#                        [--loaders DIR] [--small] [--step-timeout S] [--budget S]
#
#   --bin            the ptycho binary (default: ./ptycho, else target/release/ptycho)
#   --out            the folder the results go to (default: gpu-check-<UTC time>)
#   --bandwidth-gbs  the adapter's memory bandwidth, for the roofline fraction of fft/forward
#                    (H200: 4800)
#   --peak-gflops    the adapter's FP32 peak, for the fraction each conv pass reaches
#                    (H200 SXM: 67000)
#   --loaders DIR    a folder of .deb packages (libvulkan1, libegl1, …) to unpack into / when
#                    the Vulkan loader is missing (root only; as docs/benchmarks.md describes)
#   --small          tiny sizes: checks the script itself on any adapter (the test suite runs
#                    it on lavapipe); its figures mean nothing
#   --step-timeout   seconds each step may take (default 100; 60 with --small)
#   --budget         seconds the whole check may take (default 450): each step gets at most
#                    what is left, and steps that would start with under 10 s left are skipped
#
# The folder gets one file per step (<step>.json, or selftest.jsonl), its stderr
# (<step>.err), and summary.tsv: step, exit status (124: stopped at its limit; "skipped": no
# time left), seconds, command. The script exits 0 when every step succeeded and 1 otherwise
# (after running all of them).
set -u

bin=""
out=""
bandwidth=""
peak=""
loaders=""
small=0
step_timeout=""
budget=450
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --bandwidth-gbs) bandwidth="$2"; shift 2 ;;
        --peak-gflops) peak="$2"; shift 2 ;;
        --loaders) loaders="$2"; shift 2 ;;
        --small) small=1; shift ;;
        --step-timeout) step_timeout="$2"; shift 2 ;;
        --budget) budget="$2"; shift 2 ;;
        -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
        *) echo "gpu-check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

if [ -z "$bin" ]; then
    if [ -x ./ptycho ]; then bin=./ptycho; else bin=target/release/ptycho; fi
fi
if [ ! -x "$bin" ]; then
    echo "gpu-check: --bin $bin: no executable there (build it with cargo build --release)" >&2
    exit 2
fi
out="${out:-gpu-check-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out" || exit 2
if [ -z "$step_timeout" ]; then
    if [ $small = 1 ]; then step_timeout=60; else step_timeout=100; fi
fi

if [ -n "$loaders" ] && ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1; then
    for f in "$loaders"/*.deb; do dpkg -x "$f" / || exit 2; done
    ldconfig
fi
# NVIDIA containers often ship the ICD outside the loader's search path.
nv=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nv" ] && [ ! -e /usr/share/vulkan/icd.d/nvidia_icd.json ]; then
    export VK_DRIVER_FILES=$nv
    export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

bw=()
[ -n "$bandwidth" ] && bw=(--bandwidth-gbs "$bandwidth")
pk=()
[ -n "$peak" ] && pk=(--peak-gflops "$peak")

if [ $small = 1 ]; then
    n1=16; n2=32; big=8; mid=4; rep=(--warmup 0 --repeats 1); ffts=16,32
else
    n1=64; n2=128; big=1024; mid=256; rep=(--warmup 2 --repeats 10); ffts=64,128,256
fi
# The network benches also time the f64 CPU twin, which is slow: fewer repeats.
if [ $small = 1 ]; then nrep=("${rep[@]}"); else nrep=(--warmup 1 --repeats 5); fi

printf 'step\tstatus\tseconds\tcommand\n' >"$out/summary.tsv"
failed=0
# step NAME OUTFILE ARGS...: runs the binary with ARGS, stdout to OUTFILE, under the time limit.
step() {
    local name="$1" file="$2"
    shift 2
    local left=$((budget - SECONDS))
    if [ $left -lt 10 ]; then
        printf '%s\t%s\t%s\t%s\n' "$name" skipped 0 "ptycho $*" >>"$out/summary.tsv"
        echo "gpu-check: $name skipped (the ${budget}s budget is spent)" >&2
        failed=1
        return
    fi
    local limit=$step_timeout
    [ $left -lt $limit ] && limit=$left
    local t0=$SECONDS
    timeout "$limit" "$bin" "$@" >"$out/$file" 2>"$out/$name.err"
    local rc=$?
    local dt=$((SECONDS - t0))
    printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$dt" "ptycho $*" >>"$out/summary.tsv"
    if [ $rc -ne 0 ]; then
        failed=1
        echo "gpu-check: $name failed (exit $rc, ${dt}s): $(grep -m 1 -i error "$out/$name.err" || tail -n 1 "$out/$name.err")" >&2
    else
        echo "gpu-check: $name ok (${dt}s)" >&2
    fi
}

step devices devices.json devices --json
step selftest selftest.jsonl selftest --json
step fft fft.json bench fft --json "${rep[@]}" --n "$ffts" --batch "$big" "${bw[@]}"
step fft-global fft-global.json bench fft --json "${rep[@]}" --n "$n1,$n2" --batch "$mid" --global "${bw[@]}"
step forward-n$n1 forward-n$n1.json bench forward --json "${rep[@]}" --n $n1 --batch "$big" "${bw[@]}"
step forward-n$n2 forward-n$n2.json bench forward --json "${rep[@]}" --n $n2 --batch "$mid" "${bw[@]}"
step forward-n$n1-g2 forward-n$n1-g2.json bench forward --json "${rep[@]}" --n $n1 --batch "$big" --gridsize 2 "${bw[@]}"
step conv-n$n1 conv-n$n1.json bench conv --json "${nrep[@]}" --n $n1 --batch "$mid" "${pk[@]}"
step network-n$n1 network-n$n1.json bench network --json "${nrep[@]}" --n $n1 --batch "$mid"
step train-n$n1 train-n$n1.json bench train --json "${rep[@]}" --n $n1 --batch "$mid"
step train-n$n1-g2 train-n$n1-g2.json bench train --json "${rep[@]}" --n $n1 --batch "$mid" --gridsize 2
step train-n$n2 train-n$n2.json bench train --json "${rep[@]}" --n $n2 --batch $((mid / 4))

echo "gpu-check: results in $out (summary.tsv)" >&2
exit $failed
