"""The PyTorch peer of `ptycho bench train`: the same PtychoPINN generator (layer for layer,
parameter for parameter) and the same physics loss, timed on the CPU.

Network (as ptycho's `src/model`): input (B, C, N, N); encoder blocks of conv3x3+ReLU,
conv3x3+ReLU, maxpool 2x2 with widths s*[32, 64, 128] at N = 64 (s*2048/N*2^k in general), down
to 8x8; two decoders (amplitude, phase) of blocks conv+ReLU, conv+ReLU, nearest upsample 2x with
widths s*[64, 32], up to N/2; a head conv reading the first width-4 channels (PtychoPINN's
c_outer = 4 are left for its probe_big branch) to C channels, sigmoid / pi*tanh; the object
patch O = A*exp(i*phi) zero-padded by N/4.

Loss (as ptycho's `src/physics`): gridsize 2 first merges each group's C = 4 patches into one
M x M canvas (bilinear translation by -offset, divided by the merged mask + 1e-3) and
re-extracts every member (translation by +offset, centre crop N); then psi = P*O, the
orthonormal 2-D FFT with fftshift, A = |F|, Poisson NLL on (s*A)^2 against (s*X)^2 with
lambda clamped at 1e-12, mean over every element.

Prints one JSON line: training and inference patterns/s (median of the timed steps), the
parameter count, torch's version and threads. `--expect-params K` fails unless the network has
exactly K parameters (benches/torch/compare.py passes ptycho's count).
"""

import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def widths(n, scale):
    levels = int(math.log2(n))
    e, d = levels - 3, levels - 4
    enc = [scale * (128 >> (e - 1 - k)) for k in range(e)]
    dec = [scale * (32 << (d - 1 - j)) for j in range(d)]
    return enc, dec


class Decoder(nn.Module):
    def __init__(self, cin, dec, c, act):
        super().__init__()
        layers, prev = [], cin
        for w in dec:
            layers += [nn.Conv2d(prev, w, 3, padding=1), nn.ReLU(),
                       nn.Conv2d(w, w, 3, padding=1), nn.ReLU(),
                       nn.Upsample(scale_factor=2, mode="nearest")]
            prev = w
        self.blocks = nn.Sequential(*layers)
        self.c_outer = 4
        self.head = nn.Conv2d(prev - self.c_outer, c, 3, padding=1)
        self.act = act

    def forward(self, x):
        x = self.blocks(x)
        return self.act(self.head(x[:, : x.shape[1] - self.c_outer]))


