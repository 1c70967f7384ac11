#!/usr/bin/env python3
"""Golden fixtures for the DeepSeek-V4 hyper-connection ops and Liger's mixed-dtype rules.

Written from DeepSeek-V4's public model definition (hc_pre / hc_post / hc_head, the embedding
expanded into hc_mult streams) with PyTorch autograd in float64: an oracle independent of every
backend. Inputs are rounded to their storage dtype first, so a backend storing them in that dtype
holds exactly these numbers. The file format is the one of fixtures/golden (README.md there).

    /usr/bin/python3 packages/conformance/scripts/gen-v4-fixtures.py [--out packages/conformance/fixtures/golden-v4]
"""
import argparse
import json
import math
import os

import torch

torch.set_default_dtype(torch.float64)

DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16, "f64": torch.float64}


def rounded(t, dtype):
    return t.to(DTYPES[dtype]).to(torch.float64)


def flat(t):
    t = t.detach()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def leaf(t):
    return t.detach().clone().requires_grad_(True)


def vjp(outputs, inputs, cotangents):
    grads = torch.autograd.grad(outputs, inputs, cotangents, allow_unused=True)
    return [g if g is not None else torch.zeros_like(i) for g, i in zip(grads, inputs)]


# ---- V4's math, float64 -----------------------------------------------------------------------

def inv_rms(x_flat, eps):
    return torch.rsqrt(x_flat.square().mean(-1, keepdim=True) + eps)


def split_sinkhorn(mixes, scale, base, hc, iters, eps, post_mult=2.0):
    """pre = σ(·)+eps, post = post_mult·σ(·), comb: softmax over the last axis + eps, column
    normalisation, then iters-1 rounds of row and column normalisation."""
    pre = torch.sigmoid(mixes[..., :hc] * scale[0] + base[:hc]) + eps
    post = post_mult * torch.sigmoid(mixes[..., hc:2 * hc] * scale[1] + base[hc:2 * hc])
    comb = (mixes[..., 2 * hc:] * scale[2] + base[2 * hc:]).reshape(*mixes.shape[:-1], hc, hc)
    comb = torch.softmax(comb, -1) + eps
    comb = comb / (comb.sum(-2, keepdim=True) + eps)
    for _ in range(iters - 1):
        comb = comb / (comb.sum(-1, keepdim=True) + eps)
        comb = comb / (comb.sum(-2, keepdim=True) + eps)
    return pre, post, comb


def coeffs_v4(x, fn, base, scale, cfg):
    xf = x.flatten(-2)
    mixes = (xf @ fn.t()) * inv_rms(xf, cfg["rmsEps"])
    return split_sinkhorn(mixes, scale, base, x.shape[-2], cfg["tmax"], cfg["preEps"], cfg["postMult"])


def hc_pre(x, pre):
    return (pre.unsqueeze(-1) * x).sum(-2)


def hc_post(f, residual, post, comb):
    # out[o] = post[o]·f + Σ_i comb[i, o]·residual[i] (the residual matrix applied transposed)
    return post.unsqueeze(-1) * f.unsqueeze(-2) + (comb.unsqueeze(-1) * residual.unsqueeze(-2)).sum(-3)


def head(x, fn, base, scale, rms_eps, eps):
    xf = x.flatten(-2)
    mixes = (xf @ fn.t()) * inv_rms(xf, rms_eps)
    w = torch.sigmoid(mixes * scale + base) + eps
    return (w.unsqueeze(-1) * x).sum(-2), w


def rms_norm(v, weight, eps):
    return v * torch.rsqrt(v.square().mean(-1, keepdim=True) + eps) * weight


# ---- cases ----------------------------------------------------------------------------------------

def v4_cfg(tmax=20, rms=1e-6, hc_eps=1e-6, post=2.0):
    return {"tmax": tmax, "rmsEps": rms, "preEps": hc_eps, "sinkhornEps": hc_eps, "postMult": post}


