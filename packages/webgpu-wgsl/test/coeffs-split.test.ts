import { ArgumentError, bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, type TensorInfo } from '@liger-mhc/core';
import { afterAll, describe, expect, it } from 'vitest';
import type { WebGpuBackend } from '../src/index.js';
import { kernelOverrides, setKernelOverrides } from '../src/internals.js';
import { coeffsShape } from '../src/kernels/mhc/coeffs.wgsl.js';
import {
  coeffsSplit,
  coeffsSplitBlocker,
  SPLIT_KG16_K,
  SPLIT_SMALL_N,
  type SplitOptions,
} from '../src/kernels/mhc/coeffs-split.wgsl.js';
import { free, gpu, skipReason } from './helpers.js';

describe('coeffs split path: gating and grid', () => {
  it('takes half x at hc <= 4 with K a multiple of 8, and says why not otherwise', () => {
    expect(coeffsSplitBlocker(4, 'bf16', 16384)).toBeNull();
    expect(coeffsSplitBlocker(1, 'f16', 8)).toBeNull();
    expect(coeffsSplitBlocker(4, 'f32', 16384)).toMatch(/bf16\/f16/);
    expect(coeffsSplitBlocker(5, 'bf16', 40)).toMatch(/hc > 4/);
    expect(coeffsSplitBlocker(3, 'bf16', 12)).toMatch(/multiple of 8/);
  });

  it('splits K so the grid has a few hundred workgroups, never an empty chunk', () => {
    // 8192 tokens: 128 tiles of 64 tokens, K = 16384 in 256 steps of 64 → 2 chunks of 128 steps.
    expect(coeffsSplit(8192, 16384, 4)).toMatchObject({
      tiles: 128,
      steps: 256,
      stepsPerChunk: 128,
      chunks: 2,
    });
    // 32768 tokens fill the grid alone: one chunk.
    expect(coeffsSplit(32768, 4096, 4)).toMatchObject({ tiles: 512, chunks: 1, stepsPerChunk: 64 });
    // Few tokens: as many chunks as steps allow.
    expect(coeffsSplit(16, 200, 4)).toMatchObject({ tiles: 1, steps: 4, stepsPerChunk: 1, chunks: 4 });
    // φ packed per step: 8 elements × 2 groups × 3 quads × 8 threads at hc = 4 (M = 24).
    expect(coeffsSplit(16, 200, 4).packed).toBe(4 * 384);
    // then b and the three alphas (27 floats) in 7 vec4s.
    expect(coeffsSplit(16, 200, 4).packedLen).toBe(4 * 384 + 7);
    for (const [N, K] of [
      [100, 800],
      [5000, 3000],
      [1, 8],
      [70000, 64],
    ] as const) {
      const g = coeffsSplit(N, K, 4);
      expect((g.chunks - 1) * g.stepsPerChunk).toBeLessThan(g.steps);
      expect(g.chunks * g.stepsPerChunk).toBeGreaterThanOrEqual(g.steps);
    }
  });
});

const b = await gpu();
afterAll(() => b?.dispose());

/** Runs the coeffs forward on `path`; returns hPre, hPost, hRes, mix/invr (saved[0]), history. */
async function forward(
  be: WebGpuBackend,
  path: 'split' | 'scalar',
  args: { x: TensorInfo; phi: TensorInfo; b: TensorInfo; a: TensorInfo[]; hc: number },
  opts: SplitOptions = {},
): Promise<Float32Array[]> {
  const keepPath = be.capabilities.coeffsForward;
  const keepOpts = kernelOverrides(be.mhc).split;
  be.setCoeffsPath(path);
  setKernelOverrides(be.mhc, { split: opts });
  try {
    const r = be.mhc.coeffsForward({
      x: args.x,
      phi: args.phi,
      b: args.b,
      alphaPre: args.a[0]!,
      alphaPost: args.a[1]!,
      alphaRes: args.a[2]!,
      config: { hc: args.hc, tmax: 20, rmsEps: 1e-6, preEps: 0, sinkhornEps: 1e-6, postMult: 2 },
      save: 'history',
    });
    const ts = [r.hPre, r.hPost, r.hRes, ...r.saved];
    const out = await Promise.all(ts.map(async (t) => (await be.read(t.handle)) as Float32Array));
    free(be, ...ts);
    return out;
  } finally {
    be.setCoeffsPath(keepPath);
    setKernelOverrides(be.mhc, { split: keepOpts });
  }
}

