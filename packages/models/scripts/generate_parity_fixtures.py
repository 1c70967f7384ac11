#!/usr/bin/env python3
"""Model-level parity fixtures: PyTorch float64 is the oracle.

Writes, into OUT_DIR (default: ../fixtures/parity beside this script):
  manifest.json            the cases (model kind, config, name convention, files)
  <case>.safetensors       the checkpoint, under the names its source uses (Liger's, DeepSeek-V4's)
                           and in the dtypes it uses (Liger's mini LM keeps phi in bf16)
  <case>.expected.json     token ids, labels, and the float64 logits, loss and selected gradients

Every model here is written from its public definition (Liger-Kernel's mHC mini-LM test model,
DeepSeek-V4's inference model), computed in float64 from the stored (already rounded) weights.
The safetensors format is written by hand (8-byte little-endian header length, JSON header, raw
little-endian bytes) because the `safetensors` package is not needed for a format this small.

Usage: /usr/bin/python3 generate_parity_fixtures.py [OUT_DIR]
Needs PyTorch >= 1.13 (CPU).
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

ST_DTYPES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
}


def tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        # numpy has no bfloat16: the high 16 bits of the f32 pattern are the bf16 bits.
        return t.float().view(torch.int32).bitwise_right_shift(16).to(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, tensors, metadata=None):
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        raw = tensor_bytes(t)
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    head = json.dumps(header, separators=(",", ":"))
    head += " " * ((8 - (len(head) + 8) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head.encode())))
        f.write(head.encode())
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def as_json(t):
    t = t.detach().to(torch.float64)
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")
    os.replace(tmp, path)


def stored(t, dtype):
    """A parameter as a checkpoint stores it (rounded to dtype) and as float64 for the math."""
    s = t.to(dtype)
    return s, s.to(torch.float64).clone().requires_grad_(True)


# ----------------------------------------------------------------------------- shared mHC math
def sinkhorn(logits, iters, eps):
    """Row softmax + eps, column normalisation, then (iters - 1) x (row, column) normalisation."""
    p = torch.softmax(logits, dim=-1) + eps
    p = p / (p.sum(dim=-2, keepdim=True) + eps)
    for _ in range(iters - 1):
        p = p / (p.sum(dim=-1, keepdim=True) + eps)
        p = p / (p.sum(dim=-2, keepdim=True) + eps)
    return p


# ----------------------------------------------------------------------------- Liger's mini LM
def liger_mini_lm_case(name, gen, vocab, hc, c, tmax, batch, seq):
    """Liger-Kernel's MiniMHCLM test model: embed -> one mHC around inner Linear(c, c) -> head."""
    m = hc * hc + 2 * hc
    cfg = dict(tmax=tmax, rmsEps=1e-6, preEps=1e-4, sinkhornEps=1e-6, postMult=2.0)
    raw = {
        "embed.weight": (torch.randn(vocab, hc * c, generator=gen), torch.float32),
        "inner.weight": (torch.randn(c, c, generator=gen) / math.sqrt(c), torch.float32),
        "head.weight": (torch.randn(vocab, hc * c, generator=gen) / math.sqrt(hc * c), torch.float32),
        # Liger keeps phi in the activation dtype (bf16) and the rest in f32.
        "phi": (torch.randn(hc * c, m, generator=gen) * 0.1, torch.bfloat16),
        "b": (torch.randn(m, generator=gen) * 0.3, torch.float32),
        "alpha_pre": (torch.tensor(0.9), torch.float32),
        "alpha_post": (torch.tensor(1.1), torch.float32),
        "alpha_res": (torch.tensor(1.3), torch.float32),
    }
    ckpt, p = {}, {}
    for k, (v, dt) in raw.items():
        ckpt[k], p[k] = stored(v, dt)
    ids = torch.randint(0, vocab, (batch, seq), generator=gen)
    labels = torch.randint(0, vocab, (batch, seq), generator=gen)

    x = F.embedding(ids, p["embed.weight"]).view(batch, seq, hc, c)
    xm = x.reshape(-1, hc * c)
    invr = torch.rsqrt(xm.pow(2).mean(-1, keepdim=True) + cfg["rmsEps"])
    mix = (xm @ p["phi"]) * invr
    h_pre = torch.sigmoid(mix[:, :hc] * p["alpha_pre"] + p["b"][:hc]) + cfg["preEps"]
    h_post = torch.sigmoid(mix[:, hc : 2 * hc] * p["alpha_post"] + p["b"][hc : 2 * hc]) * cfg["postMult"]
    res_logits = mix[:, 2 * hc :].view(-1, hc, hc) * p["alpha_res"] + p["b"][2 * hc :].view(hc, hc)
    h_res = sinkhorn(res_logits, tmax, cfg["sinkhornEps"]).view(batch, seq, hc, hc)
    h_pre = h_pre.view(batch, seq, hc)
    h_post = h_post.view(batch, seq, hc)
    x_in = (x * h_pre.unsqueeze(-1)).sum(dim=-2)
    f_out = x_in @ p["inner.weight"].t()
    x_out = torch.einsum("...oi,...ic->...oc", h_res, x) + h_post.unsqueeze(-1) * f_out.unsqueeze(-2)
    logits = x_out.reshape(batch, seq, hc * c) @ p["head.weight"].t()
    loss = F.cross_entropy(logits.reshape(-1, vocab), labels.reshape(-1))
    loss.backward()
    # The mHC parameters and the inner layer (the embedding and head gradients are large and add
    # nothing the logits do not already check).
    grads = {k: as_json(p[k].grad) for k in ("phi", "b", "alpha_pre", "alpha_post", "alpha_res", "inner.weight")}
    case = {
        "name": name,
        "model": "mini-lm",
        "names": "liger",
        "config": {"vocab": vocab, "hc": hc, "c": c, "layers": 1, **cfg},
        "checkpoint": f"{name}.safetensors",
        "expected": f"{name}.expected.json",
    }
    return case, ckpt, {"ids": ids.tolist(), "labels": labels.tolist(), "logits": as_json(logits), "loss": loss.item(), "grads": grads}


