import { describe, expect, it } from 'vitest';
import {
  type Backend,
  CpuBackend,
  cast,
  type DType,
  encode,
  fromStorage,
  hasCrossLayerKernels,
  Linear,
  type MhcOptions,
  mhcPostRes,
  mhcPostResCoeffsPre,
  mul,
  Random,
  ShapeError,
  sum,
  type Tensor,
  tidy,
} from '../src/index.js';
import { add } from '../src/ops/elementwise.js';
import { mhcCoeffsPre } from '../src/ops/mhc.js';

/**
 * The cross-layer boundary op against the separate ops it replaces: on the CPU (the reference) the
 * fused op must give bitwise the values and gradients of post_res followed by the layer forward's
 * coefficients + pre, since the GPU kernels are judged against it.
 */

/** The CPU backend with the cross-layer capability switched off: core then runs the separate ops. */
function separateOnly(cpu: CpuBackend): Backend {
  return withMhc(cpu, { crossLayer: { value: false } }, 'cpu-separate');
}

/** The CPU backend as one whose post_res takes a single activation dtype (like CUDA's). */
function oneDTypePostRes(cpu: CpuBackend): Backend {
  return withMhc(cpu, { mixedPostResDTypes: { value: false } }, 'cpu-one-dtype');
}

function withMhc(cpu: CpuBackend, props: PropertyDescriptorMap, name: string): Backend {
  const mhc = Object.create(cpu.mhc, props);
  return new Proxy(cpu, {
    get(target, prop) {
      if (prop === 'mhc') return mhc;
      if (prop === 'name') return name;
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as Backend;
}

function rndOn(be: Backend, shape: number[], seed: number, dtype: DType, std = 1, requiresGrad = true) {
  const rng = new Random(seed);
  const v = Float64Array.from({ length: shape.reduce((a, d) => a * d, 1) }, () => std * rng.normal());
  return fromStorage(encode(dtype, v), shape, dtype, { backend: be, requiresGrad });
}

interface Case {
  n: number[];
  hc: number;
  c: number;
  x: DType;
  /** dtype of the wrapped layer's output (Liger lets it differ from the streams'). */
  f: DType;
  options?: MhcOptions;
  /** Also feed hPre of sublayer 1 to the loss (a consumer outside the boundary). */
  useHPre?: boolean;
}

/**
 * Two mHC sublayers: coeffs+pre of sublayer 0, its layer, the boundary (post_res 0, coeffs+pre 1),
 * layer 1, post_res 1; loss = Σ x2·w2 + Σ x1·w1 (+ Σ hPre1·w3). Returns every output and gradient as
 * raw bits.
 */
async function runStack(be: Backend, k: Case, fused: boolean) {
  const { hc, c } = k;
  const m = hc * hc + 2 * hc;
  const deepseek = k.options?.preset === 'deepseek-v4' || k.options?.phiLayout === 'deepseek';
  const opts: MhcOptions = { allowFp32: true, ...k.options };
  const params = (seed: number) => ({
    phi: rndOn(be, deepseek ? [m, hc * c] : [hc * c, m], seed, 'f32', 0.1),
    b: rndOn(be, [m], seed + 1, 'f32', 0.3),
    alphaPre: rndOn(be, [], seed + 2, 'f32', 0.5),
    alphaPost: rndOn(be, [], seed + 3, 'f32', 0.5),
    alphaRes: rndOn(be, [], seed + 4, 'f32', 0.5),
  });
  const p0 = params(10);
  const p1 = params(20);
  const x0 = rndOn(be, [...k.n, hc, c], 1, k.x);
  const lin0 = new Linear(c, c, { backend: be, rng: new Random(5) });
  const lin1 = new Linear(c, c, { backend: be, rng: new Random(6) });
  const layer = (lin: Linear, t: Tensor) => {
    const y = lin.forward(cast(t, 'f32'));
    return y.dtype === k.f ? y : cast(y, k.f);
  };
  const ps = (p: typeof p0) => [p.phi, p.b, p.alphaPre, p.alphaPost, p.alphaRes] as const;

  const first = mhcCoeffsPre(x0, ...ps(p0), opts);
  const f0 = layer(lin0, first.xIn);
  const boundary = fused
    ? mhcPostResCoeffsPre(x0, f0, first.coeffs.hPost, first.coeffs.hRes, ...ps(p1), opts)
    : (() => {
        const xOut = mhcPostRes(x0, f0, first.coeffs.hPost, first.coeffs.hRes, opts);
        const r = mhcCoeffsPre(xOut, ...ps(p1), opts);
        return { xOut, coeffs: r.coeffs, xIn: r.xIn };
      })();
  const x1 = boundary.xOut;
  const f1 = layer(lin1, boundary.xIn);
  const x2 = mhcPostRes(x1, f1, boundary.coeffs.hPost, boundary.coeffs.hRes, opts);
  let loss = add(
    sum(mul(cast(x2, 'f32'), rndOn(be, [...x2.shape], 31, 'f32', 1, false))),
    sum(mul(cast(x1, 'f32'), rndOn(be, [...x1.shape], 32, 'f32', 1, false))),
  );
  if (k.useHPre)
    loss = add(
      loss,
      sum(mul(boundary.coeffs.hPre, rndOn(be, [...boundary.coeffs.hPre.shape], 33, 'f32', 1, false))),
    );
  loss.backward();
  const bits = async (t: Tensor | null) => {
    expect(t).not.toBeNull();
    return Array.from(new Uint32Array(Float32Array.from(await t!.data()).buffer));
  };
  const out: Record<string, number[]> = {};
  out.x1 = await bits(x1);
  out.xIn1 = await bits(boundary.xIn);
  out.hPre1 = await bits(boundary.coeffs.hPre);
  out.hPost1 = await bits(boundary.coeffs.hPost);
  out.hRes1 = await bits(boundary.coeffs.hRes);
  out.x2 = await bits(x2);
  out['grad.x0'] = await bits(x0.grad);
  for (const [name, p] of [
    ['p0', p0],
    ['p1', p1],
  ] as const)
    for (const [key, t] of Object.entries(p)) out[`grad.${name}.${key}`] = await bits(t.grad);
  out['grad.lin0'] = await bits(lin0.weight.grad);
  out['grad.lin1'] = await bits(lin1.weight.grad);
  return { out, node: x1.gradFn?.name ?? null };
}

const CASES: Case[] = [
  { n: [3], hc: 2, c: 8, x: 'f32', f: 'f32' },
  { n: [2, 3], hc: 4, c: 16, x: 'bf16', f: 'bf16' },
  { n: [5], hc: 4, c: 17, x: 'bf16', f: 'f32' },
  { n: [4], hc: 6, c: 5, x: 'f16', f: 'f16' },
  { n: [2], hc: 8, c: 9, x: 'f16', f: 'f32' },
  { n: [3], hc: 3, c: 7, x: 'f32', f: 'bf16', useHPre: true },
  { n: [4], hc: 4, c: 12, x: 'bf16', f: 'bf16', options: { orientation: 'deepseek' } },
  { n: [3], hc: 4, c: 8, x: 'bf16', f: 'f32', options: { preset: 'deepseek-v4' } },
  { n: [3], hc: 2, c: 11, x: 'f32', f: 'f32', options: { sinkhornSave: 'recompute', tmax: 5 } },
];

describe('mhcPostResCoeffsPre (cross-layer boundary) on the CPU reference', () => {
  it('the CPU backend declares the cross-layer kernels; the wrapper used below does not', () => {
    const cpu = new CpuBackend();
    expect(hasCrossLayerKernels(cpu)).toBe(true);
    expect(hasCrossLayerKernels(separateOnly(cpu))).toBe(false);
  });

  for (const k of CASES) {
    const label = `n ${k.n.join('x')} hc ${k.hc} c ${k.c} x ${k.x} f ${k.f}${k.options ? ` ${JSON.stringify(k.options)}` : ''}${k.useHPre ? ' +hPre' : ''}`;
    it(`fused = separate ops bitwise, forward and every gradient: ${label}`, async () => {
      const cpu = new CpuBackend();
      const fused = await runStack(cpu, k, true);
      const viaFallback = await runStack(separateOnly(cpu), k, true);
      const separate = await runStack(cpu, k, false);
      expect(fused.node).toBe('mhcPostResCoeffsPre');
      expect(viaFallback.node).toBe('mhcPostRes');
      expect(Object.keys(fused.out)).toEqual(Object.keys(separate.out));
      for (const key of Object.keys(separate.out)) {
        expect(fused.out[key], key).toEqual(separate.out[key]);
        expect(viaFallback.out[key], key).toEqual(separate.out[key]);
      }
    });
  }

  it('a backend without mixed post_res dtypes runs a mixed boundary as the separate ops', async () => {
    // bf16 streams with an f32 layer output: the fused kernel would need f rounded to bf16, which
    // would round f's gradient too; the separate ops keep it in f32.
    const be = oneDTypePostRes(new CpuBackend());
    const k: Case = { n: [5], hc: 4, c: 17, x: 'bf16', f: 'f32' };
    const fused = await runStack(be, k, true);
    const separate = await runStack(be, k, false);
    expect(fused.node).not.toBe('mhcPostResCoeffsPre');
    for (const key of Object.keys(separate.out)) expect(fused.out[key], key).toEqual(separate.out[key]);
  });

  it('rejects mismatched shapes with a typed error naming the argument', () => {
    const cpu = new CpuBackend();
    const x = rndOn(cpu, [2, 4, 8], 1, 'bf16');
    const f = rndOn(cpu, [2, 7], 2, 'bf16');
    const hPost = rndOn(cpu, [2, 4], 3, 'f32');
    const hRes = rndOn(cpu, [2, 4, 4], 4, 'f32');
    const phi = rndOn(cpu, [32, 24], 5, 'f32');
    const s = () => rndOn(cpu, [], 6, 'f32');
    const b = rndOn(cpu, [24], 7, 'f32');
    expect(() => mhcPostResCoeffsPre(x, f, hPost, hRes, phi, b, s(), s(), s())).toThrow(ShapeError);
    expect(() => mhcPostResCoeffsPre(x, f, hPost, hRes, phi, b, s(), s(), s())).toThrow(/f/);
    const f2 = rndOn(cpu, [2, 8], 2, 'bf16');
    const phiBad = rndOn(cpu, [24, 32], 5, 'f32');
    expect(() => mhcPostResCoeffsPre(x, f2, hPost, hRes, phiBad, b, s(), s(), s())).toThrow(/phi/);
  });

  it('without gradients records nothing and returns the separate ops values', async () => {
    const cpu = new CpuBackend();
    const x = rndOn(cpu, [3, 4, 8], 1, 'bf16', 1, false);
    const f = rndOn(cpu, [3, 8], 2, 'bf16', 1, false);
    const hPost = rndOn(cpu, [3, 4], 3, 'f32', 1, false);
    const hRes = rndOn(cpu, [3, 4, 4], 4, 'f32', 0.3, false);
    const phi = rndOn(cpu, [32, 24], 5, 'f32', 0.1, false);
    const b = rndOn(cpu, [24], 7, 'f32', 0.3, false);
    const a = rndOn(cpu, [], 6, 'f32', 1, false);
    const r = mhcPostResCoeffsPre(x, f, hPost, hRes, phi, b, a, a, a);
    expect(r.xOut.gradFn).toBeNull();
    const xOut = mhcPostRes(x, f, hPost, hRes);
    const ref = mhcCoeffsPre(xOut, phi, b, a, a, a);
    expect(await r.xOut.data()).toEqual(await xOut.data());
    expect(await r.xIn.data()).toEqual(await ref.xIn.data());
    expect(await r.coeffs.hRes.data()).toEqual(await ref.coeffs.hRes.data());
  });

  it('leaves no buffer behind: forward and backward inside tidy, then the leaves disposed', async () => {
    const cpu = new CpuBackend();
    const before = cpu.memory().liveBuffers;
    const leaves = [
      rndOn(cpu, [3, 4, 8], 1, 'bf16'),
      rndOn(cpu, [3, 8], 2, 'f32'),
      rndOn(cpu, [3, 4], 3, 'f32'),
      rndOn(cpu, [3, 4, 4], 4, 'f32', 0.3),
      rndOn(cpu, [32, 24], 5, 'f32', 0.1),
      rndOn(cpu, [24], 7, 'f32', 0.3),
      rndOn(cpu, [], 6, 'f32'),
      rndOn(cpu, [], 8, 'f32'),
      rndOn(cpu, [], 9, 'f32'),
    ] as const;
    tidy(() => {
      const r = mhcPostResCoeffsPre(...leaves);
      const parts = [r.xOut, r.xIn, r.coeffs.hPre, r.coeffs.hPost, r.coeffs.hRes].map((t) =>
        sum(cast(t, 'f32')),
      );
      parts.reduce((a, t) => add(a, t)).backward();
    });
    for (const t of leaves) expect(t.grad, 'every input gets a gradient').not.toBeNull();
    for (const t of leaves) {
      t.grad?.dispose();
      t.dispose();
    }
    expect(cpu.memory().liveBuffers).toBe(before);
  });
});