def case_head(gen, name, outer, hc, c, xdtype, rms_eps=1e-6, eps=1e-6, scale=1.0, base_scale=0.5):
    x = leaf(rounded(torch.randn(*outer, hc, c, generator=gen), xdtype))
    fn = leaf(rounded(torch.randn(hc, hc * c, generator=gen) * 0.05, "f32"))
    base = leaf(rounded(torch.randn(hc, generator=gen) * base_scale, "f32"))
    sc = leaf(rounded(torch.tensor([scale]), "f32"))
    y, w = head(x, fn, base, sc, rms_eps, eps)
    cot = rounded(torch.randn(*y.shape, generator=gen), "f32")
    g = vjp([y], [x, fn, base, sc], [cot])
    return {
        "name": name, "op": "head",
        "config": {"rmsEps": rms_eps, "eps": eps},
        "dtypes": {"x": xdtype},
        "inputs": {"x": flat(x), "phi": flat(fn), "base": flat(base), "scale": flat(sc)},
        "cotangents": {"y": flat(cot)},
        "outputs": {"y": flat(y), "weights": flat(w)},
        "grads": {"x": flat(g[0]), "phi": flat(g[1]), "base": flat(g[2]), "scale": flat(g[3])},
    }


def case_expand(gen, name, outer, hc, c, xdtype):
    x = leaf(rounded(torch.randn(*outer, c, generator=gen), xdtype))
    y = x.unsqueeze(-2).repeat(*([1] * len(outer)), hc, 1)
    cot = rounded(torch.randn(*y.shape, generator=gen), "f32")
    g = vjp([y], [x], [cot])
    return {
        "name": name, "op": "expand", "config": {"hc": hc}, "dtypes": {"x": xdtype},
        "inputs": {"x": flat(x)}, "cotangents": {"y": flat(cot)},
        "outputs": {"y": flat(y)}, "grads": {"x": flat(g[0])},
    }


def case_pre_norm(gen, name, outer, hc, c, xdtype, wdtype, eps=1e-6):
    x = leaf(rounded(torch.randn(*outer, hc, c, generator=gen), xdtype))
    h = leaf(rounded(torch.rand(*outer, hc, generator=gen) + 0.1, "f32"))
    w = leaf(rounded(1 + 0.3 * torch.randn(c, generator=gen), wdtype))
    y = rms_norm(hc_pre(x, h), w, eps)
    cot = rounded(torch.randn(*y.shape, generator=gen), "f32")
    g = vjp([y], [x, h, w], [cot])
    return {
        "name": name, "op": "preNorm", "config": {"eps": eps}, "dtypes": {"x": xdtype, "weight": wdtype},
        "inputs": {"x": flat(x), "hPre": flat(h), "weight": flat(w)}, "cotangents": {"y": flat(cot)},
        "outputs": {"y": flat(y)}, "grads": {"x": flat(g[0]), "hPre": flat(g[1]), "weight": flat(g[2])},
    }


def case_coeffs_v4(gen, name, outer, hc, c, cfg, xdtype, scale=(1.0, 1.0, 1.0), base_scale=0.5,
                   unused=()):
    m = (2 + hc) * hc
    x = leaf(rounded(torch.randn(*outer, hc, c, generator=gen), xdtype))
    fn = leaf(rounded(torch.randn(m, hc * c, generator=gen) * 0.05, "f32"))
    base = leaf(rounded(torch.randn(m, generator=gen) * base_scale, "f32"))
    sc = leaf(rounded(torch.tensor(scale), "f32"))
    outs = coeffs_v4(x, fn, base, sc, cfg)
    names = ["hPre", "hPost", "hRes"]
    cots = [torch.zeros_like(o) if n in unused else rounded(torch.randn(*o.shape, generator=gen), "f32")
            for n, o in zip(names, outs)]
    g = vjp(list(outs), [x, fn, base, sc], cots)
    return {
        "name": name, "op": "coeffsV4", "config": cfg, "dtypes": {"x": xdtype, "phi": "f32"},
        "inputs": {"x": flat(x), "phi": flat(fn), "base": flat(base), "scale": flat(sc)},
        "cotangents": {n: flat(t) for n, t in zip(names, cots)},
        "outputs": {n: flat(t) for n, t in zip(names, outs)},
        "grads": {"x": flat(g[0]), "phi": flat(g[1]), "base": flat(g[2]), "scale": flat(g[3])},
    }


