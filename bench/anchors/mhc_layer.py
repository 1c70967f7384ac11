#!/usr/bin/env python3
"""PyTorch eager mHC layer (identity inner layer: f = pre(x)), forward and forward+backward, for the
CPU benchmark (bench/src/cpu-mhc-layer.ts). The layer is the twin GPT's MHC module (gpt_twin.py), so
the layer and model benchmarks time the same PyTorch code. Inputs as on our side: x ~ N(0, 1),
phi ~ 0.02·N(0, 1), b = 0, alphas = 1.

Prints one JSON line per measurement: {"impl", "op": "layer", "mode", "N", "hc", "c", "ms", "threads"}.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt_twin import MHC  # noqa: E402

OPTS = {"tmax": 20, "rmsEps": 1e-6, "preEps": 0.0, "sinkhornEps": 1e-6, "postMult": 2.0, "orientation": "liger"}


def median_ms(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    m = len(times) // 2
    return times[m] if len(times) % 2 else (times[m - 1] + times[m]) / 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="2048x4x256")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for shape in args.shapes.split(","):
        n, hc, c = (int(v) for v in shape.split("x"))
        layer = MHC(lambda t: t, hc, c, OPTS)
        with torch.no_grad():
            layer.phi.copy_(torch.randn(hc * c, hc * hc + 2 * hc) * 0.02)
            for a in (layer.alphaPre, layer.alphaPost, layer.alphaRes):
                a.fill_(1.0)
        x = torch.randn(n, hc, c, requires_grad=True)
        go = torch.randn(n, hc, c)

        def fwd():
            with torch.no_grad():
                layer(x)

        def fwd_bwd():
            x.grad = None
            layer.zero_grad(set_to_none=True)
            layer(x).backward(go)

        for mode, fn in (("fwd", fwd), ("fwd+bwd", fwd_bwd)):
            ms = median_ms(fn, args.warmup, args.reps)
            row = {"impl": "torch-eager", "op": "layer", "mode": mode, "N": n, "hc": hc, "c": c, "ms": ms}
            row["threads"] = torch.get_num_threads()
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
