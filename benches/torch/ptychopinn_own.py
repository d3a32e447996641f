"""Times PtychoPINN's own PyTorch module (`ptycho_torch.model.PtychoPINN` of hoidn/PtychoPINN,
its default configuration: n_filters_scale 2, object_big, amplitude physics, Poisson loss) at
the same N, gridsize and batch as `peer.py`, on the CPU, and prints one JSON object like
peer.py's: patterns/s of a training step (forward, PtychoPINN's Poisson loss, backward, Adam)
and of inference (`forward_predict`).

    python benches/torch/ptychopinn_own.py --ptychopinn PATH/TO/PtychoPINN [--gridsize 2]

PATH is a checkout of hoidn/PtychoPINN (its `ptycho_torch` and `ptycho` packages are
imported from there; nothing is installed). Besides torch and numpy it needs `lightning`,
`tensordict`, `scikit-image` and `scipy`; `mlflow`, which the module imports for experiment
logging only, is replaced by an inert stand-in when it is not installed. The inputs are
synthetic (random amplitudes, a flat probe, positions on a small grid): the work per step is
the module's, whatever the data.
"""

import argparse
import json
import os
import statistics
import sys
import time
import types


class _Inert(types.ModuleType):
    """Stands in for mlflow: every attribute is another inert object, every call returns one."""

    def __getattr__(self, k):
        if k.startswith("__"):
            raise AttributeError(k)
        return _Inert(k)

    def __call__(self, *a, **k):
        return _Inert("call")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ptychopinn", required=True, help="checkout of hoidn/PtychoPINN")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--gridsize", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--n-filters-scale", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = ap.parse_args()
    if not os.path.isdir(os.path.join(a.ptychopinn, "ptycho_torch")):
        sys.exit(f"error: --ptychopinn {a.ptychopinn}: no ptycho_torch package there")
    sys.path.insert(0, a.ptychopinn)
    try:
        import mlflow  # noqa: F401
    except ImportError:
        for name in ("mlflow", "mlflow.pytorch", "mlflow.tracking"):
            sys.modules[name] = _Inert(name)

    import contextlib
    import io

    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    from ptycho_torch.config_params import DataConfig, ModelConfig, TrainingConfig
    from ptycho_torch.model import PoissonLoss, PtychoPINN

    c = a.gridsize * a.gridsize
    data = DataConfig(N=a.n, C=c, grid_size=(a.gridsize, a.gridsize))
    model = ModelConfig(C_model=c, C_forward=c, n_filters_scale=a.n_filters_scale)
    # The module prints one line per block as it builds; keep stdout for the JSON.
    with contextlib.redirect_stdout(io.StringIO()):
        net = PtychoPINN(model, data, TrainingConfig())
    params = sum(p.numel() for p in net.parameters())
    loss_fn = PoissonLoss()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    g = torch.Generator().manual_seed(7)
    b, n = a.batch, a.n
    x = torch.rand(b, c, n, n, generator=g) + 0.1
    # Neighbours a few pixels apart, as PtychoPINN's grouping gives (coords_relative).
    offs = [(4.0 * (k % a.gridsize) - 2.0 * (a.gridsize - 1),
             4.0 * (k // a.gridsize) - 2.0 * (a.gridsize - 1)) for k in range(c)]
    positions = torch.tensor(offs, dtype=torch.float32).reshape(1, c, 1, 2).repeat(b, 1, 1, 1)
    probe = torch.ones(1, 1, 1, n, n, dtype=torch.complex64)
    scale = torch.ones(b, 1, 1, 1)

    def step():
        opt.zero_grad(set_to_none=True)
        pred, _, _ = net(x, positions, probe, input_scale_factor=scale,
                         output_scale_factor=scale)
        loss = loss_fn(pred, x).mean() / (x.mean() + 1e-8)
        loss.backward()
        opt.step()

    def infer():
        with torch.no_grad():
            net.forward_predict(x, positions, probe, input_scale_factor=scale)

    def timed(f):
        net.train(f is step)
        for _ in range(a.warmup):
            f()
        ts = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts)

    patterns = b * c
    train_s, infer_s = timed(step), timed(infer)
    print(json.dumps({
        "peer": f"PtychoPINN ptycho_torch (torch {torch.__version__}, "
                f"{torch.get_num_threads()} threads)",
        "parameters": params,
        "gridsize": a.gridsize,
        "n": n,
        "batch": b,
        "train_patterns_per_s": patterns / train_s,
        "infer_patterns_per_s": patterns / infer_s,
    }))


if __name__ == "__main__":
    main()
