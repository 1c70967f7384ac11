import { compare, TOLERANCES } from '@liger-mhc/conformance';
import {
  add,
  type Backend,
  cast,
  type DType,
  encode,
  fromStorage,
  hasCrossLayerKernels,
  type MhcOptions,
  mhcPostResCoeffsPre,
  mul,
  Random,
  sum,
  type Tensor,
} from '@liger-mhc/core';
import { afterAll, describe, expect, it } from 'vitest';
import type { WebGpuBackend } from '../src/index.js';
import { kernelName, withDispatchLog } from './dispatch-log.js';
import { gpu, skipReason } from './helpers.js';

/**
 * The boundary op forward and backward through core (mhcPostResCoeffsPre) on this backend's fused
 * kernel against the same backend with the capability switched off (core then runs the separate
 * post_res, coeffs and pre ops): every output and every input gradient within the kit's tolerance of
 * its dtype, with the loss reaching all five outputs.
 */
const b = await gpu();
const d = b ? describe : describe.skip;
afterAll(() => b?.dispose());

/** `be` with the cross-layer capability off. */
function separateBackend(be: WebGpuBackend): Backend {
  const mhc = Object.create(be.mhc, { crossLayer: { value: false } });
  return new Proxy(be, {
    get(target, prop) {
      if (prop === 'mhc') return mhc;
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as unknown as Backend;
}

function rnd(be: Backend, shape: number[], seed: number, dtype: DType, std = 1, requiresGrad = true) {
  const rng = new Random(seed);
  const v = Float64Array.from({ length: shape.reduce((p, q) => p * q, 1) }, () => std * rng.normal());
  return fromStorage(encode(dtype, v), shape, dtype, { backend: be, requiresGrad });
}

interface Case {
  N: number;
  hc: number;
  c: number;
  x: DType;
  f: DType;
  options: MhcOptions;
}

async function run(be: Backend, k: Case) {
  const { N, hc, c } = k;
  const m = hc * hc + 2 * hc;
  const x = rnd(be, [N, hc, c], 1, k.x);
  const f = rnd(be, [N, c], 2, k.f);
  const hPost = rnd(be, [N, hc], 3, 'f32', 0.5);
  const hRes = rnd(be, [N, hc, hc], 4, 'f32', 0.3);
  const phi = rnd(be, [hc * c, m], 5, 'f32', 0.1);
  const bias = rnd(be, [m], 6, 'f32', 0.3);
  const alphas = [7, 8, 9].map((s) => rnd(be, [], s, 'f32', 0.5)) as [Tensor, Tensor, Tensor];
  const r = mhcPostResCoeffsPre(x, f, hPost, hRes, phi, bias, ...alphas, { allowFp32: true, ...k.options });
  const outs = [r.xOut, r.xIn, r.coeffs.hPre, r.coeffs.hPost, r.coeffs.hRes];
  const terms = outs.map((t, i) => sum(mul(cast(t, 'f32'), rnd(be, [...t.shape], 30 + i, 'f32', 1, false))));
  terms.reduce((p, q) => add(p, q)).backward();
  const node = r.xOut.gradFn?.name ?? null;
  const named: [string, Tensor | null][] = [
    ['xOut', r.xOut],
    ['xIn', r.xIn],
    ['hPre', r.coeffs.hPre],
    ['hPost', r.coeffs.hPost],
    ['hRes', r.coeffs.hRes],
    ['grad.x', x.grad],
    ['grad.f', f.grad],
    ['grad.hPost', hPost.grad],
    ['grad.hRes', hRes.grad],
    ['grad.phi', phi.grad],
    ['grad.b', bias.grad],
    ...alphas.map((t, i): [string, Tensor | null] => [`grad.alpha${i}`, t.grad]),
  ];
  const values: Record<string, { dtype: DType; v: number[] }> = {};
  for (const [key, t] of named) {
    expect(t, key).not.toBeNull();
    values[key] = { dtype: t!.dtype, v: Array.from(await t!.data()) };
  }
  return { values, node };
}

const CASES: Case[] = [
  { N: 6, hc: 4, c: 16, x: 'bf16', f: 'f32', options: { orientation: 'deepseek', sinkhornSave: 'history' } },
  { N: 5, hc: 3, c: 7, x: 'f32', f: 'f32', options: { orientation: 'liger', sinkhornSave: 'recompute' } },
];

d(`mhcPostResCoeffsPre forward and backward on webgpu${b ? '' : ` (skipped: ${skipReason()})`}`, () => {
  for (const k of CASES)
    it(`matches the separate ops: hc ${k.hc}, c ${k.c}, x ${k.x}, f ${k.f}, ${JSON.stringify(k.options)}`, async () => {
      expect(hasCrossLayerKernels(b!)).toBe(true);
      const [fused, keys] = await withDispatchLog(b!, () => run(b!, k));
      expect(fused.node).toBe('mhcPostResCoeffsPre');
      expect(keys.map(kernelName)).toContain('post_res_coeffs_pre_fwd');
      const separate = await run(separateBackend(b!), k);
      expect(separate.node).not.toBe('mhcPostResCoeffsPre');
      for (const [key, { dtype, v }] of Object.entries(fused.values)) {
        const want = separate.values[key]!;
        expect(dtype, key).toBe(want.dtype);
        // Gradients pass through the stream gradient, which both paths sum in x's dtype but in a
        // different order (autograd's against the backward's chain), so they differ by x's rounding.
        const tol = key.startsWith('grad.') && k.x !== 'f32' ? TOLERANCES[k.x] : TOLERANCES[dtype];
        const cmp = compare(v, want.v, tol);
        expect({ key, ratio: cmp.ratio, pass: cmp.pass }).toEqual({ key, ratio: cmp.ratio, pass: true });
      }
    }, 600_000);
});
