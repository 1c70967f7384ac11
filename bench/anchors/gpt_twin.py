#!/usr/bin/env python3
"""The PyTorch twin of @liger-mhc/models' GPT, for the model benchmark (bench/src/model-gpt.ts).

Same architecture (token + learned position embedding, hc residual streams, per block an attention
and an MLP branch, each RMSNorm-pre-normed and wrapped in mHC or a plain residual, stream sum,
RMSNorm, bias-free head), same initial weights and batches (read from the safetensors file the
TypeScript side writes: its parameters under their state-dict names, the batches as `data.x` /
`data.y`; the configuration comes as a JSON file), the same AdamW hyperparameters, and the same
precision rule (f32 master weights, cast to the activation dtype in each linear). mHC runs as plain
eager PyTorch ops (no fused kernels), which is what a user without a fused library would train.

Prints one JSON object per line: {"kind": "loss", "step", "loss", "ms"} per step, then
{"kind": "summary", ...} with the median step time after warm-up, tokens/s and peak bytes.
"""
import argparse
import json
import math
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

ST_DTYPES = {"F32": np.float32, "I32": np.int32, "F16": np.float16}


def read_safetensors(path):
    """name -> tensor, and the __metadata__ dict. BF16 is widened to f32 via its bit pattern."""
    with open(path, "rb") as fh:
        raw = fh.read()
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError(f"{path}: header length {n} exceeds the file")
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, e in header.items():
        b0, b1 = e["data_offsets"]
        if not (0 <= b0 <= b1 <= len(raw) - base):
            raise ValueError(f"{path}: tensor {name} lies outside the file")
        buf = raw[base + b0 : base + b1]
        if e["dtype"] == "BF16":
            bits = np.frombuffer(buf, dtype=np.uint16).astype(np.uint32) << 16
            arr = bits.view(np.float32)
        elif e["dtype"] in ST_DTYPES:
            arr = np.frombuffer(buf, dtype=ST_DTYPES[e["dtype"]])
        else:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {e['dtype']}")
        out[name] = torch.from_numpy(arr.copy()).reshape(e["shape"])
    return out, meta


class RMSNorm(torch.nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float()
        # The weight is cast to the activation dtype first, as the TypeScript RMSNorm does.
        w = self.weight.to(x.dtype).float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps) * w).to(x.dtype)


def linear(x, weight):
    return F.linear(x, weight.to(x.dtype))


class Linear(torch.nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(n_out, n_in))

    def forward(self, x):
        return linear(x, self.weight)


class Embedding(torch.nn.Module):
    def __init__(self, vocab, dim):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(vocab, dim))

    def forward(self, ids):
        return F.embedding(ids, self.weight)


