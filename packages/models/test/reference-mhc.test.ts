import {
  type ApplyCase,
  type CoeffsCase,
  compare,
  defaultFixturesDir,
  type FixtureTensor,
  type LayerCase,
  loadCases,
  TOLERANCES,
} from '@liger-mhc/conformance';
import {
  add,
  fromStorage,
  full,
  LigerMHC,
  Linear,
  matmul,
  mhcCoeffs,
  mhcPostRes,
  mhcPre,
  mul,
  Random,
  randn,
  sum,
  type Tensor,
  UNFUSED_MHC,
  unfusedMhcCoeffs,
  unfusedMhcPostRes,
  unfusedMhcPre,
} from '@liger-mhc/core';
import { describe, expect, it } from 'vitest';
import { ReferenceMHC } from '../src/index.js';

/**
 * The reference mHC (generic ops, autograd through the unrolled Sinkhorn loop) against the golden
 * float64 fixtures. Fixture inputs are exact in their storage dtype, so they are loaded as f32
 * (exactly) and every value is judged at f32 tolerance: this checks the reference math itself,
 * independently of any fused kernel.
 */
const { cases } = await loadCases(defaultFixturesDir());
const up = (t: FixtureTensor, requiresGrad = true) =>
  fromStorage(Float32Array.from(t.data), t.shape, 'f32', { requiresGrad });

function expectClose(actual: Tensor | null, expected: FixtureTensor, label: string): void {
  // A gradient is absent only where the input does not reach the loss: the expected one is zero.
  if (actual === null) {
    expect(
      expected.data.every((v) => v === 0),
      `${label}: no gradient`,
    ).toBe(true);
    return;
  }
  const c = compare(actual!.dataSync(), expected.data, TOLERANCES.f32);
  expect(c.ratio, `${label}: max abs error ${c.maxAbsError} at ${c.worstIndex}`).toBeLessThanOrEqual(1);
}

/** Σ out·cot over the outputs with a non-zero cotangent (as the golden VJPs are defined). */
function vjp(pairs: [Tensor, FixtureTensor][]): void {
  let loss: Tensor | null = null;
  for (const [out, cot] of pairs) {
    if (cot.data.every((v) => v === 0)) continue;
    const term = sum(mul(out, up(cot, false)));
    loss = loss ? add(loss, term) : term;
  }
  loss?.backward();
}

describe('ReferenceMHC against the golden fixtures', () => {
  for (const c of cases.filter((k): k is CoeffsCase => k.op === 'coeffs'))
    it(`coeffs: ${c.name}`, () => {
      const ins = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, up(v)])) as Record<
        keyof CoeffsCase['inputs'],
        Tensor
      >;
      const h = unfusedMhcCoeffs(ins.x, ins, c.config);
      vjp([
        [h.hPre, c.cotangents.hPre],
        [h.hPost, c.cotangents.hPost],
        [h.hRes, c.cotangents.hRes],
      ]);
      for (const k of ['hPre', 'hPost', 'hRes'] as const) expectClose(h[k], c.outputs[k], k);
      for (const k of Object.keys(ins) as (keyof typeof ins)[])
        expectClose(ins[k].grad, c.grads[k], `grad.${k}`);
    });

  for (const c of cases.filter((k): k is ApplyCase => k.op === 'apply'))
    it(`apply: ${c.name}`, () => {
      const pre = { x: up(c.inputs.x), hPre: up(c.inputs.hPre) };
      const xIn = unfusedMhcPre(pre.x, pre.hPre);
      vjp([[xIn, c.cotangents.xIn]]);
      expectClose(xIn, c.outputs.xIn, 'xIn');
      expectClose(pre.x.grad, c.grads.pre.x, 'grad.pre.x');
      expectClose(pre.hPre.grad, c.grads.pre.hPre, 'grad.pre.hPre');
      const post = {
        x: up(c.inputs.x),
        f: up(c.inputs.f),
        hPost: up(c.inputs.hPost),
        hRes: up(c.inputs.hRes),
      };
      const xOut = unfusedMhcPostRes(post.x, post.f, post.hPost, post.hRes, c.config);
      vjp([[xOut, c.cotangents.xOut]]);
      expectClose(xOut, c.outputs.xOut, 'xOut');
      for (const k of ['x', 'f', 'hPost', 'hRes'] as const)
        expectClose(post[k].grad, c.grads.postRes[k], `grad.postRes.${k}`);
    });

  for (const c of cases.filter((k): k is LayerCase => k.op === 'layer'))
    it(`layer (module): ${c.name}`, () => {
      const [hc, cc] = c.inputs.x.shape.slice(-2) as [number, number];
      const inner = new Linear(cc, cc, { bias: false });
      const m = new ReferenceMHC(inner, { ...c.config, hc, c: cc, allowFp32: true });
      const load = (p: Tensor, t: FixtureTensor) => p.backend.write(p.handle, Float32Array.from(t.data));
      for (const k of ['phi', 'b', 'alphaPre', 'alphaPost', 'alphaRes'] as const) load(m[k], c.inputs[k]);
      load(inner.weight, c.inputs.weight);
      const x = up(c.inputs.x);
      const out = m.forward(x);
      vjp([[out, c.cotangents.out]]);
      expectClose(out, c.outputs.out, 'out');
      expectClose(x.grad, c.grads.x, 'grad.x');
      for (const k of ['phi', 'b', 'alphaPre', 'alphaPost', 'alphaRes'] as const)
        expectClose(m[k].grad, c.grads[k], `grad.${k}`);
      expectClose(inner.weight.grad, c.grads.weight, 'grad.weight');
    });
});

