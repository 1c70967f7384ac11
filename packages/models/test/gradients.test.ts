import {
  gelu,
  matmul,
  mul,
  Random,
  randn,
  rmsNorm,
  silu,
  slice,
  softmax,
  sum,
  type Tensor,
  tensor,
  transpose,
} from '@liger-mhc/core';
import { describe, expect, it } from 'vitest';
import { CausalSelfAttention, MLP } from '../src/index.js';
import { gradcheck } from './gradcheck.js';

const rng = new Random(2024);
const r = (shape: readonly number[], std = 1) => randn(shape, { rng, std });

describe('finite-difference gradients of the GPT pieces (f32, CPU)', () => {
  it('the checker itself catches a wrong gradient', () => {
    // x·detached(x): autograd sees only one factor (x·w), the true derivative is 2x·w.
    const wrong = ([x]: Tensor[]) => mul(x!, tensor(Array.from(x!.dataSync()), x!.shape));
    expect(() => gradcheck(wrong, { x: r([3, 4]) })).toThrow(/autograd/);
    gradcheck(([x]) => mul(x!, x!), { x: r([3, 4]) });
  });

  it('batched matmul [B, H, T, Dh] · [B, H, T, Dh]ᵀ and · [B, H, T, Dh]', () => {
    const res = gradcheck(([a, b]) => matmul(a!, b!, { transB: true }), {
      a: r([2, 3, 4, 5]),
      b: r([2, 3, 4, 5]),
    });
    expect(Math.abs(res[0]!.analytic)).toBeGreaterThan(0.1);
    gradcheck(([a, b]) => matmul(a!, b!), { a: r([2, 3, 4, 4]), b: r([2, 3, 4, 5]) });
    // A 2-D weight shared across the batch (the Linear layers' case).
    gradcheck(([a, b]) => matmul(a!, b!, { transB: true }), { a: r([2, 4, 6]), b: r([5, 6]) });
  });

  it('causal softmax: gradient matches and is exactly zero on masked scores', () => {
    const x = r([2, 2, 5, 5], 2);
    gradcheck(([s]) => softmax(s!, { causal: true }), { x });
    const leaf = tensor(Array.from(x.dataSync()), x.shape, { requiresGrad: true });
    const y = softmax(leaf, { causal: true });
    y.backward(r(y.shape));
    const g = leaf.grad!.dataSync();
    const yv = y.dataSync();
    for (let i = 0; i < g.length; i++) {
      const q = Math.floor(i / 5) % 5;
      const k = i % 5;
      if (k > q) {
        expect(Math.abs(g[i]!)).toBe(0);
        expect(yv[i]).toBe(0);
      }
    }
    // Each row sums to one over the visible keys.
    for (let row = 0; row < yv.length / 5; row++) {
      let s = 0;
      for (let k = 0; k < 5; k++) s += yv[row * 5 + k]!;
      expect(s).toBeCloseTo(1, 6);
    }
  });

  it('transpose and slice (the head split) and their composition', () => {
    gradcheck(([x]) => transpose(x!, [2, 0, 3, 1, 4]), { x: r([2, 3, 3, 2, 4]) });
    gradcheck(([x]) => slice(x!, 1, 1, 3), { x: r([2, 4, 3]) });
    gradcheck(([x]) => slice(transpose(x!, [2, 0, 1]), 0, 2, 3), { x: r([2, 3, 4]) });
  });

  it('RMSNorm with respect to x and the weight', () => {
    const res = gradcheck(([x, w]) => rmsNorm(x!, w!, 1e-6), { x: r([3, 4, 8]), w: r([8], 0.5) });
    for (const g of res) expect(Math.abs(g.analytic)).toBeGreaterThan(0.05);
  });

  it('GELU and SiLU', () => {
    // Values spread over the curved region of both functions.
    gradcheck(([x]) => gelu(x!), { x: r([4, 16], 2) });
    gradcheck(([x]) => silu(x!), { x: r([4, 16], 2) });
  });

  it('causal self-attention end to end, including its weights', () => {
    const attn = new CausalSelfAttention(8, 2, { rng });
    const params = attn.parameters();
    const res = gradcheck(
      ([x, wqkv, wproj]) => {
        // Run the module's forward with the perturbed weights swapped in.
        const saved = [attn.qkv.weight, attn.proj.weight];
        attn.qkv.weight = wqkv!;
        attn.proj.weight = wproj!;
        try {
          return attn.forward(x!);
        } finally {
          [attn.qkv.weight, attn.proj.weight] = saved as [Tensor, Tensor];
        }
      },
      { x: r([2, 5, 8]), wqkv: params[0]!, wproj: params[1]! },
    );
    expect(res.map((g) => g.name)).toEqual(['x', 'wqkv', 'wproj']);
  });

  it('attention is causal: changing a later token leaves earlier outputs unchanged', () => {
    const attn = new CausalSelfAttention(8, 4, { rng });
    const x = r([1, 6, 8]);
    const v = Float32Array.from(x.dataSync());
    for (let j = 0; j < 8; j++) v[4 * 8 + j]! += 1;
    const a = attn.forward(x).dataSync();
    const b = attn.forward(tensor(Array.from(v), [1, 6, 8])).dataSync();
    for (let i = 0; i < 4 * 8; i++) expect(b[i]).toBe(a[i]);
    let moved = 0;
    for (let i = 4 * 8; i < 6 * 8; i++) moved = Math.max(moved, Math.abs(b[i]! - a[i]!));
    expect(moved).toBeGreaterThan(1e-3);
  });

  it('MLP (GELU and SiLU) end to end', () => {
    for (const activation of ['gelu', 'silu'] as const) {
      const mlp = new MLP(6, { hidden: 10, activation, rng });
      gradcheck(([x]) => sum(mlp.forward(x!), [-1]), { x: r([3, 6]) });
    }
  });
});
