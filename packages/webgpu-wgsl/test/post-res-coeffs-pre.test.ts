import { compare, TOLERANCES, type Tolerance } from '@liger-mhc/conformance';
import {
  type CoeffsConfig,
  type DType,
  type Orientation,
  type PostResCoeffsPreForwardResult,
  Random,
  type SinkhornSaveMode,
  type TensorInfo,
} from '@liger-mhc/core';
import { afterAll, describe, expect, it } from 'vitest';
import { kernelName, withDispatchLog } from './dispatch-log.js';
import { download, free, gpu, skipReason, upload } from './helpers.js';

/**
 * The fused boundary kernel (post_res_coeffs_pre.wgsl.ts) against the separate post_res, coeffs and
 * pre kernels of the same backend, at the backend interface so every dtype combination is reachable:
 * f32/bf16/f16 streams, f in another dtype, half φ, both orientations, every Sinkhorn save mode, hc 1
 * to 8 (registers and the workgroup-memory form), odd c, token counts that are no multiple of anything,
 * and hc 9, which runs as the separate kernels. Values must agree within the kit's tolerance of the
 * stored dtype, and a second run must give the same bits.
 */
const b = await gpu();
const d = b ? describe : describe.skip;
afterAll(() => b?.dispose());

interface Case {
  N: number;
  hc: number;
  c: number;
  x: DType;
  f: DType;
  phi?: DType;
  orientation: Orientation;
  save: SinkhornSaveMode | 'none';
}

const CONFIG = { tmax: 20, rmsEps: 1e-6, preEps: 0, sinkhornEps: 1e-6, postMult: 2 };

function rand(n: number, seed: number, f: (r: Random) => number): number[] {
  const r = new Random(seed);
  return Array.from({ length: n }, () => f(r));
}

function inputs(k: Case) {
  const { N, hc, c } = k;
  const M = hc * hc + 2 * hc;
  const be = b!;
  const scalar = (seed: number) =>
    upload(
      be,
      rand(1, seed, (r) => 0.5 * r.normal()),
      [],
      'f32',
    );
  return {
    x: upload(
      be,
      rand(N * hc * c, 1, (r) => r.normal()),
      [N, hc, c],
      k.x,
    ),
    f: upload(
      be,
      rand(N * c, 2, (r) => r.normal()),
      [N, c],
      k.f,
    ),
    hPost: upload(
      be,
      rand(N * hc, 3, (r) => 2 * r.uniform()),
      [N, hc],
      'f32',
    ),
    hRes: upload(
      be,
      rand(N * hc * hc, 4, (r) => r.uniform() / hc),
      [N, hc, hc],
      'f32',
    ),
    phi: upload(
      be,
      rand(hc * c * M, 5, (r) => 0.1 * r.normal()),
      [hc * c, M],
      k.phi ?? 'f32',
    ),
    b: upload(
      be,
      rand(M, 6, (r) => 0.3 * r.normal()),
      [M],
      'f32',
    ),
    alphaPre: scalar(7),
    alphaPost: scalar(8),
    alphaRes: scalar(9),
  };
}

type Inputs = ReturnType<typeof inputs>;
const config = (k: Case): CoeffsConfig => ({ hc: k.hc, ...CONFIG });

function fused(k: Case, a: Inputs): PostResCoeffsPreForwardResult {
  return b!.mhc.postResCoeffsPreForward({
    ...a,
    orientation: k.orientation,
    config: config(k),
    save: k.save,
  });
}

function separate(k: Case, a: Inputs): PostResCoeffsPreForwardResult {
  const { N, hc, c } = k;
  const xOut = b!.mhc.postResForward(a.x, a.f, a.hPost, a.hRes, k.orientation);
  const r = b!.mhc.coeffsForward({
    x: { ...xOut, shape: [N, hc * c] },
    phi: a.phi,
    b: a.b,
    alphaPre: a.alphaPre,
    alphaPost: a.alphaPost,
    alphaRes: a.alphaRes,
    config: config(k),
    save: k.save,
  });
  const xIn = b!.mhc.preForward(xOut, r.hPre);
  return { xOut, hPre: r.hPre, hPost: r.hPost, hRes: r.hRes, xIn, saved: r.saved };
}