# ----------------------------------------------------------------------------- tiny DeepSeek-V4
class TinyV4:
    """DeepSeek-V4's Transformer at toy size, from its public inference model definition, with
    two simplifications (the same ones as @liger-mhc/models' TinyDeepseekV4): attention is
    standard causal multi-head attention (wq, wk, wv, wo; no MLA low-rank projections, RoPE,
    compression, indexer or attention sink) and the MoE is one dense SwiGLU expert (w1, w2, w3;
    no gate, no routed experts, no clamp). Every hyper-connection step is V4's: hc_pre, hc_post,
    the stream expansion after the embedding and hc_head before the final norm and the head."""

    def __init__(self, p, cfg):
        self.p = p
        self.cfg = cfg

    def rms_norm(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.cfg["normEps"]) * w

    def hc_pre(self, x, fn, scale, base):
        n = self.cfg["hc"]
        shape = x.shape
        xf = x.flatten(2)
        rsqrt = torch.rsqrt(xf.square().mean(-1, keepdim=True) + self.cfg["normEps"])
        mixes = F.linear(xf, fn) * rsqrt
        eps = self.cfg["hcEps"]
        pre = torch.sigmoid(mixes[..., :n] * scale[0] + base[:n]) + eps
        post = 2 * torch.sigmoid(mixes[..., n : 2 * n] * scale[1] + base[n : 2 * n])
        comb = mixes[..., 2 * n :].reshape(*mixes.shape[:-1], n, n) * scale[2] + base[2 * n :].view(n, n)
        comb = sinkhorn(comb, self.cfg["sinkhornIters"], eps)
        y = torch.sum(pre.unsqueeze(-1) * x.view(shape), dim=2)
        return y, post, comb

    def hc_post(self, x, residual, post, comb):
        # y[j] = post[j]·x + Σ_i comb[i, j]·residual[i]: the residual matrix applied transposed.
        return post.unsqueeze(-1) * x.unsqueeze(-2) + torch.sum(comb.unsqueeze(-1) * residual.unsqueeze(-2), dim=2)

    def hc_head(self, x):
        p = self.p
        shape = x.shape
        xf = x.flatten(2)
        rsqrt = torch.rsqrt(xf.square().mean(-1, keepdim=True) + self.cfg["normEps"])
        mixes = F.linear(xf, p["hc_head_fn"]) * rsqrt
        pre = torch.sigmoid(mixes * p["hc_head_scale"] + p["hc_head_base"]) + self.cfg["hcEps"]
        return torch.sum(pre.unsqueeze(-1) * x.view(shape), dim=2)

    def attn(self, i, x):
        p = self.p
        b, t, d = x.shape
        h = self.cfg["heads"]
        dh = d // h
        q = F.linear(x, p[f"layers.{i}.attn.wq.weight"]).view(b, t, h, dh).transpose(1, 2)
        k = F.linear(x, p[f"layers.{i}.attn.wk.weight"]).view(b, t, h, dh).transpose(1, 2)
        v = F.linear(x, p[f"layers.{i}.attn.wv.weight"]).view(b, t, h, dh).transpose(1, 2)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
        mask = torch.ones(t, t, dtype=torch.bool).triu(1)
        scores = scores.masked_fill(mask, float("-inf"))
        o = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, t, d)
        return F.linear(o, p[f"layers.{i}.attn.wo.weight"])

    def ffn(self, i, x):
        p = self.p
        g = F.linear(x, p[f"layers.{i}.ffn.w1.weight"])
        u = F.linear(x, p[f"layers.{i}.ffn.w3.weight"])
        return F.linear(F.silu(g) * u, p[f"layers.{i}.ffn.w2.weight"])

    def block(self, i, x):
        p = self.p
        residual = x
        x, post, comb = self.hc_pre(x, p[f"layers.{i}.hc_attn_fn"], p[f"layers.{i}.hc_attn_scale"], p[f"layers.{i}.hc_attn_base"])
        x = self.attn(i, self.rms_norm(x, p[f"layers.{i}.attn_norm.weight"]))
        x = self.hc_post(x, residual, post, comb)
        residual = x
        x, post, comb = self.hc_pre(x, p[f"layers.{i}.hc_ffn_fn"], p[f"layers.{i}.hc_ffn_scale"], p[f"layers.{i}.hc_ffn_base"])
        x = self.ffn(i, self.rms_norm(x, p[f"layers.{i}.ffn_norm.weight"]))
        return self.hc_post(x, residual, post, comb)

    def forward(self, ids):
        p = self.p
        h = F.embedding(ids, p["embed.weight"])
        h = h.unsqueeze(2).repeat(1, 1, self.cfg["hc"], 1)
        for i in range(self.cfg["layers"]):
            h = self.block(i, h)
        h = self.hc_head(h)
        return F.linear(self.rms_norm(h, p["norm.weight"]), p["head.weight"])