class Generator(nn.Module):
    def __init__(self, n, c, scale):
        super().__init__()
        enc, dec = widths(n, scale)
        layers, prev = [], c
        for w in enc:
            layers += [nn.Conv2d(prev, w, 3, padding=1), nn.ReLU(),
                       nn.Conv2d(w, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            prev = w
        self.encoder = nn.Sequential(*layers)
        self.amp = Decoder(prev, dec, c, torch.sigmoid)
        self.phase = Decoder(prev, dec, c, lambda v: math.pi * torch.tanh(v))
        self.pad = n // 4

    def forward(self, x):
        z = self.encoder(x)
        a, p = self.amp(z), self.phase(z)
        obj = torch.polar(a, p)
        return F.pad(obj, (self.pad,) * 4)


def translate(img, offsets):
    """Bilinear translation of complex frames (B, H, W) by (dx, dy) pixels, zeros outside."""
    b, h, w = img.shape
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = 1.0
    theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = -2.0 * offsets[:, 0] / (w - 1)
    theta[:, 1, 2] = -2.0 * offsets[:, 1] / (h - 1)
    grid = F.affine_grid(theta, [b, 1, h, w], align_corners=True)
    ri = torch.stack([img.real, img.imag], 1)
    out = F.grid_sample(ri, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return torch.complex(out[:, 0], out[:, 1])


def merge_reextract(obj, offsets, n, m):
    """object_big: each group's members merged on one M x M canvas and re-extracted."""
    g, c = obj.shape[0], obj.shape[1]
    pad = (m - n) // 2
    big = F.pad(obj, (pad,) * 4).reshape(g * c, m, m)
    mask = torch.zeros(g * c, m, m, dtype=torch.complex64)
    q = n // 4
    mask[:, pad + q : pad + n - q, pad + q : pad + n - q] = 1.0
    off = offsets.reshape(g * c, 2)
    canvas = translate(big, -off).reshape(g, c, m, m).sum(1)
    weight = translate(mask, -off).reshape(g, c, m, m).sum(1).real
    canvas = canvas / (weight + 1e-3)
    rep = canvas.unsqueeze(1).expand(g, c, m, m).reshape(g * c, m, m)
    back = translate(rep, off)
    return back[:, pad : pad + n, pad : pad + n].reshape(g, c, n, n)


def merge_crop(obj, offsets, n, m):
    """Inference of gridsize 2 (PtychoPINN's trimmed_obj): each group's canvas cropped to N."""
    g, c = obj.shape[0], obj.shape[1]
    pad = (m - n) // 2
    big = F.pad(obj, (pad,) * 4).reshape(g * c, m, m)
    mask = torch.zeros(g * c, m, m, dtype=torch.complex64)
    q = n // 4
    mask[:, pad + q : pad + n - q, pad + q : pad + n - q] = 1.0
    off = offsets.reshape(g * c, 2)
    canvas = translate(big, -off).reshape(g, c, m, m).sum(1)
    weight = translate(mask, -off).reshape(g, c, m, m).sum(1).real
    return (canvas / (weight + 1e-3))[:, pad : pad + n, pad : pad + n]


def loss_fn(obj, x, probe, scale, offsets, n, m):
    if obj.shape[1] > 1:
        obj = merge_reextract(obj, offsets, n, m)
    psi = obj * probe
    far = torch.fft.fftshift(torch.fft.fft2(psi, norm="ortho"), dim=(-2, -1))
    lam = (scale * far.abs()) ** 2
    k = (scale * x) ** 2
    return (lam - k * torch.log(lam.clamp_min(1e-12))).mean()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--gridsize", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16, help="groups per step")
    ap.add_argument("--n-filters-scale", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--expect-params", type=int, default=None)
    a = ap.parse_args()
    torch.manual_seed(1)
    n, c, b = a.n, a.gridsize ** 2, a.batch
    net = Generator(n, c, a.n_filters_scale)
    params = sum(p.numel() for p in net.parameters())
    if a.expect_params is not None and params != a.expect_params:
        sys.exit(f"error: the PyTorch network has {params} parameters, ptycho's {a.expect_params}")
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    x = torch.rand(b, c, n, n)
    probe = torch.polar(torch.rand(n, n), torch.rand(n, n))
    offsets = (torch.rand(b, c, 2) - 0.5) * 12.0
    m = n + 2 * 6 + 2
    scale = math.sqrt(1e9) / (n / 2)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), x, probe, scale, offsets, n, m)
        loss.backward()
        opt.step()

    times = []
    for k in range(a.warmup + a.repeats):
        t0 = time.perf_counter()
        step()
        if k >= a.warmup:
            times.append(time.perf_counter() - t0)
    train = b * c / statistics.median(times)
    net.eval()
    times = []
    with torch.no_grad():
        for k in range(a.warmup + a.repeats):
            t0 = time.perf_counter()
            obj = net(x)
            if c > 1:
                obj = merge_crop(obj, offsets, n, m)
            if k >= a.warmup:
                times.append(time.perf_counter() - t0)
    infer = b * c / statistics.median(times)
    print(json.dumps({
        "bench": "torch-peer", "n": n, "gridsize": a.gridsize, "batch": b,
        "n_filters_scale": a.n_filters_scale, "parameters": params,
        "train_patterns_per_s": train, "infer_patterns_per_s": infer,
        "torch": torch.__version__, "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