def case_block_v4(gen, name, outer, hc, c, cfg, xdtype, norm_eps=1e-6):
    """One V4 sublayer: coefficients, pre, the layer's RMSNorm, a bias-free Linear, post."""
    m = (2 + hc) * hc
    x = leaf(rounded(torch.randn(*outer, hc, c, generator=gen), xdtype))
    fn = leaf(rounded(torch.randn(m, hc * c, generator=gen) * 0.05, "f32"))
    base = leaf(rounded(torch.randn(m, generator=gen) * 0.5, "f32"))
    sc = leaf(rounded(torch.tensor([0.7, 1.1, 0.9]), "f32"))
    nw = leaf(rounded(1 + 0.2 * torch.randn(c, generator=gen), "f32"))
    lw = leaf(rounded(torch.randn(c, c, generator=gen) / math.sqrt(c), "f32"))
    pre, post, comb = coeffs_v4(x, fn, base, sc, cfg)
    f = rms_norm(hc_pre(x, pre), nw, norm_eps) @ lw.t()
    out = hc_post(f, x, post, comb)
    cot = rounded(torch.randn(*out.shape, generator=gen), "f32")
    ins = [x, fn, base, sc, nw, lw]
    g = vjp([out], ins, [cot])
    keys = ["x", "phi", "base", "scale", "normWeight", "weight"]
    return {
        "name": name, "op": "blockV4", "config": {**cfg, "normEps": norm_eps},
        "dtypes": {"x": xdtype},
        "inputs": {k: flat(t) for k, t in zip(keys, ins)},
        "cotangents": {"out": flat(cot)},
        "outputs": {"out": flat(out), "hPre": flat(pre), "hPost": flat(post), "hRes": flat(comb)},
        "grads": {k: flat(t) for k, t in zip(keys, g)},
    }


def case_apply_mixed(gen, name, outer, hc, c, xdtype, fdtype, orientation="liger"):
    """Liger's dtype rule: post_res with f in its own dtype (its mini-LM: bf16 streams, f32 f)."""
    x = rounded(torch.randn(*outer, hc, c, generator=gen), xdtype)
    f = rounded(torch.randn(*outer, c, generator=gen), fdtype)
    h_pre = rounded(torch.rand(*outer, hc, generator=gen), "f32")
    h_post = rounded(torch.rand(*outer, hc, generator=gen) * 2, "f32")
    h_res = rounded(torch.rand(*outer, hc, hc, generator=gen), "f32")
    xp, hp = leaf(x), leaf(h_pre)
    x_in = hc_pre(xp, hp)
    xq, fq, hpo, hre = leaf(x), leaf(f), leaf(h_post), leaf(h_res)
    r = hre.transpose(-1, -2) if orientation == "liger" else hre
    x_out = hc_post(fq, xq, hpo, r)
    c_in = rounded(torch.randn(*x_in.shape, generator=gen), "f32")
    c_out = rounded(torch.randn(*x_out.shape, generator=gen), "f32")
    g_pre = vjp([x_in], [xp, hp], [c_in])
    g_post = vjp([x_out], [xq, fq, hpo, hre], [c_out])
    return {
        "name": name, "op": "apply", "config": {"orientation": orientation},
        "dtypes": {"x": xdtype, "f": fdtype},
        "inputs": {"x": flat(x), "f": flat(f), "hPre": flat(h_pre), "hPost": flat(h_post), "hRes": flat(h_res)},
        "cotangents": {"xIn": flat(c_in), "xOut": flat(c_out)},
        "outputs": {"xIn": flat(x_in), "xOut": flat(x_out)},
        "grads": {
            "pre": {"x": flat(g_pre[0]), "hPre": flat(g_pre[1])},
            "postRes": {"x": flat(g_post[0]), "f": flat(g_post[1]), "hPost": flat(g_post[2]), "hRes": flat(g_post[3])},
        },
    }