def tiny_v4_case(name, gen, vocab, dim, heads, layers, hc, hidden, iters, batch, seq, head_grads=True):
    m = (2 + hc) * hc
    k = hc * dim

    def lin(o, i):
        return torch.randn(o, i, generator=gen) / math.sqrt(i)

    raw = {"embed.weight": torch.randn(vocab, dim, generator=gen)}
    for i in range(layers):
        for w in ("wq", "wk", "wv", "wo"):
            raw[f"layers.{i}.attn.{w}.weight"] = lin(dim, dim)
        raw[f"layers.{i}.ffn.w1.weight"] = lin(hidden, dim)
        raw[f"layers.{i}.ffn.w2.weight"] = lin(dim, hidden)
        raw[f"layers.{i}.ffn.w3.weight"] = lin(hidden, dim)
        raw[f"layers.{i}.attn_norm.weight"] = 1 + 0.1 * torch.randn(dim, generator=gen)
        raw[f"layers.{i}.ffn_norm.weight"] = 1 + 0.1 * torch.randn(dim, generator=gen)
        for part in ("attn", "ffn"):
            raw[f"layers.{i}.hc_{part}_fn"] = torch.randn(m, k, generator=gen) * 0.1
            raw[f"layers.{i}.hc_{part}_base"] = torch.randn(m, generator=gen) * 0.3
            raw[f"layers.{i}.hc_{part}_scale"] = 1 + 0.2 * torch.randn(3, generator=gen)
    raw["norm.weight"] = 1 + 0.1 * torch.randn(dim, generator=gen)
    raw["head.weight"] = lin(vocab, dim)
    raw["hc_head_fn"] = torch.randn(hc, k, generator=gen) * 0.1
    raw["hc_head_base"] = torch.randn(hc, generator=gen) * 0.3
    raw["hc_head_scale"] = 1 + 0.2 * torch.randn(1, generator=gen)
    ckpt, p = {}, {}
    for key, v in raw.items():
        ckpt[key], p[key] = stored(v, torch.float32)
    cfg = {
        "vocab": vocab,
        "dim": dim,
        "heads": heads,
        "layers": layers,
        "hc": hc,
        "ffnHidden": hidden,
        "normEps": 1e-6,
        "hcEps": 1e-6,
        "sinkhornIters": iters,
    }
    ids = torch.randint(0, vocab, (batch, seq), generator=gen)
    labels = torch.randint(0, vocab, (batch, seq), generator=gen)
    logits = TinyV4(p, cfg).forward(ids)
    loss = F.cross_entropy(logits.reshape(-1, vocab), labels.reshape(-1))
    loss.backward()
    # The first attention and last FFN hyper-connection, the head's, and one weight of each other kind.
    last = layers - 1
    picked = [f"layers.0.hc_attn_{s}" for s in ("fn", "base", "scale")]
    picked += [f"layers.{last}.hc_ffn_{s}" for s in ("fn", "base", "scale")]
    if head_grads:
        picked += ["hc_head_fn", "hc_head_base", "hc_head_scale"]
    picked += [
        "layers.0.attn.wq.weight",
        f"layers.{last}.ffn.w2.weight",
        "layers.0.attn_norm.weight",
        "norm.weight",
        "head.weight",
    ]
    case = {
        "name": name,
        "model": "tiny-deepseek-v4",
        "names": "deepseek-v4",
        "config": cfg,
        "checkpoint": f"{name}.safetensors",
        "expected": f"{name}.expected.json",
    }
    grads = {key: as_json(p[key].grad) for key in picked}
    return case, ckpt, {"ids": ids.tolist(), "labels": labels.tolist(), "logits": as_json(logits), "loss": loss.item(), "grads": grads}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "fixtures", "parity")
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(20260413)
    cases = [
        # Liger's own test shapes (test_mhc_mini_lm_output_match): (32, 2, 16, 4) and (64, 4, 32, 8).
        liger_mini_lm_case("liger-mini-lm-hc2", gen, vocab=32, hc=2, c=16, tmax=4, batch=2, seq=8),
        liger_mini_lm_case("liger-mini-lm-hc4", gen, vocab=64, hc=4, c=32, tmax=8, batch=1, seq=6),
        tiny_v4_case("tiny-deepseek-v4", gen, vocab=13, dim=8, heads=2, layers=2, hc=4, hidden=16, iters=20, batch=2, seq=6),
        # Its head gradients are sums of order-0.1 terms that cancel to order 1e-4, more than an
        # f32 computation can resolve to the kit's f32 tolerance; the hc4 case checks the head.
        tiny_v4_case(
            "tiny-deepseek-v4-hc2", gen, vocab=11, dim=6, heads=3, layers=1, hc=2, hidden=12, iters=8, batch=1, seq=7, head_grads=False
        ),
    ]
    manifest = {"format": "liger-mhc-parity", "version": 1, "cases": []}
    for case, ckpt, expected in cases:
        meta = {"format": "liger-mhc-parity-checkpoint", "source": case["names"]}
        write_safetensors(os.path.join(out, case["checkpoint"]), ckpt, meta)
        write_json(os.path.join(out, case["expected"]), expected)
        manifest["cases"].append(case)
    write_json(os.path.join(out, "manifest.json"), manifest)
    # Not a parity case: a PyTorch-style file with 64-bit integers, float64 and metadata, for the
    # reader / writer / convert round-trip tests (values past 2^31 and negative ones included).
    write_safetensors(
        os.path.join(out, "torch-i64-metadata.safetensors"),
        {
            "token_ids": torch.tensor([[3, 1, 4], [1, 5, 9]], dtype=torch.int64),
            "global_step": torch.tensor(2**40 + 7, dtype=torch.int64),
            "offsets": torch.tensor([-(2**33), 0, 2**35], dtype=torch.int64),
            "loss_scale": torch.tensor([0.1, -2.5], dtype=torch.float64),
            "alpha_pre": torch.tensor(0.75, dtype=torch.float32),
        },
        {"format": "pt", "written_by": "generate_parity_fixtures.py"},
    )
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()
