import {
  AdamW,
  CpuBackend,
  hasFusedAttention,
  LigerMHC,
  noGrad,
  Random,
  type Tensor,
  tensor,
  tidy,
} from '@liger-mhc/core';
import { describe, expect, it } from 'vitest';
import { GPT, type GPTConfig, plainGPT, ReferenceMHC, Residual } from '../src/index.js';

const base = (seed: number): Omit<GPTConfig, 'hc'> => ({
  vocab: 8,
  dim: 16,
  heads: 2,
  layers: 2,
  maxSeq: 16,
  mlpHidden: 32,
  rng: new Random(seed),
});

/** A tiny repeating sequence: the next token is fully determined by the current one. */
function batch(bsz: number, seq: number, offset: number) {
  const x: number[] = [];
  const y: number[] = [];
  for (let b = 0; b < bsz; b++)
    for (let t = 0; t < seq; t++) {
      x.push((b + t + offset) % 8);
      y.push((b + t + offset + 1) % 8);
    }
  return {
    ids: tensor(x, [bsz, seq], { dtype: 'i32' }),
    labels: tensor(y, [bsz, seq], { dtype: 'i32' }),
  };
}

async function train(model: GPT, steps: number, lr = 1e-2): Promise<number[]> {
  const optim = new AdamW(model.parameters(), { lr });
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const loss = tidy(() => {
      const { ids, labels } = batch(4, 12, s);
      const out = model.loss(ids, labels);
      out.loss.backward();
      optim.step();
      optim.zeroGrad();
      return out.loss;
    });
    losses.push(await loss.item());
    loss.dispose();
  }
  optim.dispose();
  return losses;
}