const outputs = (r: PostResCoeffsPreForwardResult): [string, TensorInfo][] => [
  ['xOut', r.xOut],
  ['xIn', r.xIn],
  ['hPre', r.hPre],
  ['hPost', r.hPost],
  ['hRes', r.hRes],
  ...r.saved.map((t, i): [string, TensorInfo] => [`saved[${i}]`, t]),
];

function dispose(r: PostResCoeffsPreForwardResult): void {
  free(b!, ...outputs(r).map(([, t]) => t));
}

async function bits(t: TensorInfo): Promise<number[]> {
  return Array.from(new Uint8Array(await b!.read(t.handle)));
}

/** mix [N, M] = (xOut·φ)·rsqrt(mean(xOut²) + rmsEps) in f64. */
function referenceMix(k: Case, xo: Float64Array, phi: Float64Array): Float64Array {
  const M = k.hc * k.hc + 2 * k.hc;
  const K = k.hc * k.c;
  const out = new Float64Array(k.N * M);
  for (let n = 0; n < k.N; n++) {
    let ss = 0;
    for (let q = 0; q < K; q++) ss += xo[n * K + q]! ** 2;
    const invr = 1 / Math.sqrt(ss / K + CONFIG.rmsEps);
    for (let m = 0; m < M; m++) {
      let acc = 0;
      for (let q = 0; q < K; q++) acc += xo[n * K + q]! * phi[q * M + m]!;
      out[n * M + m] = acc * invr;
    }
  }
  return out;
}

const CASES: Case[] = [
  { N: 5, hc: 1, c: 8, x: 'f32', f: 'f32', orientation: 'liger', save: 'history' },
  { N: 7, hc: 2, c: 9, x: 'f32', f: 'f32', orientation: 'deepseek', save: 'recompute' },
  { N: 5, hc: 3, c: 6, x: 'bf16', f: 'bf16', orientation: 'liger', save: 'none' },
  { N: 9, hc: 4, c: 16, x: 'bf16', f: 'f32', orientation: 'deepseek', save: 'history' },
  { N: 3, hc: 4, c: 17, x: 'bf16', f: 'f32', orientation: 'liger', save: 'recompute' },
  { N: 70, hc: 4, c: 24, x: 'f16', f: 'f16', phi: 'bf16', orientation: 'deepseek', save: 'history' },
  { N: 4, hc: 5, c: 7, x: 'f16', f: 'f32', orientation: 'liger', save: 'history' },
  { N: 3, hc: 6, c: 8, x: 'bf16', f: 'bf16', phi: 'bf16', orientation: 'deepseek', save: 'recompute' },
  { N: 3, hc: 8, c: 5, x: 'f32', f: 'bf16', orientation: 'deepseek', save: 'history' },
  { N: 2, hc: 8, c: 16, x: 'bf16', f: 'bf16', phi: 'f16', orientation: 'liger', save: 'none' },
];

const name = (k: Case) =>
  `hc ${k.hc}, c ${k.c}, N ${k.N}, x ${k.x}, f ${k.f}, phi ${k.phi ?? 'f32'}, ${k.orientation}, save ${k.save}`;

