import { compare, TOLERANCES } from '@liger-mhc/conformance';
import {
  AdamW,
  ArgumentError,
  add,
  LigerMHC,
  MiniMhcLM,
  mhcCoeffs,
  mul,
  noGrad,
  Random,
  sum,
  type Tensor,
  tensor,
  tidy,
  unfusedMhcCoeffs,
} from '@liger-mhc/core';
import { GPT, type GPTConfig, plainGPT, ReferenceMHC, Residual } from '@liger-mhc/models';
import { describe, expect, it } from 'vitest';
import { applyLigerMhc, hyperConnect } from '../src/index.js';

const config = (seed: number): Omit<GPTConfig, 'hc' | 'residual'> => ({
  vocab: 8,
  dim: 16,
  heads: 2,
  layers: 2,
  maxSeq: 16,
  mlpHidden: 32,
  rng: new Random(seed),
});

function batch(offset: number) {
  const x: number[] = [];
  const y: number[] = [];
  for (let b = 0; b < 4; b++)
    for (let t = 0; t < 12; t++) {
      x.push((3 * b + t + offset) % 8);
      y.push((3 * b + t + offset + 1) % 8);
    }
  return { ids: tensor(x, [4, 12], { dtype: 'i32' }), labels: tensor(y, [4, 12], { dtype: 'i32' }) };
}