describe('GPT', () => {
  it('fused attention and the unfused composition give the same loss and gradients', async () => {
    const unfused = new CpuBackend();
    (unfused.ops as { attention?: unknown }).attention = undefined;
    expect(hasFusedAttention(unfused)).toBe(false);
    const run = async (backend: CpuBackend | string) => {
      const model = new GPT({ ...base(7), hc: 4, backend });
      const x = Array.from({ length: 2 * 11 }, (_, i) => (i * 5 + 3) % 8);
      const ids = tensor(x, [2, 11], { dtype: 'i32', backend });
      const labels = tensor(
        x.map((v) => (v + 1) % 8),
        [2, 11],
        { dtype: 'i32', backend },
      );
      const { loss } = model.loss(ids, labels);
      loss.backward();
      const grads = await Promise.all(model.parameters().map(async (p) => Array.from(await p.grad!.data())));
      return { loss: await loss.item(), grads };
    };
    const fused = await run('cpu');
    const plain = await run(unfused);
    expect(fused.loss).toBeCloseTo(plain.loss, 5);
    expect(fused.grads.length).toBe(plain.grads.length);
    let worst = 0;
    fused.grads.forEach((g, i) => {
      for (let j = 0; j < g.length; j++)
        worst = Math.max(worst, Math.abs(g[j]! - plain.grads[i]![j]!) / (1 + Math.abs(g[j]!)));
    });
    expect(worst).toBeLessThan(1e-5);
  });

  it('recomputeLayers gives the same loss and gradients bit for bit, with a lower peak', async () => {
    const run = async (recomputeLayers?: number) => {
      const backend = new CpuBackend();
      const model = new GPT({ ...base(7), layers: 4, hc: 4, backend, recomputeLayers });
      const x = Array.from({ length: 2 * 12 }, (_, i) => (i * 5 + 3) % 8);
      const ids = tensor(x, [2, 12], { dtype: 'i32', backend });
      const labels = tensor(
        x.map((v) => (v + 1) % 8),
        [2, 12],
        { dtype: 'i32', backend },
      );
      backend.resetPeak();
      const { loss } = model.loss(ids, labels);
      loss.backward();
      const peak = backend.memory().peakBytes;
      const grads = await Promise.all(model.parameters().map(async (p) => Array.from(await p.grad!.data())));
      const out = { loss: await loss.item(), grads, peak };
      backend.dispose();
      return out;
    };
    const kept = await run();
    for (const every of [1, 2]) {
      const r = await run(every);
      expect(r.loss).toBe(kept.loss);
      expect(r.grads).toEqual(kept.grads);
      expect(r.peak).toBeLessThan(kept.peak);
    }
    expect(() => new GPT({ ...base(1), hc: 4, recomputeLayers: 0 })).toThrow(/recomputeLayers/);
  });

  it('builds the mHC, reference-mHC and plain variants with matching parameter names', () => {
    const mhc = new GPT({ ...base(1), hc: 4 });
    const ref = new GPT({ ...base(1), hc: 4, residual: 'reference-mhc' });
    const plain = plainGPT(base(1));
    const names = (m: GPT) => Object.keys(m.stateDict());
    expect(names(ref)).toEqual(names(mhc));
    expect(names(mhc)).toContain('blocks.0.attn.phi');
    expect(names(mhc)).toContain('blocks.1.mlp.layer.fn.up.weight');
    expect(names(mhc)).toContain('blocks.0.attn.layer.fn.qkv.weight');
    // The plain residual has the same branches and no mHC parameters.
    const branchNames = names(mhc).filter((n) => !/\.(phi|b|alphaPre|alphaPost|alphaRes)$/.test(n));
    expect(names(plain)).toEqual(branchNames);
    expect([...mhc.namedModules()].filter(([, m]) => m instanceof LigerMHC)).toHaveLength(4);
    expect([...ref.namedModules()].filter(([, m]) => m instanceof ReferenceMHC)).toHaveLength(4);
    expect([...plain.namedModules()].filter(([, m]) => m instanceof Residual)).toHaveLength(4);
    expect(mhc.streams).toBe(4);
    expect(plain.streams).toBe(null);
    expect(() => new GPT({ ...base(1), hc: 2, residual: 'plain' })).toThrow(/hc = 1/);
    expect(() => new GPT({ ...base(1), hc: 2, heads: 3 })).toThrow(/divisor of dim 16/);
  });

  it('runs every branch in the activation dtype, as the plain residual and the PyTorch twin do', () => {
    for (const residual of ['mhc', 'reference-mhc', 'plain'] as const) {
      const model = new GPT({
        ...base(1),
        hc: residual === 'plain' ? 1 : 4,
        residual,
        activationDtype: 'bf16',
      });
      const seen = new Set<string>();
      for (const [, m] of model.namedModules())
        if (m instanceof LigerMHC || m instanceof Residual) {
          const branch = m.layer as { forward(t: Tensor): Tensor };
          const forward = branch.forward.bind(branch);
          branch.forward = (t: Tensor) => {
            seen.add(t.dtype);
            return forward(t);
          };
        }
      const { ids } = batch(2, 8, 0);
      noGrad(() => model.forward(ids));
      expect([residual, ...seen]).toEqual([residual, 'bf16']);
    }
  });

  it('maps ids [B, T] to logits [B, T, vocab] and is causal', () => {
    const model = new GPT({ ...base(2), hc: 2 });
    const a = noGrad(() => model.forward(tensor([1, 2, 3, 4, 5, 6], [1, 6], { dtype: 'i32' })));
    const b = noGrad(() => model.forward(tensor([1, 2, 3, 4, 0, 0], [1, 6], { dtype: 'i32' })));
    expect(a.shape).toEqual([1, 6, 8]);
    const av = a.dataSync();
    const bv = b.dataSync();
    for (let i = 0; i < 4 * 8; i++) expect(bv[i]).toBe(av[i]);
    expect(Math.abs(bv[5 * 8]! - av[5 * 8]!)).toBeGreaterThan(1e-6);
    expect(() => model.forward(tensor(new Array(17).fill(0), [1, 17], { dtype: 'i32' }))).toThrow(/maxSeq/);
  });

  it('the reference-mHC GPT computes what the fused one does from the same weights', async () => {
    const mhc = new GPT({ ...base(3), hc: 3 });
    const ref = new GPT({ ...base(4), hc: 3, residual: 'reference-mhc' });
    await ref.loadStateDict(mhc.stateDict());
    const { ids, labels } = batch(2, 10, 0);
    const la = mhc.loss(ids, labels);
    const lb = ref.loss(ids, labels);
    la.loss.backward();
    lb.loss.backward();
    const x = la.logits.dataSync();
    const y = lb.logits.dataSync();
    for (let i = 0; i < x.length; i++) expect(Math.abs(x[i]! - y[i]!)).toBeLessThan(1e-4);
    const ga = mhc.stateDict();
    const gb = ref.stateDict();
    for (const name of Object.keys(ga)) {
      const u = ga[name]!.grad!.dataSync();
      const v = gb[name]!.grad!.dataSync();
      let scale = 0;
      for (const e of u) scale = Math.max(scale, Math.abs(e));
      for (let i = 0; i < u.length; i++)
        expect(Math.abs(u[i]! - v[i]!), name).toBeLessThanOrEqual(1e-4 * scale + 1e-7);
    }
  });

  it('trains: the loss on a tiny repeating sequence falls (mHC, GELU, learned positions)', async () => {
    const losses = await train(new GPT({ ...base(5), hc: 4 }), 40);
    expect(losses[0]).toBeGreaterThan(1.6);
    expect(Math.min(...losses.slice(-5))).toBeLessThan(0.3 * losses[0]!);
  });

  it('trains with SiLU and no positional embedding, and as a plain residual', async () => {
    const silu = await train(new GPT({ ...base(6), hc: 2, activation: 'silu', positional: 'none' }), 40);
    expect(Math.min(...silu.slice(-5))).toBeLessThan(0.3 * silu[0]!);
    const plain = await train(plainGPT(base(7)), 40);
    expect(Math.min(...plain.slice(-5))).toBeLessThan(0.3 * plain[0]!);
  });
});
