#!/usr/bin/env python3
"""Golden fixtures for the cross-layer boundary op (mhcPostResCoeffsPre).

The boundary between mHC sublayers l and l+1: xOut = post_res(x, f, hPost, hRes) of sublayer l,
then sublayer l+1's coefficients of xOut and xIn = pre(xOut, hPre). Forward values and the VJP
w.r.t. every input come from PyTorch autograd in float64, with the reference math of
fixtures/golden/generate.py (imported, so the spec has one definition). Inputs are rounded to
their storage dtype first, and so is xOut where the coefficients and pre read it (the op stores it
in x's dtype); outputs and gradients are exact float64.

    /usr/bin/python3 packages/conformance/scripts/gen-xlayer-fixtures.py [--out packages/conformance/fixtures/golden-xlayer]
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures", "golden"))

sys.dont_write_bytecode = True  # nothing written into the fixture folders

import torch  # noqa: E402

from generate import coeffs, flat, leaf, post_res, pre_apply, rounded, vjp  # noqa: E402

torch.set_default_dtype(torch.float64)


def cfg_of(tmax=20, rms=1e-6, pre=0.0, sk=1e-6, post=2.0, orientation="liger", phi_layout="liger"):
    return {"tmax": tmax, "rmsEps": rms, "preEps": pre, "sinkhornEps": sk, "postMult": post,
            "orientation": orientation, "phiLayout": phi_layout}


def case(gen, name, outer, hc, c, cfg, xdtype="bf16", fdtype=None, unused=()):
    fdtype = fdtype or xdtype
    m = hc * hc + 2 * hc
    k = hc * c
    x = rounded(torch.randn(*outer, hc, c, generator=gen), xdtype)
    f = rounded(torch.randn(*outer, c, generator=gen), fdtype)
    h_post = rounded(torch.rand(*outer, hc, generator=gen) * 2, "f32")
    # Rows near-stochastic, as a Sinkhorn output is, but not exactly (the op must not assume it).
    h_res = rounded(torch.softmax(torch.randn(*outer, hc, hc, generator=gen), dim=-1), "f32")
    phi = rounded(torch.randn(k, m, generator=gen) * 0.05, "f32")
    b = rounded(torch.randn(m, generator=gen) * 0.3, "f32")
    ap, apo, ar = (rounded(torch.tensor(a), "f32") for a in (0.8, 0.6, 0.7))
    ins = [leaf(t) for t in (x, f, h_post, h_res, phi, b, ap, apo, ar)]
    xl, fl, hql, hrl, phil, bl, apl, apol, arl = ins
    x_out = post_res(xl, fl, hql, hrl, cfg["orientation"])
    # The op stores xOut in x's dtype and the coefficients and pre read what it stored (as running
    # post_res then coeffs + pre does): round here too, with the gradient passing straight through.
    x_out = x_out + (rounded(x_out.detach(), xdtype) - x_out.detach())
    pre, post, res = coeffs(x_out, phil, bl, apl, apol, arl, cfg)
    x_in = pre_apply(x_out, pre)
    outs = {"xOut": x_out, "hPre": pre, "hPost": post, "hRes": res, "xIn": x_in}
    cots = {key: torch.randn(t.shape, generator=gen) for key, t in outs.items()}
    for u in unused:  # an output the loss does not use gets a zero cotangent
        cots[u].zero_()
    grads = vjp(list(outs.values()), ins, list(cots.values()))
    names = ["x", "f", "hPost", "hRes", "phi", "b", "alphaPre", "alphaPost", "alphaRes"]
    stored_phi = phi.t().contiguous() if cfg["phiLayout"] == "deepseek" else phi
    grads[4] = grads[4].t().contiguous() if cfg["phiLayout"] == "deepseek" else grads[4]
    inputs = dict(zip(names, (x, f, h_post, h_res, stored_phi, b, ap, apo, ar)))
    return {
        "name": name, "op": "postResCoeffsPre", "config": cfg,
        "dtypes": {"x": xdtype, "f": fdtype, "phi": "f32"},
        "inputs": {n: flat(t) for n, t in inputs.items()},
        "cotangents": {n: flat(t) for n, t in cots.items()},
        "outputs": {n: flat(t) for n, t in outs.items()},
        "grads": {n: flat(g) for n, g in zip(names, grads)},
    }


def cases(gen):
    # Names avoid "layer": the kit's filter matches substrings, and "layer" selects the layer cases.
    v4 = dict(pre=1e-6, sk=1e-6, phi_layout="deepseek", orientation="deepseek")
    return [
        case(gen, "boundary-hc2-c8-f32", [3], 2, 8, cfg_of(), "f32"),
        case(gen, "boundary-hc4-c16-bf16", [2, 3], 4, 16, cfg_of(), "bf16"),
        case(gen, "boundary-hc4-c17-odd-bf16-x-f32-f", [5], 4, 17, cfg_of(), "bf16", "f32"),
        case(gen, "boundary-hc6-c5-f16", [4], 6, 5, cfg_of(tmax=10), "f16"),
        case(gen, "boundary-hc8-c9-f16-x-f32-f", [2], 8, 9, cfg_of(), "f16", "f32"),
        case(gen, "boundary-hc4-c12-deepseek-orientation", [4], 4, 12, cfg_of(orientation="deepseek"), "bf16"),
        case(gen, "boundary-hc4-c8-v4-layout-f32", [3], 4, 8, cfg_of(**v4), "f32"),
        case(gen, "boundary-hc3-c7-unused-xout-hpre", [3], 3, 7, cfg_of(tmax=4), "f32", unused=("xOut", "hPre")),
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "fixtures", "golden-xlayer"))
    ap.add_argument("--seed", type=int, default=20261205)
    args = ap.parse_args()
    gen = torch.Generator().manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    index = []
    for c in cases(gen):
        c["generator"] = {"torch": torch.__version__, "seed": args.seed}
        path = os.path.join(args.out, c["name"] + ".json")
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(c, fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        index.append({"name": c["name"], "op": c["op"], "file": c["name"] + ".json"})
    with open(os.path.join(args.out, "index.json"), "w") as fh:
        json.dump(index, fh, indent=1)
    print(f"wrote {len(index)} cases to {args.out}")


if __name__ == "__main__":
    main()
