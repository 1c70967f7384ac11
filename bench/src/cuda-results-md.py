#!/usr/bin/env python3
"""Tables for bench/results from one GPU call of tooling/gpu/cuda-run.sh: the CUDA benchmark
(cuda-bench.json), the PyTorch anchor (torch.log, JSON lines), the PyTorch peak-memory script
(torch-peak.log) and the checks (cuda-check.json). Prints Markdown; the prose around it is written
by hand.

    python3 bench/src/cuda-results-md.py <dir with the call's outputs>
"""
import json
import sys
from pathlib import Path

d = Path(sys.argv[1] if len(sys.argv) > 1 else ".")


def jsonl(path: Path):
    out = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return out


bench = json.loads((d / "cuda-bench.json").read_text())
torch = jsonl(d / "torch.log")
peak = jsonl(d / "torch-peak.log")
copy = bench["copyGBs"]
tcopy = next((r for r in torch if r.get("op") == "copy"), None)
print(f"Copy roofline measured in the same call: **{copy:.0f} GB/s** (1 GiB device-to-device, read + write)"
      + (f"; PyTorch's copy in the same call: {tcopy['min_bytes'] / tcopy['ms'] / 1e6:.0f} GB/s." if tcopy else "."))
print()
print("| N×hc×C | op | mode | ms | GB/s | of copy roofline | torch eager / ours | torch.compile / ours |")
print("|---|---|---|---:|---:|---:|---:|---:|")
for r in bench["rows"][1:]:
    gbs = r["bytes"] / r["ms"] / 1e6
    ratios = ["", ""]
    if r["op"] == "layer" and r["mode"] in ("fwd", "fwd+bwd"):
        for i, impl in enumerate(("torch-eager", "torch-compile")):
            t = next((x for x in torch if x.get("impl") == impl and x.get("op") == "layer" and x.get("mode") == r["mode"]
                      and x.get("N") == r["N"] and x.get("c") == r["c"]), None)
            if t:
                ratios[i] = f"{t['ms'] / r['ms']:.2f}× ({t['ms']:.3f} ms)"
    bold = "**" if r["op"] == "layer" and r["mode"] in ("fwd", "fwd+bwd") else ""
    print(f"| {r['N']}×{r['hc']}×{r['c']} | {r['op']} | {r['mode']} | {bold}{r['ms']:.3f}{bold} | {gbs:.0f} | "
          f"{bold}{100 * gbs / copy:.0f}%{bold} | {ratios[0]} | {ratios[1]} |")
print()
print("| N×hc×C | ours: peak live (inputs included) | ours: inputs | torch eager | torch.compile |")
print("|---|---:|---:|---:|---:|")
for r in bench["rows"]:
    if r.get("peakLiveBytes"):
        tp = {p["impl"]: p["peakBytes"] for p in peak if p.get("N") == r["N"] and p.get("c") == r["c"]}
        g = lambda v: f"{v / 2**30:.2f} GiB" if v else "not measured in this call"  # noqa: E731
        print(f"| {r['N']}×{r['hc']}×{r['c']} | {g(r['peakLiveBytes'])} | {g(r['inputBytes'])} | "
              f"{g(tp.get('torch-eager'))} | {g(tp.get('torch-compile'))} |")
print()
chk = d / "cuda-check.json"
if chk.exists():
    c = json.loads(chk.read_text())
    for k, v in c.items():
        if k == "conformance" and isinstance(v, dict):
            print(f"- core conformance kit: {v['passed']} passed, {v['failed']} failed of {v['cases']} cases")
        elif isinstance(v, dict) and "checks" in v:
            print(f"- {k}: {v['checks'] - v['failed']}/{v['checks']} pass")
        elif isinstance(v, dict) and "error" in v:
            print(f"- {k}: ERROR {v['error']}")