def cases(gen):
    out = []
    for hc in (2, 4):
        for dt in ("bf16", "f16", "f32"):
            out.append(case_head(gen, f"head-hc{hc}-c16-{dt}", [2, 3], hc, 16, dt))
            out.append(case_expand(gen, f"expand-hc{hc}-c24-{dt}", [5], hc, 24, dt))
            out.append(case_pre_norm(gen, f"pre-norm-hc{hc}-c32-{dt}", [2, 4], hc, 32, dt, "f32"))
            out.append(case_coeffs_v4(gen, f"coeffs-v4-hc{hc}-c16-{dt}", [6], hc, 16, v4_cfg(), dt,
                                      scale=(0.8, 1.2, 0.9)))
    # odd sizes: c and token counts that fit no vector width
    out.append(case_head(gen, "head-hc4-c17-odd", [7], 4, 17, "bf16", scale=1.3))
    out.append(case_head(gen, "head-hc2-c9-f32-large-scale", [3, 1], 2, 9, "f32", scale=4.0, base_scale=2.0))
    out.append(case_expand(gen, "expand-hc4-c7-odd", [3, 3], 4, 7, "bf16"))
    out.append(case_expand(gen, "expand-hc2-c1", [4], 2, 1, "f16"))
    out.append(case_pre_norm(gen, "pre-norm-hc4-c17-odd-bf16w", [5], 4, 17, "bf16", "bf16"))
    out.append(case_pre_norm(gen, "pre-norm-hc2-c33-odd-f16", [3], 2, 33, "f16", "f32", eps=1e-5))
    out.append(case_coeffs_v4(gen, "coeffs-v4-hc4-c17-odd", [5], 4, 17, v4_cfg(tmax=7), "bf16"))
    out.append(case_coeffs_v4(gen, "coeffs-v4-hc2-c9-unused-res", [4], 2, 9, v4_cfg(), "f32",
                              unused=("hRes",)))
    out.append(case_block_v4(gen, "block-v4-hc4-c16-bf16", [2, 3], 4, 16, v4_cfg(), "bf16"))
    out.append(case_block_v4(gen, "block-v4-hc2-c12-f32", [5], 2, 12, v4_cfg(tmax=5), "f32"))
    out.append(case_apply_mixed(gen, "apply-mixed-bf16-x-f32-f", [3, 2], 4, 16, "bf16", "f32"))
    out.append(case_apply_mixed(gen, "apply-mixed-f16-x-f32-f-deepseek", [5], 2, 9, "f16", "f32", "deepseek"))
    out.append(case_apply_mixed(gen, "apply-mixed-f32-x-bf16-f", [4], 4, 10, "f32", "bf16"))
    # eps values large enough to be seen at f32 tolerance (the defaults, 1e-6, are not)
    out.append(case_head(gen, "head-hc4-c8-large-eps", [6], 4, 8, "f32", rms_eps=0.3, eps=0.25))
    out.append(case_pre_norm(gen, "pre-norm-hc2-c16-large-eps", [4], 2, 16, "f32", "f32", eps=0.5))
    out.append(case_coeffs_v4(gen, "coeffs-v4-hc2-c8-large-eps", [5], 2, 8,
                              v4_cfg(tmax=6, rms=0.2, hc_eps=0.05), "f32"))
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=os.path.join(here, "..", "fixtures", "golden-v4"))
    ap.add_argument("--seed", type=int, default=20260413)
    args = ap.parse_args()
    gen = torch.Generator().manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    index = []
    for case in cases(gen):
        path = os.path.join(args.out, case["name"] + ".json")
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(case, fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        index.append({"name": case["name"], "op": case["op"], "file": case["name"] + ".json"})
    tmp = os.path.join(args.out, "index.json.tmp")
    with open(tmp, "w") as fh:
        json.dump(index, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, os.path.join(args.out, "index.json"))
    print(f"{len(index)} cases in {args.out}")


if __name__ == "__main__":
    main()