d(`post_res_coeffs_pre on webgpu${b ? '' : ` (skipped: ${skipReason()})`}`, () => {
  for (const k of CASES)
    it(`matches the separate kernels: ${name(k)}`, async () => {
      const a = inputs(k);
      const [got, keys] = await withDispatchLog(b!, () => fused(k, a));
      // One dispatch of the fused kernel; besides it only the casts that pack odd-length half rows.
      expect(keys.map(kernelName).filter((n) => n !== 'ew')).toEqual(['post_res_coeffs_pre_fwd']);
      const want = separate(k, a);
      const g = outputs(got);
      const w = outputs(want);
      expect(g.map(([n, t]) => [n, t.dtype, t.shape.reduce((p, q) => p * q, 1)])).toEqual(
        w.map(([n, t]) => [n, t.dtype, t.shape.reduce((p, q) => p * q, 1)]),
      );
      for (let i = 0; i < g.length; i++) {
        const [n, t] = g[i]!;
        const tol: Tolerance = TOLERANCES[t.dtype];
        const cmp = compare(await download(b!, t), await download(b!, w[i]![1]), tol);
        expect({ tensor: n, ratio: cmp.ratio, pass: cmp.pass }).toEqual({
          tensor: n,
          ratio: cmp.ratio,
          pass: true,
        });
      }
      // x·φ and Σx² were taken of the values stored in xOut (rounded to x's dtype), not of the
      // unrounded sums: the saved mix against an f64 projection of the stored xOut.
      if (got.saved[0]) {
        const mix = await download(b!, got.saved[0]);
        const ref = referenceMix(k, await download(b!, got.xOut), await download(b!, a.phi));
        const M = k.hc * k.hc + 2 * k.hc;
        const cmp = compare(
          Array.from(ref, (_, i) => mix[Math.floor(i / M) * (M + 1) + (i % M)]!),
          ref,
          TOLERANCES.f32,
        );
        expect(cmp.ratio).toBeLessThanOrEqual(1);
      }
      // Deterministic: a second run gives the same bits.
      const again = fused(k, a);
      const o2 = outputs(again);
      for (let i = 0; i < g.length; i++) expect(await bits(o2[i]![1])).toEqual(await bits(g[i]![1]));
      dispose(got);
      dispose(want);
      dispose(again);
      free(b!, ...Object.values(a));
    }, 120_000);

  it('computes post_res with the values the separate kernel stores (bf16, odd c)', async () => {
    // xOut is the one output both paths compute with the same expression: equal bits expected.
    const k: Case = { N: 3, hc: 4, c: 17, x: 'bf16', f: 'f32', orientation: 'liger', save: 'none' };
    const a = inputs(k);
    const got = fused(k, a);
    const want = separate(k, a);
    expect(await bits(got.xOut)).toEqual(await bits(want.xOut));
    dispose(got);
    dispose(want);
    free(b!, ...Object.values(a));
  }, 120_000);

  it('runs hc 9 as the separate kernels, with their results', async () => {
    const k: Case = { N: 3, hc: 9, c: 4, x: 'f32', f: 'f32', orientation: 'deepseek', save: 'history' };
    const a = inputs(k);
    const [got, keys] = await withDispatchLog(b!, () => fused(k, a));
    const names = keys.map(kernelName);
    expect(names).not.toContain('post_res_coeffs_pre_fwd');
    expect(names).toContain('post_res_fwd');
    const want = separate(k, a);
    const g = outputs(got);
    const w = outputs(want);
    expect(g.length).toBe(w.length);
    for (let i = 0; i < g.length; i++) expect(await bits(g[i]![1])).toEqual(await bits(w[i]![1]));
    dispose(got);
    dispose(want);
    free(b!, ...Object.values(a));
  }, 300_000);

  it('takes zero tokens', async () => {
    const k: Case = { N: 0, hc: 4, c: 8, x: 'bf16', f: 'bf16', orientation: 'liger', save: 'history' };
    const a = inputs(k);
    const got = fused(k, a);
    expect(got.xOut.shape).toEqual([0, 4, 8]);
    expect(got.xIn.shape).toEqual([0, 8]);
    expect(got.saved.map((t) => t.shape[0])).toEqual([0, 0]);
    dispose(got);
    free(b!, ...Object.values(a));
  });

  it('names the argument that is wrong', () => {
    const k: Case = { N: 2, hc: 2, c: 4, x: 'f32', f: 'f32', orientation: 'liger', save: 'none' };
    const a = inputs(k);
    const live = b!.memory().liveBuffers;
    const call =
      (over: Partial<Inputs>, extra: object = {}) =>
      () =>
        b!.mhc.postResCoeffsPreForward({
          ...a,
          ...over,
          orientation: k.orientation,
          config: config(k),
          save: k.save,
          ...extra,
        });
    expect(call({ hPost: a.b })).toThrow(/hPost/);
    expect(call({ phi: a.b })).toThrow(/phi/);
    expect(call({ f: a.x })).toThrow(/\bf\b/);
    expect(call({}, { orientation: 'sideways' })).toThrow(/orientation/);
    expect(call({}, { phiLayout: 'deepseek' })).toThrow(/phiLayout/);
    expect(call({}, { config: { ...config(k), tmax: 0 } })).toThrow(/tmax/);
    // Nothing was allocated by the refused calls.
    expect(b!.memory().liveBuffers).toBe(live);
    free(b!, ...Object.values(a));
  });
});
