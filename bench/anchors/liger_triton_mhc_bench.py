#!/usr/bin/env python3
"""Liger-Kernel's Triton mHC kernels as an anchor, timed like torch_mhc_bench.py.

The whole layer with an identity inner layer (f = x_in), forward and forward+backward, through
Liger's public functional API (liger_mhc_coeffs, liger_mhc_pre, liger_mhc_post_res). Liger-Kernel is
not a dependency of this repository: point --liger-src at a directory that holds its `liger_kernel`
package (a checkout's `src/`).

  python3 liger_triton_mhc_bench.py --liger-src /path/to/Liger-Kernel/src --shapes 8192x4x4096

Each JSON line: {"impl": "liger-triton", "op", "mode", "N", "hc", "c", "dtype", "device", "ms", "min_bytes"}
"""
import argparse
import json
import statistics
import sys

import torch

CFG = dict(tmax=20, rms_eps=1e-6, pre_eps=0.0, sinkhorn_eps=1e-6, post_mult=2.0)
DT = {"bf16": torch.bfloat16, "f16": torch.float16}


def median_ms(fn, warmup=10, reps=30):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--liger-src", required=True)
    ap.add_argument("--dtype", default="bf16", choices=list(DT))
    ap.add_argument("--shapes", default="8192x4x4096,16384x4x2048,32768x4x1024")
    args = ap.parse_args()
    sys.path.insert(0, args.liger_src)
    # The ops module directly: the package's functional module imports every other Liger op too.
    from liger_kernel.ops.mhc import LigerMHCCoeffsFunction, LigerMHCPostResFunction, LigerMHCPreFunction

    def layer(x, phi, b, a_pre, a_post, a_res):
        h_pre, h_post, h_res = LigerMHCCoeffsFunction.apply(
            x, phi, b, a_pre, a_post, a_res, False, CFG["tmax"], CFG["rms_eps"], CFG["pre_eps"],
            CFG["sinkhorn_eps"], CFG["post_mult"])
        x_in = LigerMHCPreFunction.apply(x, h_pre)
        return LigerMHCPostResFunction.apply(x, x_in, h_post, h_res)

    dt = DT[args.dtype]
    esize = torch.finfo(dt).bits // 8
    torch.manual_seed(0)
    rows = []
    for shape in args.shapes.split(","):
        n, hc, c = (int(v) for v in shape.split("x"))
        m = hc * hc + 2 * hc
        x = torch.randn(n, hc, c, device="cuda", dtype=dt)
        phi = torch.randn(hc * c, m, device="cuda", dtype=dt) * 0.02
        b = torch.zeros(m, device="cuda")
        alphas = [torch.tensor(1.0, device="cuda") for _ in range(3)]
        xb, fb = n * hc * c * esize, n * c * esize
        fwd_bytes = 3 * xb + 2 * fb
        bwd_bytes = 4 * xb + 3 * fb
        with torch.no_grad():
            ms = median_ms(lambda: layer(x, phi, b, *alphas))
        rows.append(dict(impl="liger-triton", op="layer", mode="fwd", N=n, hc=hc, c=c, ms=ms, min_bytes=fwd_bytes))
        print(json.dumps({**rows[-1], "dtype": args.dtype, "device": "cuda"}), flush=True)
        xg = x.clone().requires_grad_(True)
        pg = [t.clone().requires_grad_(True) for t in [phi, b, *alphas]]
        go = torch.randn_like(x)

        def step():
            for t in [xg, *pg]:
                t.grad = None
            layer(xg, *pg).backward(go)

        ms = median_ms(step)
        rows.append(dict(impl="liger-triton", op="layer", mode="fwd+bwd", N=n, hc=hc, c=c, ms=ms,
                         min_bytes=fwd_bytes + bwd_bytes))
        print(json.dumps({**rows[-1], "dtype": args.dtype, "device": "cuda"}), flush=True)
        del x, xg, pg, go
    for r in rows:
        print(f"{r['impl']:14s} {r['op']:6s} {r['mode']:8s} {r['N']}x{r['hc']}x{r['c']:<10} {r['ms']:9.3f} "
              f"{r['min_bytes'] / r['ms'] / 1e6:7.0f}")


if __name__ == "__main__":
    main()