async function train(model: GPT, steps: number): Promise<number[]> {
  const optim = new AdamW(model.parameters(), { lr: 1e-2 });
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const loss = tidy(() => {
      const { ids, labels } = batch(s);
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

const logitsOf = (m: GPT) =>
  noGrad(() => tidy(() => m.forward(batch(0).ids)))
    .dataSync()
    .slice();

describe('hyperConnect', () => {
  it('turns the plain GPT into an mHC GPT: expand, wrap every residual branch, reduce', () => {
    const model = plainGPT(config(1));
    const branches = [...model.namedModules()]
      .filter(([, m]) => m instanceof Residual)
      .map(([, m]) => (m as Residual).layer);
    const h = hyperConnect(model, { streams: 4 });
    expect(h.model).toBe(model);
    expect(model.streams).toBe(4);
    expect(h.report.wrapped.map((w) => w.path)).toEqual([
      'blocks.0.attn',
      'blocks.0.mlp',
      'blocks.1.attn',
      'blocks.1.mlp',
    ]);
    const mhc = [...model.namedModules()]
      .filter(([, m]) => m instanceof LigerMHC)
      .map(([, m]) => m as LigerMHC);
    expect(mhc).toHaveLength(4);
    // The same branch modules (and weights) now sit inside the mHC layers.
    expect(mhc.map((m) => m.layer)).toEqual(branches);
    expect(mhc.every((m) => m.hc === 4 && m.c === 16)).toBe(true);
    expect([...model.namedModules()].some(([, m]) => m instanceof Residual)).toBe(false);
    expect(Object.keys(model.stateDict())).toContain('blocks.1.mlp.alphaRes');
    expect(model.forward(batch(0).ids).shape).toEqual([4, 12, 8]);
  });

  it('the hyper-connected model trains (loss falls)', async () => {
    const model = plainGPT(config(2));
    hyperConnect(model, { streams: 4 });
    const losses = await train(model, 40);
    expect(losses[0]).toBeGreaterThan(1.6);
    expect(Math.min(...losses.slice(-5))).toBeLessThan(0.3 * losses[0]!);
  });

  it('its mHC layers pass the conformance of their ops on the inputs they really see', async () => {
    const model = plainGPT(config(3));
    hyperConnect(model, { streams: 3, tmax: 20 });
    await train(model, 15);
    const layers = [...model.namedModules()].filter(([, m]) => m instanceof LigerMHC) as [string, LigerMHC][];
    // Capture each mHC layer's input during one forward pass.
    const seen = new Map<LigerMHC, Tensor>();
    for (const [, l] of layers) {
      const forward = l.forward.bind(l);
      l.forward = (x: Tensor) => {
        seen.set(l, tensor(Array.from(x.dataSync()), x.shape, { requiresGrad: true }));
        return forward(x);
      };
    }
    noGrad(() => model.forward(batch(5).ids));
    expect(seen.size).toBe(layers.length);
    for (const [path, l] of layers) {
      const x = seen.get(l)!;
      const xr = tensor(Array.from(x.dataSync()), x.shape, { requiresGrad: true });
      // The fused coefficients of the layer against an independent implementation (generic ops,
      // autograd through the unrolled Sinkhorn loop), forward and backward.
      const fused = mhcCoeffs(x, l.phi, l.b, l.alphaPre, l.alphaPost, l.alphaRes, l.options);
      const ref = unfusedMhcCoeffs(xr, l, l.options);
      // A fixed cotangent per output, so every coefficient contributes to the gradients.
      const cot = (t: Tensor) =>
        tensor(
          Array.from({ length: t.size }, (_, i) => Math.sin(i + 1)),
          t.shape,
        );
      const loss = (h: typeof fused) =>
        add(
          add(sum(mul(h.hPre, cot(h.hPre))), sum(mul(h.hPost, cot(h.hPost)))),
          sum(mul(h.hRes, cot(h.hRes))),
        );
      const lf = loss(fused);
      const lr = loss(ref);
      for (const k of ['hPre', 'hPost', 'hRes'] as const) {
        const c = compare(fused[k].dataSync(), ref[k].dataSync(), TOLERANCES.f32);
        expect(c.ratio, `${path} ${k}`).toBeLessThanOrEqual(1);
      }
      const grads = (ps: Tensor[]) => ps.map((p) => Float32Array.from(p.grad!.dataSync()));
      for (const p of l.parameters()) {
        p.grad?.dispose();
        p.grad = null;
      }
      lf.backward();
      const gFused = [
        x.grad!.dataSync().slice(),
        ...grads([l.phi, l.b, l.alphaPre, l.alphaPost, l.alphaRes]),
      ];
      for (const p of l.parameters()) {
        p.grad?.dispose();
        p.grad = null;
      }
      lr.backward();
      const gRef = [xr.grad!.dataSync().slice(), ...grads([l.phi, l.b, l.alphaPre, l.alphaPost, l.alphaRes])];
      gFused.forEach((g, i) => {
        const c = compare(g, gRef[i]!, { rtol: 1e-3, atol: 1e-4 });
        expect(c.ratio, `${path} gradient ${i}: ${c.maxAbsError}`).toBeLessThanOrEqual(1);
      });
      // The manifold constraint: hRes doubly stochastic, the gates in their ranges.
      const hRes = fused.hRes.dataSync();
      const n = hRes.length / 9;
      for (let t = 0; t < n; t++)
        for (let i = 0; i < 3; i++) {
          let row = 0;
          let col = 0;
          for (let j = 0; j < 3; j++) {
            row += hRes[t * 9 + i * 3 + j]!;
            col += hRes[t * 9 + j * 3 + i]!;
          }
          expect(Math.abs(col - 1)).toBeLessThan(1e-5);
          expect(Math.abs(row - 1)).toBeLessThan(1e-2);
        }
      for (const v of fused.hPre.dataSync()) expect(v > 0 && v < 1).toBe(true);
      for (const v of fused.hPost.dataSync()) expect(v > 0 && v < 2).toBe(true);
    }
  });

  it('with { reference: true } builds ReferenceMHC layers, which applyLigerMhc then fuses', async () => {
    const model = plainGPT(config(4));
    hyperConnect(model, { streams: 2, reference: true });
    expect([...model.namedModules()].filter(([, m]) => m instanceof ReferenceMHC)).toHaveLength(4);
    const before = logitsOf(model);
    const h = await applyLigerMhc(model);
    expect(h.report.patched).toHaveLength(4);
    const c = compare(logitsOf(model), before, TOLERANCES.f32);
    expect(c.ratio).toBeLessThanOrEqual(1);
    h.unpatch();
    expect(Buffer.from(logitsOf(model).buffer).equals(Buffer.from(before.buffer))).toBe(true);
  });

  it('undo() restores the plain model bit for bit', () => {
    const model = plainGPT(config(5));
    const before = logitsOf(model);
    const h = hyperConnect(model, { streams: 3 });
    expect(Buffer.from(logitsOf(model).buffer).equals(Buffer.from(before.buffer))).toBe(false);
    h.undo();
    expect(model.streams).toBe(null);
    expect([...model.namedModules()].filter(([, m]) => m instanceof Residual)).toHaveLength(4);
    expect(Buffer.from(logitsOf(model).buffer).equals(Buffer.from(before.buffer))).toBe(true);
  });

  it('clear errors for models it cannot hyper-connect', () => {
    const mhc = new GPT({ ...config(6), hc: 2 });
    expect(() => hyperConnect(mhc, { streams: 2 })).toThrow(ArgumentError);
    expect(() => hyperConnect(mhc, { streams: 2 })).toThrow(/already hyper-connected \(4 mHC layers/);
    const mini = new MiniMhcLM({ vocab: 5, hc: 2, c: 4, layers: 1, allowFp32: true });
    expect(() => hyperConnect(mini, { streams: 2 })).toThrow(/already hyper-connected/);
    const plain = plainGPT(config(7));
    expect(() => hyperConnect(plain, { streams: 0 })).toThrow('streams: expected an integer >= 1, got 0');
    // A residual model without the expand/reduce pair cannot get a stream axis.
    const bare = new Residual((x: Tensor) => x, 4);
    expect(() => hyperConnect(bare, { streams: 2 })).toThrow(
      /unsupported module: this Residual has 0 ExpandStreams and 0 ReduceStreams/,
    );
    expect(plain.streams).toBe(null);
  });
});
