#!/usr/bin/env python3
"""PyTorch anchor for the mHC layer: what a user would run instead of liger-mhc.

Times PyTorch eager and torch.compile (where available) on the mHC ops and the whole layer
(identity inner layer: f = x_in), forward and forward+backward, with the semantics of
the golden fixtures' README (Liger convention). Prints one JSON object per line, then a table.

  GPU:  python3 torch_mhc_bench.py --device cuda --dtype bf16 --shapes 8192x4x4096,32768x4x1024
  CPU:  python3 torch_mhc_bench.py --device cpu --dtype f32 --shapes 2048x4x256

Each JSON line: {"impl", "op", "mode", "N", "hc", "c", "dtype", "device", "ms", "min_bytes"}
where ms is the median and min_bytes the fewest bytes the op must move (for GB/s and rooflines).
Also prints the device-to-device copy bandwidth on CUDA ("op": "copy").
"""
import argparse
import json
import statistics
import time

import torch

CFG = dict(tmax=20, rms_eps=1e-6, pre_eps=0.0, sinkhorn_eps=1e-6, post_mult=2.0)
DT = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}


def sinkhorn(logits, tmax, eps):
    mat = torch.softmax(logits, dim=-1) + eps
    mat = mat / (mat.sum(dim=-2, keepdim=True) + eps)
    for _ in range(tmax - 1):
        mat = mat / (mat.sum(dim=-1, keepdim=True) + eps)
        mat = mat / (mat.sum(dim=-2, keepdim=True) + eps)
    return mat


def coeffs(x, phi, b, a_pre, a_post, a_res):
    n, hc, c = x.shape
    xm = x.reshape(n, hc * c).float()
    invr = torch.rsqrt(xm.pow(2).mean(-1, keepdim=True) + CFG["rms_eps"])
    mix = (xm @ phi.float()) * invr
    pre = torch.sigmoid(mix[:, :hc] * a_pre + b[:hc]) + CFG["pre_eps"]
    post = torch.sigmoid(mix[:, hc:2 * hc] * a_post + b[hc:2 * hc]) * CFG["post_mult"]
    res = sinkhorn(mix[:, 2 * hc:].reshape(n, hc, hc) * a_res + b[2 * hc:].reshape(hc, hc), CFG["tmax"],
                   CFG["sinkhorn_eps"])
    return pre, post, res


def pre_apply(x, h_pre):
    return (x.float() * h_pre.unsqueeze(-1)).sum(-2).to(x.dtype)


def post_res(x, f, h_post, h_res):
    out = torch.einsum("noi,nic->noc", h_res, x.float()) + h_post.unsqueeze(-1) * f.float().unsqueeze(-2)
    return out.to(x.dtype)


def layer(x, phi, b, a_pre, a_post, a_res):
    pre, post, res = coeffs(x, phi, b, a_pre, a_post, a_res)
    return post_res(x, pre_apply(x, pre), post, res)


def median_ms(fn, device, warmup=5, reps=30):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        if device == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="bf16", choices=list(DT))
    ap.add_argument("--shapes", default="8192x4x4096,16384x4x2048,32768x4x1024")
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()
    dev, dt = args.device, DT[args.dtype]
    esize = torch.finfo(dt).bits // 8
    rows = []

    def emit(**r):
        r.update(dtype=args.dtype, device=dev)
        rows.append(r)
        print(json.dumps(r), flush=True)

    if dev == "cuda":
        big = torch.empty(256 * 1024 * 1024, device=dev, dtype=torch.float32)
        dst = torch.empty_like(big)
        ms = median_ms(lambda: dst.copy_(big), dev)
        emit(impl="torch", op="copy", mode="fwd", N=0, hc=0, c=0, ms=ms, min_bytes=2 * big.numel() * 4)
        del big, dst

    impls = {"torch-eager": layer}
    can_compile = hasattr(torch, "compile") and not args.no_compile
    if can_compile:
        impls["torch-compile"] = torch.compile(layer)
    torch.manual_seed(0)
    for shape in args.shapes.split(","):
        n, hc, c = (int(v) for v in shape.split("x"))
        m = hc * hc + 2 * hc
        x = torch.randn(n, hc, c, device=dev, dtype=dt)
        phi = torch.randn(hc * c, m, device=dev, dtype=dt) * 0.02
        b = torch.zeros(m, device=dev)
        alphas = [torch.tensor(1.0, device=dev) for _ in range(3)]
        xb, fb = n * hc * c * esize, n * c * esize
        fwd_bytes = 3 * xb + 2 * fb  # coeffs reads x; pre reads x, writes f; post_res reads x, f, writes out
        bwd_bytes = 4 * xb + 3 * fb  # reads grad_out, x (twice), writes grad_x; f-sized reads/writes
        for name, fn in impls.items():
            with torch.no_grad():
                ms = median_ms(lambda: fn(x, phi, b, *alphas), dev)
            emit(impl=name, op="layer", mode="fwd", N=n, hc=hc, c=c, ms=ms, min_bytes=fwd_bytes)
            xg = x.clone().requires_grad_(True)
            pg = [t.clone().requires_grad_(True) for t in [phi, b, *alphas]]
            go = torch.randn_like(x)

            def step():
                for t in [xg, *pg]:
                    t.grad = None
                fn(xg, *pg).backward(go)

            ms = median_ms(step, dev)
            emit(impl=name, op="layer", mode="fwd+bwd", N=n, hc=hc, c=c, ms=ms, min_bytes=fwd_bytes + bwd_bytes)
        del x

    print(f"\n{'impl':14s} {'op':6s} {'mode':8s} {'shape':18s} {'ms':>9s} {'GB/s':>7s}")
    for r in rows:
        shape = f"{r['N']}x{r['hc']}x{r['c']}"
        print(f"{r['impl']:14s} {r['op']:6s} {r['mode']:8s} {shape:18s} {r['ms']:9.3f} {r['min_bytes'] / r['ms'] / 1e6:7.0f}")


if __name__ == "__main__":
    main()
