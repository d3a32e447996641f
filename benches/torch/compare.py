"""ptycho against its PyTorch peer in one run: `ptycho bench train --json` and
`benches/torch/peer.py` alternated, round after round, for gridsize 1 and 2 at the same N,
batch and n_filters_scale, on the same machine. Prints patterns/s of both (training and
inference) and their ratio per round, and the medians.

    python benches/torch/compare.py --ptycho target/release/ptycho [--rounds 3] \
        [--ptychopinn PATH/TO/PtychoPINN]

With --ptychopinn, each round also times PtychoPINN's own `ptycho_torch` module at its
defaults (ptychopinn_own.py) and prints ptycho's ratio to it as well.

Run it with the interpreter of the venv that has torch (benches/README.md). The ratios are
results; the absolute figures drift with the machine.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ptycho", default="target/release/ptycho")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--n-filters-scale", type=int, default=2)
    ap.add_argument("--gridsize", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--layout", default="auto", help="ptycho's conv layout (bench train --layout)")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--ptychopinn", metavar="DIR",
                    help="also time PtychoPINN's own ptycho_torch module from this checkout of "
                         "hoidn/PtychoPINN (ptychopinn_own.py), a third sample per round")
    a = ap.parse_args()
    common = ["--n", str(a.n), "--batch", str(a.batch), "--n-filters-scale",
              str(a.n_filters_scale), "--repeats", str(a.repeats)]
    summary = []
    for g in a.gridsize:
        rows = []
        for r in range(a.rounds):
            p = run([a.ptycho, "bench", "train", "--json", "--gridsize", str(g),
                     "--layout", a.layout] + common)
            t = run([sys.executable, os.path.join(HERE, "peer.py"), "--gridsize", str(g),
                     "--expect-params", str(p["parameters"])] + common)
            own = None
            if a.ptychopinn:
                own = run([sys.executable, os.path.join(HERE, "ptychopinn_own.py"),
                           "--ptychopinn", a.ptychopinn, "--gridsize", str(g)] + common)
            rows.append((p, t, own))
            line = (f"gridsize {g} round {r + 1}: ptycho [{p['conv_layout']}] train "
                    f"{p['train_patterns_per_s']:.2f} infer {p['infer_patterns_per_s']:.2f} | "
                    f"torch {t['torch']} ({t['threads']} threads) train {t['train_patterns_per_s']:.2f} "
                    f"infer {t['infer_patterns_per_s']:.2f} | ratio train "
                    f"{p['train_patterns_per_s'] / t['train_patterns_per_s']:.2f}x infer "
                    f"{p['infer_patterns_per_s'] / t['infer_patterns_per_s']:.2f}x")
            if own:
                line += (f" | PtychoPINN's own ({own['parameters']} parameters) train "
                         f"{own['train_patterns_per_s']:.2f} infer {own['infer_patterns_per_s']:.2f}"
                         f" | ratio train "
                         f"{p['train_patterns_per_s'] / own['train_patterns_per_s']:.2f}x infer "
                         f"{p['infer_patterns_per_s'] / own['infer_patterns_per_s']:.2f}x")
            print(line, flush=True)
        med = lambda k, i: statistics.median(x[i][k] for x in rows)
        tr = statistics.median(x[0]["train_patterns_per_s"] / x[1]["train_patterns_per_s"] for x in rows)
        inf = statistics.median(x[0]["infer_patterns_per_s"] / x[1]["infer_patterns_per_s"] for x in rows)
        summary.append({
            "gridsize": g, "n": a.n, "batch": a.batch, "n_filters_scale": a.n_filters_scale,
            "parameters": rows[0][0]["parameters"], "adapter": rows[0][0]["adapter"],
            "conv_layout": rows[0][0]["conv_layout"],
            "ptycho_train": med("train_patterns_per_s", 0), "ptycho_infer": med("infer_patterns_per_s", 0),
            "torch_train": med("train_patterns_per_s", 1), "torch_infer": med("infer_patterns_per_s", 1),
            "train_ratio": tr, "infer_ratio": inf,
        })
        if a.ptychopinn:
            ratio = lambda k: statistics.median(x[0][k] / x[2][k] for x in rows)
            summary[-1].update({
                "ptychopinn_parameters": rows[0][2]["parameters"],
                "ptychopinn_train": med("train_patterns_per_s", 2),
                "ptychopinn_infer": med("infer_patterns_per_s", 2),
                "train_ratio_vs_ptychopinn": ratio("train_patterns_per_s"),
                "infer_ratio_vs_ptychopinn": ratio("infer_patterns_per_s"),
            })
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