(b ? describe : describe.skip)(
  `coeffs split path on the device${b ? '' : ` (skipped: ${skipReason()})`}`,
  () => {
    // Shapes that reach every branch: ragged token tiles (N not a multiple of 64), K with a partial
    // last step (K % 64 != 0), several K chunks and one, hc = 1..4 (column quads partly used), bf16
    // and f16, 8 tokens a thread (the default from 4096 tokens; 4 below), and the layouts the benchmark
    // compares (4 tokens a thread in one column group of 256 threads, 16 and 32 threads per token
    // along K, the Σx² split and touch loads).
    const cases: [number, number, number, 'bf16' | 'f16', SplitOptions][] = [
      [300, 4, 200, 'bf16', {}],
      [300, 4, 200, 'bf16', { tokens: 8 }],
      [129, 4, 1024, 'f16', { tokens: 8 }],
      // K = 8192: the production 8-token kernel with 16 threads per token along K.
      [70, 4, 2048, 'bf16', { tokens: 8 }],
      [64, 3, 136, 'bf16', {}],
      [70, 2, 64, 'f16', {}],
      [33, 1, 8, 'bf16', {}],
      [300, 4, 200, 'bf16', { tokens: 4, groups: 1, wg: 256 }],
      [300, 4, 200, 'bf16', { targetGroups: 1 }],
      [129, 4, 1024, 'bf16', { kg: 32 }],
      [300, 4, 200, 'f16', { kg: 16, tokens: 4 }],
      [129, 3, 1024, 'f16', { groups: 1, wg: 256 }],
      // Σx² split between the column groups (tokens rotated in the second), with touch loads.
      [300, 4, 200, 'bf16', { tokens: 8, ssSplit: true }],
      [129, 4, 1024, 'f16', { tokens: 8, ssSplit: true, prefetch: 1 }],
      [300, 3, 200, 'bf16', { tokens: 4, ssSplit: true, prefetch: 2, kg: 16 }],
      [70, 2, 64, 'f16', { ssSplit: true }],
      [300, 4, 200, 'bf16', { tokens: 8, wg: 64, ssSplit: true, prefetch: 1, targetGroups: 1024 }],
      [300, 4, 200, 'bf16', { tokens: 8, kg: 4 }],
      // Both reductions of the KG threads' sums (the default takes subgroups where it can).
      [300, 4, 200, 'bf16', { tokens: 8, reduce: 'workgroup' }],
      [129, 3, 1024, 'f16', { reduce: 'workgroup', kg: 4 }],
      [300, 2, 200, 'f16', { tokens: 8, reduce: 'subgroup', ssSplit: false }],
      [300, 4, 200, 'bf16', { tokens: 8, reduce: 'subgroup' }],
      [129, 3, 1024, 'f16', { reduce: 'subgroup', kg: 4, ssSplit: false }],
      // Tiles from the last token down (ragged last tile first).
      [300, 4, 200, 'bf16', { tokens: 8, tileOrder: 'desc' }],
      [129, 4, 1024, 'f16', { tileOrder: 'desc', reduce: 'workgroup' }],
      [129, 3, 1024, 'f16', { kg: 4, ssSplit: false, prefetch: 2 }],
      [129, 4, 1024, 'f16', { tokens: 8, kg: 16, ssSplit: true, prefetch: 2 }],
      // 6 tokens a thread (ragged tiles).
      [300, 3, 200, 'bf16', { tokens: 6, ssSplit: true }],
      [70, 2, 64, 'f16', { tokens: 6, prefetch: 1 }],
    ];
    it('takes 4 tokens a thread below SPLIT_SMALL_N tokens, 8 from there, unless told', () => {
      const be = b!;
      const keep = kernelOverrides(be.mhc).split;
      try {
        setKernelOverrides(be.mhc, { split: {} });
        // The shuffle reduction where the probed subgroups hold a token's KG threads.
        const lanes = be.subgroupLanes;
        expect(lanes === 0 || lanes === be.features.subgroupMinSize).toBe(true);
        const red = (kg: number) => (lanes >= kg ? 'subgroup' : 'workgroup');
        // 8 tokens: the Σx² split and touch loads; 16 threads per token along K from SPLIT_KG16_K.
        expect(be.mhc.splitOptions(SPLIT_SMALL_N - 1, 16384)).toEqual({ tokens: 4, reduce: red(8) });
        expect(be.mhc.splitOptions(SPLIT_SMALL_N, SPLIT_KG16_K)).toEqual({
          tokens: 8,
          ssSplit: false,
          prefetch: 0,
          kg: 16,
          tileOrder: 'desc',
          reduce: red(16),
        });
        expect(be.mhc.splitOptions(SPLIT_SMALL_N, SPLIT_KG16_K - 8)).toEqual({
          tokens: 8,
          ssSplit: true,
          prefetch: 1,
          kg: 8,
          tileOrder: 'desc',
          reduce: red(8),
        });
        expect(be.mhc.splitOptions(SPLIT_SMALL_N, SPLIT_KG16_K - 8).kg).toBe(8);
        // What the caller sets wins.
        setKernelOverrides(be.mhc, { split: { kg: 16, prefetch: 0, reduce: 'workgroup' } });
        expect(be.mhc.splitOptions(SPLIT_SMALL_N - 1, 64)).toEqual({
          kg: 16,
          prefetch: 0,
          tokens: 4,
          reduce: 'workgroup',
        });
        expect(be.mhc.splitOptions(SPLIT_SMALL_N, 64)).toEqual({
          tokens: 8,
          ssSplit: true,
          prefetch: 0,
          kg: 16,
          tileOrder: 'desc',
          reduce: 'workgroup',
        });
        expect(be.mhc.splitOptions(SPLIT_SMALL_N, SPLIT_KG16_K).prefetch).toBe(0);
        // A requested shuffle reduction only where a token's KG threads fit in one subgroup.
        setKernelOverrides(be.mhc, { split: { kg: 16, reduce: 'subgroup' } });
        expect(be.mhc.splitOptions(SPLIT_SMALL_N, 64).reduce).toBe(red(16));
        setKernelOverrides(be.mhc, { split: { kg: 4, reduce: 'subgroup' } });
        expect(be.mhc.splitOptions(SPLIT_SMALL_N, 64).reduce).toBe(red(4));
        setKernelOverrides(be.mhc, { split: { tokens: 8 } });
        expect(be.mhc.splitOptions(16, 64).tokens).toBe(8);
      } finally {
        setKernelOverrides(be.mhc, { split: keep });
      }
    });

    it.each(cases)(
      'N=%i hc=%i c=%i %s %o: matches float64 and the f32 kernel',
      async (N, hc, c, dt, opts) => {
        const be = b!;
        const K = hc * c;
        const { M } = coeffsShape(hc);
        let s = 99 + N + K;
        const rnd = () => {
          s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
          return s / 2 ** 32;
        };
        const enc = dt === 'bf16' ? f32ToBf16 : f32ToF16;
        const dec = dt === 'bf16' ? bf16ToF32 : f16ToF32;
        // Token n scaled by 2^(n%7-3) so invr differs per token; an all-zero token.
        const xb = new Uint16Array(N * K);
        for (let n = 0; n < N; n++)
          for (let k = 0; k < K; k++) xb[n * K + k] = n === 5 ? 0 : enc((rnd() * 2 - 1) * 2 ** ((n % 7) - 3));
        const pb = new Uint16Array(K * M);
        for (let i = 0; i < K * M; i++) pb[i] = enc((rnd() * 2 - 1) * 0.05);
        const x = be.zeros([N, K], dt);
        be.write(x.handle, xb);
        const phi = be.zeros([K, M], dt);
        be.write(phi.handle, pb);
        const bias = be.zeros([M], 'f32');
        be.write(
          bias.handle,
          new Float32Array(M).map((_, i) => 0.1 * Math.cos(i)),
        );
        const a = [0.7, 1.1, 0.9].map((v) => {
          const t = be.zeros([], 'f32');
          be.write(t.handle, new Float32Array([v]));
          return t;
        });
        const args = { x, phi, b: bias, a, hc };
        const split = await forward(be, 'split', args, opts);
        const again = await forward(be, 'split', args, opts);
        const scalar = await forward(be, 'scalar', args);
        free(be, x, phi, bias, ...a);

        // Deterministic: a second run gives the same bits.
        split.forEach((v, i) => {
          expect(Buffer.from(v.buffer).equals(Buffer.from(again[i]!.buffer))).toBe(true);
        });
        // mix and invr against float64: error relative to Σ|x·φ|·invr (f32 summation: ~1e-7..1e-6).
        const xv = Float64Array.from(xb, dec);
        const pv = Float64Array.from(pb, dec);
        let err = 0;
        let errInvr = 0;
        for (let n = 0; n < N; n++) {
          let ss = 0;
          const S = new Float64Array(M);
          const A = new Float64Array(M);
          for (let k = 0; k < K; k++) {
            const v = xv[n * K + k]!;
            ss += v * v;
            for (let j = 0; j < M; j++) {
              S[j] += v * pv[k * M + j]!;
              A[j] += Math.abs(v * pv[k * M + j]!);
            }
          }
          const invr = 1 / Math.sqrt(ss / K + 1e-6);
          for (let j = 0; j < M; j++)
            err = Math.max(
              err,
              Math.abs(split[3]![n * (M + 1) + j]! - S[j]! * invr) / (A[j]! * invr + 1e-30),
            );
          errInvr = Math.max(errInvr, Math.abs(split[3]![n * (M + 1) + M]! - invr) / invr);
        }
        expect(err).toBeLessThan(1e-5);
        expect(errInvr).toBeLessThan(1e-5);
        // The coefficients and the saved history agree with the f32 kernel up to summation order.
        for (const i of [0, 1, 2, 4]) {
          let d = 0;
          for (let e = 0; e < scalar[i]!.length; e++)
            d = Math.max(d, Math.abs(split[i]![e]! - scalar[i]![e]!));
          expect(d).toBeLessThan(1e-4);
        }
      },
    );

    // coeffsPreForward (the layer forward): the reduce dispatch also writes xIn. It must equal preForward of
    // the hPre it returns, bit for bit, and leave every other output unchanged. c = 200 leaves the
    // last thread of a row with fewer pieces; c = 136 at hc = 3 and f16 at c = 1024 too.
    it.each([
      [300, 4, 200, 'bf16', 4],
      [129, 4, 1024, 'f16', 8],
      [70, 3, 136, 'bf16', 1],
      [300, 4, 200, 'bf16', 2],
      [129, 4, 1024, 'f16', -4],
    ] as const)(
      'N=%i hc=%i c=%i %s, %i pieces a thread: the fused pre equals preForward of its hPre',
      async (N, hc, c, dt, prePieces) => {
        const be = b!;
        const K = hc * c;
        const { M } = coeffsShape(hc);
        let s = 7 + N;
        const rnd = () => {
          s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
          return s / 2 ** 32 - 0.5;
        };
        const enc = dt === 'bf16' ? f32ToBf16 : f32ToF16;
        const x = be.zeros([N, K], dt);
        be.write(
          x.handle,
          Uint16Array.from({ length: N * K }, () => enc(rnd() * 4)),
        );
        const phi = be.zeros([K, M], 'f32');
        be.write(
          phi.handle,
          Float32Array.from({ length: K * M }, () => rnd() * 0.1),
        );
        const bias = be.zeros([M], 'f32');
        be.write(
          bias.handle,
          Float32Array.from({ length: M }, () => rnd()),
        );
        const [aPre, aPost, aRes] = [0.7, 1.1, 0.9].map((v) => {
          const t = be.zeros([], 'f32');
          be.write(t.handle, new Float32Array([v]));
          return t;
        });
        const keepPath = be.capabilities.coeffsForward;
        const keepSplit = kernelOverrides(be.mhc).split;
        be.setCoeffsPath('split');
        // A negative count: that many pieces, tokens in ascending order (the default is descending).
        setKernelOverrides(be.mhc, {
          split: {
            prePieces: Math.abs(prePieces) as 1 | 2 | 4 | 8,
            preOrder: prePieces < 0 ? 'asc' : 'desc',
          },
        });
        try {
          const args = {
            x,
            phi,
            b: bias,
            alphaPre: aPre!,
            alphaPost: aPost!,
            alphaRes: aRes!,
            config: { hc, tmax: 20, rmsEps: 1e-6, preEps: 1e-4, sinkhornEps: 1e-6, postMult: 2 },
            save: 'history' as const,
          };
          expect(be.mhc.supportsCoeffsPre(args)).toBe(true);
          const fused = be.mhc.coeffsPreForward(args);
          const plain = be.mhc.coeffsForward(args);
          expect(fused.xIn?.shape).toEqual([N, c]);
          expect(fused.xIn?.dtype).toBe(dt);
          const ref = be.mhc.preForward({ ...x, shape: [N, hc, c] }, fused.hPre);
          const bits = async (t: TensorInfo) => Buffer.from((await be.read(t.handle)).buffer);
          const fa = [fused.hPre, fused.hPost, fused.hRes, ...fused.saved];
          const pa = [plain.hPre, plain.hPost, plain.hRes, ...plain.saved];
          for (let i = 0; i < fa.length; i++)
            expect((await bits(fa[i]!)).equals(await bits(pa[i]!))).toBe(true);
          const got = await bits(fused.xIn!);
          expect(got.equals(await bits(ref))).toBe(true);
          // Not vacuous: xIn is not all zeros.
          expect(
            new Uint16Array(got.buffer, got.byteOffset, got.length / 2).some((v) => (v & 0x7fff) !== 0),
          ).toBe(true);
          free(be, ...fa, ...pa, fused.xIn!, ref);
          // A device with WebGPU's default 8 storage bindings per kernel gets no fused pre (9 needed).
          const lim = be.limits as { maxStorageBuffers: number };
          const keepLim = lim.maxStorageBuffers;
          lim.maxStorageBuffers = 8;
          try {
            expect(be.mhc.supportsCoeffsPre(args)).toBe(false);
            expect(() => be.mhc.coeffsPreForward(args)).toThrow(ArgumentError);
          } finally {
            lim.maxStorageBuffers = keepLim;
          }
        } finally {
          be.setCoeffsPath(keepPath);
          setKernelOverrides(be.mhc, { split: keepSplit });
          free(be, x, phi, bias, aPre!, aPost!, aRes!);
        }
      },
    );
  },
);