describe('ReferenceMHC against core’s fused ops on random inputs', () => {
  it('coefficients, pre and post_res agree with mhcCoeffs / mhcPre / mhcPostRes, forward and backward', () => {
    const rng = new Random(5);
    for (const [hc, c, outer] of [
      [4, 8, [3, 5]],
      [3, 17, [7]],
      [1, 6, [2, 2]],
    ] as [number, number, number[]][]) {
      const m = hc * hc + 2 * hc;
      const mk = (shape: number[], std: number) => randn(shape, { rng, std, requiresGrad: true });
      const twin = () => ({
        x: mk([...outer, hc, c], 1),
        phi: mk([hc * c, m], 0.3),
        b: mk([m], 0.5),
        alphaPre: full([], 0.8, { requiresGrad: true }),
        alphaPost: full([], 1.3, { requiresGrad: true }),
        alphaRes: full([], 0.6, { requiresGrad: true }),
      });
      const a = twin();
      // The same values for the fused side.
      const b = Object.fromEntries(
        Object.entries(a).map(([k, t]) => [
          k,
          fromStorage(t.dataSync(), t.shape, 'f32', { requiresGrad: true }),
        ]),
      ) as typeof a;
      const w = randn([c, c], { rng, std: 0.3 });
      const opts = { tmax: 12, preEps: 1e-3, allowFp32: true };
      const run = (p: typeof a, fused: boolean) => {
        const h = fused
          ? mhcCoeffs(p.x, p.phi, p.b, p.alphaPre, p.alphaPost, p.alphaRes, opts)
          : unfusedMhcCoeffs(p.x, p, opts);
        const xIn = fused ? mhcPre(p.x, h.hPre, opts) : unfusedMhcPre(p.x, h.hPre);
        const f = matmul(xIn, w);
        const out = fused
          ? mhcPostRes(p.x, f, h.hPost, h.hRes, opts)
          : unfusedMhcPostRes(p.x, f, h.hPost, h.hRes);
        sum(mul(out, out)).backward();
        return [out, h.hPre, h.hPost, h.hRes];
      };
      const ra = run(a, false);
      const rb = run(b, true);
      ra.forEach((t, i) => {
        const cmp = compare(t.dataSync(), rb[i]!.dataSync(), TOLERANCES.f32);
        expect(cmp.ratio, `output ${i} hc=${hc}`).toBeLessThanOrEqual(1);
      });
      for (const k of Object.keys(a) as (keyof typeof a)[]) {
        const cmp = compare(a[k].grad!.dataSync(), b[k].grad!.dataSync(), TOLERANCES.f32);
        expect(cmp.ratio, `grad.${k} hc=${hc}: ${cmp.maxAbsError}`).toBeLessThanOrEqual(1);
      }
    }
  });

  it('shares parameters when given them, and keeps LigerMHC’s parameter names', () => {
    const inner = new Linear(4, 4);
    const m1 = new ReferenceMHC(inner, { hc: 2, c: 4 });
    const m2 = new ReferenceMHC(inner, { hc: 2, c: 4, params: m1.params });
    expect(m2.phi).toBe(m1.phi);
    expect(Object.keys(m1.stateDict())).toEqual([
      'phi',
      'b',
      'alphaPre',
      'alphaPost',
      'alphaRes',
      'layer.weight',
    ]);
  });

  it('is LigerMHC on the unfused ops: same initialisation, options and output', async () => {
    const inner = new Linear(8, 8, { rng: new Random(5) });
    for (const preset of ['liger', 'deepseek-v4'] as const) {
      const opts = { hc: 3, c: 8, preset, allowFp32: true, alphaInit: 0.4 };
      const ref = new ReferenceMHC(inner, { ...opts, rng: new Random(9) });
      const fused = new LigerMHC(inner, { ...opts, rng: new Random(9) });
      expect(ref).toBeInstanceOf(LigerMHC);
      expect(ref.implementation).toBe(UNFUSED_MHC);
      expect(ref.options).toEqual(fused.options);
      for (const [k, p] of Object.entries(fused.params))
        expect(Array.from(ref.params[k as 'phi'].dataSync()), `${preset} ${k}`).toEqual(
          Array.from(p.dataSync()),
        );
      const x = randn([5, 3, 8], { rng: new Random(2) });
      const cmp = compare(ref.forward(x).dataSync(), fused.forward(x).dataSync(), TOLERANCES.f32);
      expect(cmp.ratio, `${preset}: ${cmp.maxAbsError}`).toBeLessThanOrEqual(1);
    }
  });
});