class Attention(torch.nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = Linear(dim, 3 * dim)
        self.proj = Linear(dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        h = self.heads
        dh = d // h
        qkv = linear(x, self.qkv.weight).view(b, t, 3, h, dh).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * (1 / math.sqrt(dh)), qkv[1], qkv[2]
        scores = (q @ k.transpose(-1, -2)).float()
        mask = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
        weights = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1).to(x.dtype)
        ctx = (weights @ v).transpose(1, 2).reshape(b, t, d)
        return self.proj(ctx)


class MLP(torch.nn.Module):
    def __init__(self, dim, hidden, activation):
        super().__init__()
        self.up = Linear(dim, hidden)
        self.down = Linear(hidden, dim)
        self.activation = activation

    def forward(self, x):
        h = self.up(x)
        h = F.gelu(h, approximate="tanh") if self.activation == "gelu" else F.silu(h)
        return self.down(h)


class PreNorm(torch.nn.Module):
    def __init__(self, norm, fn):
        super().__init__()
        self.norm = norm
        self.fn = fn

    def forward(self, x):
        return self.fn(self.norm(x))


class Residual(torch.nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return x + self.layer(x)


class MHC(torch.nn.Module):
    """mHC around a layer, Liger's convention, as eager ops (coefficients and mixing in f32)."""

    def __init__(self, layer, hc, c, opts):
        super().__init__()
        m = hc * hc + 2 * hc
        self.hc = hc
        self.opts = opts
        self.phi = torch.nn.Parameter(torch.empty(hc * c, m))
        self.b = torch.nn.Parameter(torch.zeros(m))
        self.alphaPre = torch.nn.Parameter(torch.tensor(0.0))
        self.alphaPost = torch.nn.Parameter(torch.tensor(0.0))
        self.alphaRes = torch.nn.Parameter(torch.tensor(0.0))
        self.layer = layer

    def coeffs(self, x):
        hc, o = self.hc, self.opts
        xm = x.reshape(-1, x.shape[-2] * x.shape[-1]).float()
        invr = torch.rsqrt(xm.pow(2).mean(-1, keepdim=True) + o["rmsEps"])
        mix = (xm @ self.phi.float()) * invr
        h_pre = torch.sigmoid(mix[:, :hc] * self.alphaPre + self.b[:hc]) + o["preEps"]
        h_post = torch.sigmoid(mix[:, hc : 2 * hc] * self.alphaPost + self.b[hc : 2 * hc]) * o["postMult"]
        logits = mix[:, 2 * hc :].reshape(-1, hc, hc) * self.alphaRes + self.b[2 * hc :].reshape(hc, hc)
        eps = o["sinkhornEps"]
        p = torch.softmax(logits, dim=-1) + eps
        p = p / (p.sum(-2, keepdim=True) + eps)
        for _ in range(o["tmax"] - 1):
            p = p / (p.sum(-1, keepdim=True) + eps)
            p = p / (p.sum(-2, keepdim=True) + eps)
        if o["orientation"] == "deepseek":
            p = p.transpose(-1, -2)
        lead = x.shape[:-2]
        return h_pre.reshape(*lead, hc), h_post.reshape(*lead, hc), p.reshape(*lead, hc, hc)

    def forward(self, x):
        h_pre, h_post, h_res = self.coeffs(x)
        xf = x.float()
        x_in = (h_pre.unsqueeze(-1) * xf).sum(-2).to(x.dtype)
        f = self.layer(x_in)
        out = h_res @ xf + h_post.unsqueeze(-1) * f.float().unsqueeze(-2)
        return out.to(x.dtype)


class Block(torch.nn.Module):
    def __init__(self, attn, mlp):
        super().__init__()
        self.attn = attn
        self.mlp = mlp

    def forward(self, x):
        return self.mlp(self.attn(x))


class GPT(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, hc = cfg["dim"], cfg["hc"]
        self.cfg = cfg
        self.plain = cfg["residual"] == "plain"
        self.tokenEmbedding = Embedding(cfg["vocab"], d)
        self.positionEmbedding = Embedding(cfg["maxSeq"], d)
        opts = cfg["mhc"]

        def wrap(branch):
            return Residual(branch) if self.plain else MHC(branch, hc, d, opts)

        self.blocks = torch.nn.ModuleList()
        for _ in range(cfg["layers"]):
            attn = PreNorm(RMSNorm(d), Attention(d, cfg["heads"]))
            mlp = PreNorm(RMSNorm(d), MLP(d, cfg["mlpHidden"], cfg["activation"]))
            self.blocks.append(Block(wrap(attn), wrap(mlp)))
        self.norm = RMSNorm(d)
        self.head = Linear(d, cfg["vocab"])

    def forward(self, ids, act_dtype):
        t = ids.shape[1]
        pos = torch.arange(t, device=ids.device)
        h = (self.tokenEmbedding(ids) + self.positionEmbedding(pos)).to(act_dtype)
        if not self.plain:
            h = h.unsqueeze(-2).expand(*h.shape[:-1], self.cfg["hc"], h.shape[-1])
        for block in self.blocks:
            h = block(h)
        if not self.plain:
            h = h.sum(-2)
        return self.head(self.norm(h))


def peak_bytes_cpu(step, live_bytes):
    """Peak tensor bytes of one step on the CPU: the live tensors before it plus the highest running
    sum of the allocations and frees the profiler records during it (torch has no CPU allocator
    statistics)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    run = peak = 0
    for e in sorted(prof.events(), key=lambda e: e.time_range.start):
        if e.self_cpu_memory_usage:
            run += e.self_cpu_memory_usage
            peak = max(peak, run)
    return live_bytes() + peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--init", required=True, help="safetensors file written by the TypeScript side")
    ap.add_argument("--config", required=True, help="the run's JSON configuration (model, AdamW, dtype)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (CPU); 0 = leave")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10, help="steps left out of the median")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (torch >= 2)")
    args = ap.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    tensors, _ = read_safetensors(args.init)
    with open(args.config) as fh:
        cfg = json.load(fh)
    dev = torch.device(args.device)
    act = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[cfg["dtype"]]
    data_x = tensors.pop("data.x").long()
    data_y = tensors.pop("data.y").long()
    model = GPT(cfg)
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise SystemExit(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
    model.to(dev)
    adam = cfg["adamw"]
    optim = torch.optim.AdamW(
        model.parameters(),
        lr=adam["lr"],
        betas=tuple(adam["betas"]),
        eps=adam["eps"],
        weight_decay=adam["weightDecay"],
    )
    fwd = model
    if args.compile:
        if not hasattr(torch, "compile"):
            print(json.dumps({"kind": "unavailable", "reason": f"torch {torch.__version__} has no torch.compile"}))
            return
        fwd = torch.compile(model)

    n_batches = data_x.shape[0]
    batches = [(data_x[i].to(dev), data_y[i].to(dev)) for i in range(n_batches)]
    cuda = dev.type == "cuda"

    def train_step(i):
        x, y = batches[i % n_batches]
        logits = fwd(x, act)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1))
        loss.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)
        return loss

    times = []
    for i in range(args.steps):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss = train_step(i)
        v = loss.item()  # the loss is read every step on both sides
        ms = (time.perf_counter() - t0) * 1000
        times.append(ms)
        print(json.dumps({"kind": "loss", "step": i + 1, "loss": v, "ms": ms}), flush=True)

    def live_bytes():
        total = 0
        for p in model.parameters():
            total += p.numel() * p.element_size()
        for s in optim.state.values():
            for t in s.values():
                if torch.is_tensor(t):
                    total += t.numel() * t.element_size()
        return total

    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        train_step(args.steps)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = peak_bytes_cpu(lambda: train_step(args.steps), live_bytes)
    timed = sorted(times[args.warmup :])
    med = timed[len(timed) // 2] if len(timed) % 2 else (timed[len(timed) // 2 - 1] + timed[len(timed) // 2]) / 2
    tokens = data_x.shape[1] * data_x.shape[2]
    print(
        json.dumps(
            {
                "kind": "summary",
                "median_ms": med,
                "tokens_per_s": tokens / (med / 1000),
                "peak_bytes": peak,
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        sys.exit(1)
