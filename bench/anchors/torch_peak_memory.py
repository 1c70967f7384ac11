#!/usr/bin/env python3
"""Peak device memory of PyTorch eager and torch.compile for the mHC layer forward+backward (bf16,
hc=4, identity inner layer), to compare with the CUDA backend's peak. Uses the layer of the anchor
script torch_mhc_bench.py (pass its directory with --anchor-dir)."""
import argparse
import json
import sys

import torch

ap = argparse.ArgumentParser()
ap.add_argument("--anchor-dir", default=".")
ap.add_argument("--shapes", default="8192x4x4096,16384x4x2048,32768x4x1024")
args = ap.parse_args()
sys.path.insert(0, args.anchor_dir)
import torch_mhc_bench as anchor  # noqa: E402

impls = {"torch-eager": anchor.layer, "torch-compile": torch.compile(anchor.layer)}
for shape in args.shapes.split(","):
    n, hc, c = (int(v) for v in shape.split("x"))
    m = hc * hc + 2 * hc
    x = torch.randn(n, hc, c, device="cuda", dtype=torch.bfloat16)
    phi = torch.randn(hc * c, m, device="cuda", dtype=torch.bfloat16) * 0.02
    b = torch.zeros(m, device="cuda")
    alphas = [torch.tensor(1.0, device="cuda") for _ in range(3)]
    go = torch.randn_like(x)
    for name, fn in impls.items():
        xg = x.clone().requires_grad_(True)
        pg = [t.clone().requires_grad_(True) for t in [phi, b, *alphas]]
        for _ in range(2):  # compile and warm up
            fn(xg, *pg).backward(go)
            xg.grad = None
            for t in pg:
                t.grad = None
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn(xg, *pg).backward(go)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
        print(json.dumps({"impl": name, "N": n, "hc": hc, "c": c, "peakBytes": peak, "baseBytes": base}), flush=True)
        del xg, pg
    del x, go
    torch.cuda.empty_cache()
