import { bf16ToF32, f16ToF32, f32ToBf16 } from '@liger-mhc/core';
import { afterAll, describe, expect, it } from 'vitest';
import { create } from 'webgpu';
import { hasF16Config16, subgroupMatrixConfigs } from '../src/device.js';
import {
  coeffsForwardMmaKernel,
  coeffsMmaBlocker,
  coeffsMmaReduceKernel,
  type MmaDeviceSupport,
  mmaAux,
  mmaKP,
  mmaPhiScaleKernel,
  mmaPhiSplitKernel,
  mmaShape,
  mmaSplit,
  mmaWorkgroupBytes,
} from '../src/kernels/mhc/coeffs-mma.wgsl.js';
import { header } from '../src/kernels/wgsl-lib.js';
import { free, gpu, skipReason } from './helpers.js';

/**
 * The subgroup-matrix coeffs forward cannot run here (lavapipe and SwiftShader lack the feature; the
 * device benchmark checks it against the f32 path on an NVIDIA card). What runs here: the gating,
 * the WGSL through Dawn's validator (its null backend exposes the feature), and the two φ kernels,
 * which use only shader-f16.
 */
const NVIDIA: MmaDeviceSupport = {
  subgroupMatrixF16: true,
  shaderF16: true,
  subgroupMinSize: 32,
  subgroupMaxSize: 32,
  maxStorageBuffersPerShaderStage: 10,
  maxComputeWorkgroupStorageSize: 49152,
};

describe('coeffs matrix path: gating', () => {
  it('takes bf16/f16 x and φ at hc <= 4 with K a multiple of 8 on a 32-wide device', () => {
    expect(coeffsMmaBlocker(NVIDIA, 4, 'bf16', 'bf16', 16384)).toBeNull();
    expect(coeffsMmaBlocker(NVIDIA, 4, 'f16', 'f16', 4096)).toBeNull();
    expect(coeffsMmaBlocker(NVIDIA, 1, 'bf16', 'bf16', 16)).toBeNull();
    expect(coeffsMmaBlocker(NVIDIA, 4, 'bf16', 'bf16', 2080)).toBeNull();
  });

  it('leaves everything else on the f32 path, saying why', () => {
    expect(coeffsMmaBlocker(null, 4, 'bf16', 'bf16', 4096)).toBe('disabled');
    expect(coeffsMmaBlocker({ ...NVIDIA, subgroupMatrixF16: false }, 4, 'bf16', 'bf16', 4096)).toMatch(
      /config/,
    );
    expect(coeffsMmaBlocker({ ...NVIDIA, shaderF16: false }, 4, 'bf16', 'bf16', 4096)).toMatch(/shader-f16/);
    expect(coeffsMmaBlocker({ ...NVIDIA, subgroupMinSize: 16 }, 4, 'bf16', 'bf16', 4096)).toMatch(
      /subgroup size/,
    );
    expect(
      coeffsMmaBlocker({ ...NVIDIA, maxComputeWorkgroupStorageSize: 32768 }, 4, 'bf16', 'bf16', 4096),
    ).toMatch(/workgroup storage/);
    expect(coeffsMmaBlocker(NVIDIA, 4, 'bf16', 'f32', 4096)).toMatch(/bf16\/f16/);
    expect(coeffsMmaBlocker(NVIDIA, 4, 'f32', 'f32', 4096)).toMatch(/bf16\/f16/);
    expect(coeffsMmaBlocker(NVIDIA, 8, 'bf16', 'bf16', 4096)).toMatch(/32 coefficients/);
    expect(coeffsMmaBlocker(NVIDIA, 3, 'bf16', 'bf16', 51)).toMatch(/multiple of 8/);
  });

  it('splits K into chunks by the shape only, where the token tiles alone are few', () => {
    // Few tokens: 1024 (32 token tiles) × K = 4096 (16 tiles): 8 chunks of 2 tiles, 256 workgroups.
    expect(mmaSplit(1024, 4096)).toEqual({ kTiles: 2, chunks: 8 });
    expect(mmaSplit(100, 800)).toEqual({ kTiles: 1, chunks: 4 });
    // 8192×4×4096 (256 token tiles) is already 256 workgroups: unsplit.
    expect(mmaSplit(8192, 16384)).toEqual({ kTiles: 0, chunks: 1 });
    // Enough tokens: one chunk, i.e. the unsplit kernel.
    expect(mmaSplit(32768, 4096)).toEqual({ kTiles: 0, chunks: 1 });
    expect(mmaSplit(1 << 20, 1024)).toEqual({ kTiles: 0, chunks: 1 });
    expect(mmaSplit(8192, 16384, { kTiles: 0 })).toEqual({ kTiles: 0, chunks: 1 });
    expect(mmaSplit(8192, 16384, { kTiles: 8 })).toEqual({ kTiles: 8, chunks: 8 });
    expect(mmaSplit(8192, 16384, { kTiles: 100 })).toEqual({ kTiles: 0, chunks: 1 });
    expect(mmaSplit(8192, 16384, { kTiles: 3 })).toEqual({ kTiles: 3, chunks: 22 });
    expect(mmaSplit(2048, 16384, { tokens: 16 })).toEqual({ kTiles: 32, chunks: 2 });
  });

  it('reads the adapter configs field by field and wants f16 16x16x16 -> f32', () => {
    // Dawn's config objects keep their fields on the prototype: JSON.stringify shows none of them.
    class Cfg {
      constructor(
        private readonly m: number,
        private readonly t: string,
        private readonly r: string,
      ) {}
      get M() {
        return this.m;
      }
      get N() {
        return this.m;
      }
      get K() {
        return this.m;
      }
      get componentType() {
        return this.t;
      }
      get resultComponentType() {
        return this.r;
      }
    }
    const info = { subgroupMatrixConfigs: [new Cfg(16, 'f16', 'f16'), new Cfg(8, 'f16', 'f32')] };
    const cfgs = subgroupMatrixConfigs(info);
    expect(cfgs).toEqual([
      { M: 16, N: 16, K: 16, componentType: 'f16', resultComponentType: 'f16' },
      { M: 8, N: 8, K: 8, componentType: 'f16', resultComponentType: 'f32' },
    ]);
    expect(hasF16Config16(cfgs)).toBe(false);
    expect(
      hasF16Config16(subgroupMatrixConfigs({ subgroupMatrixConfigs: [new Cfg(16, 'f16', 'f32')] })),
    ).toBe(true);
    expect(subgroupMatrixConfigs(undefined)).toEqual([]);
  });
});

// Dawn's null backend validates WGSL without a GPU, and exposes the feature. Its instance must stay
// reachable (Dawn crashes the process when it is collected under live objects): pinned on globalThis.
const nullGpu = create(['backend=null', 'enable-dawn-features=allow_unsafe_apis']);
(globalThis as { __ligerNullGpu?: unknown }).__ligerNullGpu = nullGpu;
const nullAdapter = await nullGpu.requestAdapter();
const hasNull = !!nullAdapter?.features.has('chromium-experimental-subgroup-matrix');

(hasNull ? describe : describe.skip)('coeffs matrix path: WGSL validates (Dawn null backend)', () => {
  it('every specialisation compiles without errors or warnings', async () => {
    const dev = await nullAdapter!.requestDevice({
      requiredFeatures: ['chromium-experimental-subgroup-matrix', 'shader-f16'] as GPUFeatureName[],
    });
    const defs = [];
    for (const hc of [1, 2, 3, 4])
      for (const xd of ['bf16', 'f16'] as const)
        for (const save of ['none', 'history', 'recompute'] as const)
          defs.push(
            coeffsForwardMmaKernel(hc, xd, xd, 4096, save, {
              normalOnly: hc === 2,
              tokens: hc === 3 ? 16 : 32,
              prefetch: hc === 1 ? 2 : 1,
              // The K-split kernel (default) and the unsplit one (kTiles 0), which runs the epilogue.
              kTiles: save === 'recompute' ? 0 : undefined,
            }),
          );
    for (const hc of [1, 4])
      for (const save of ['none', 'history', 'recompute'] as const)
        defs.push(coeffsMmaReduceKernel(hc, save));
    defs.push(coeffsForwardMmaKernel(4, 'bf16', 'bf16', 4096, 'none', { ablate: 'loads-only' }));
    defs.push(
      mmaPhiScaleKernel(4, 'bf16', 4096),
      mmaPhiSplitKernel(4, 'bf16', 4096),
      mmaPhiSplitKernel(3, 'f16', 72, true),
    );
    const problems: string[] = [];
    for (const d of defs) {
      const module = dev.createShaderModule({ code: (d.directives ?? '') + header(d.bufs) + d.body });
      for (const m of (await module.getCompilationInfo()).messages)
        if (m.type !== 'info') problems.push(`${d.key}:${m.lineNum}: ${m.type}: ${m.message}`);
    }
    expect(problems).toEqual([]);
    // The forward needs more workgroup memory than the null device's 16 KiB: its budget is checked
    // against what it declares (45312 bytes at hc = 4, all variables multiples of 128 bytes).
    expect(mmaWorkgroupBytes(4)).toBeGreaterThanOrEqual(45312);
    expect(mmaWorkgroupBytes(4)).toBeLessThanOrEqual(49152);
    dev.destroy();
  });
});

const b = await gpu();
afterAll(() => b?.dispose());

(b?.features.shaderF16 ? describe : describe.skip)(
  `coeffs matrix path: the φ split is exact${b ? '' : ` (skipped: ${skipReason()})`}`,
  () => {
    it('hi·2^-s + lo·2^-s-24 gives φ back, columns scaled under 65504, flags per chunk', async () => {
      const be = b!;
      const hc = 4;
      const K = 300; // not a multiple of 256: the prepared φ is padded to 512 rows
      const { M, MP } = mmaShape(hc);
      const A = mmaAux(hc, K);
      const KP = mmaKP(K);
      let s = 7;
      const rnd = () => {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        return s / 2 ** 32;
      };
      const bits = new Uint16Array(K * M);
      for (let k = 0; k < K; k++)
        for (let j = 0; j < M; j++) {
          // Column j has magnitudes around 2^(8-2j); column 7 is zero; column 5 spans 2^-60..2^0 in
          // rows 256.. only (so only chunk 1 needs lo); small values land in f16's subnormal range.
          let e = 8 - 2 * j + Math.floor(rnd() * 6) - 3;
          if (j === 5) e = k >= 256 ? -Math.floor(rnd() * 60) : 0;
          const v = j === 7 ? 0 : (rnd() < 0.5 ? -1 : 1) * 2 ** e * (1 + Math.floor(rnd() * 128) / 128);
          bits[k * M + j] = f32ToBf16(v);
        }
      const phi = be.zeros([K, M], 'bf16');
      be.write(phi.handle, bits);
      const aux = be.zeros([A.len], 'f32');
      const phl = be.zeros([2 * KP * MP], 'f16');
      const params = (p: { u32(k: number, v: number): unknown }) => {
        p.u32(1, K);
      };
      be.dispatch(mmaPhiScaleKernel(hc, 'bf16', K), [phi, aux], params, MP);
      be.dispatch(mmaPhiSplitKernel(hc, 'bf16', K), [phi, aux, phl], params, KP / 256);
      const a = (await be.read(aux.handle)) as Float32Array;
      const p = (await be.read(phl.handle)) as Uint16Array;
      free(be, phi, aux, phl);
      let worst = 0;
      for (let j = 0; j < MP; j++) {
        const inv = a[A.CS + j]!;
        expect(inv * a[A.CSU + j]!).toBe(1);
        expect(a[A.BAD + j]).toBe(0);
        let hiMax = 0;
        for (let k = 0; k < KP; k++) {
          const hi = f16ToF32(p[k * MP + j]!);
          const lo = f16ToF32(p[(KP + k) * MP + j]!);
          hiMax = Math.max(hiMax, Math.abs(hi));
          const want = j < M && k < K ? bf16ToF32(bits[k * M + j]!) : 0;
          const got = hi * inv + lo * inv * 2 ** -24;
          // Exact unless the scaled value is under 2^-38 (its lo is an f16 subnormal or flushes).
          const err = Math.abs(got - want);
          if (Math.abs(want) / inv >= 2 ** -38) expect(err).toBe(0);
          else worst = Math.max(worst, err / inv);
          if (j < M && k < K) expect(a[A.PHI + k * M + j]).toBe(want);
        }
        expect(hiMax).toBeLessThanOrEqual(65504);
        if (j < M && j !== 7) expect(hiMax).toBeGreaterThanOrEqual(32768);
      }
      // Values far below their column's maximum may flush: under 2^-38 after scaling.
      expect(worst).toBeLessThanOrEqual(2 ** -38);
      expect([a[A.CH], a[A.CH + 1]]).toEqual([0, 1]);
    });

    it('an inf in φ marks its column bad (the forward then takes its f32 fallback)', async () => {
      const be = b!;
      const hc = 2;
      const K = 16;
      const { M, MP } = mmaShape(hc);
      const A = mmaAux(hc, K);
      const bits = new Uint16Array(K * M).fill(f32ToBf16(0.5));
      bits[3 * M + 1] = 0x7f80; // +inf
      const phi = be.zeros([K, M], 'bf16');
      be.write(phi.handle, bits);
      const aux = be.zeros([A.len], 'f32');
      be.dispatch(mmaPhiScaleKernel(hc, 'bf16', K), [phi, aux], (p) => p.u32(1, K), MP);
      const a = (await be.read(aux.handle)) as Float32Array;
      free(be, phi, aux);
      expect(Array.from(a.subarray(A.BAD, A.BAD + M))).toEqual([0, 1, 0, 0, 0, 0, 0, 0]);
    });

    it("this device reports the coeffs path it runs ('scalar' without the feature)", () => {
      const be = b!;
      const expected = be.mmaSupport ? 'subgroup-matrix' : 'scalar';
      expect(be.capabilities.coeffsForward).toBe(expected);
      expect(be.setCoeffsPath('scalar')).toBe('scalar');
      expect(be.setCoeffsPath('subgroup-matrix')).toBe(expected);
    });
  },
);

(b ? describe : describe.skip)(
  `coeffs matrix path: the K-split reduce${b ? '' : ` (skipped: ${skipReason()})`}`,
  () => {
    it('sums the chunks per token in order, then the token epilogue (mix, invr, hPre, hPost)', async () => {
      const be = b!;
      const hc = 4;
      const N = 70; // not a multiple of the 64-token workgroup
      const K = 512;
      const chunks = 3;
      const { M } = mmaShape(hc);
      // Partials of small integers (exact sums), Σx² partials positive.
      const part = new Float32Array(chunks * (M + 1) * N);
      for (let c = 0; c < chunks; c++)
        for (let j = 0; j <= M; j++)
          for (let n = 0; n < N; n++)
            part[(c * (M + 1) + j) * N + n] =
              j === M ? 1 + ((n + c) % 5) : ((n * 7 + j * 3 + c * 11) % 9) - 4;
      const coefv = new Float32Array(M + 3);
      for (let j = 0; j < M; j++) coefv[j] = 0.05 * (j - 10);
      coefv.set([0.5, 2, 1], M);
      const P = be.zeros([part.length], 'f32');
      be.write(P.handle, part);
      const coef = be.zeros([M + 3], 'f32');
      be.write(coef.handle, coefv);
      const tmax = 3;
      const HS = hc * hc + (2 * tmax - 1) * hc;
      const outs = [
        be.zeros([N * hc], 'f32'),
        be.zeros([N * hc], 'f32'),
        be.zeros([N * hc * hc], 'f32'),
        be.zeros([N * (M + 1)], 'f32'),
        be.zeros([N * HS], 'f32'),
      ];
      const preEps = 0.01;
      const postMult = 2;
      be.dispatch(
        coeffsMmaReduceKernel(hc, 'history'),
        [P, coef, ...outs],
        (p) => {
          p.u32(0, N)
            .u32(1, K)
            .u32(3, tmax)
            .f32(4, 1e-6)
            .f32(5, preEps)
            .f32(6, 1e-6)
            .f32(7, postMult)
            .u32(9, chunks);
        },
        Math.ceil(N / 64),
      );
      const [hPre, hPost, hRes, s1] = (await Promise.all(
        outs.slice(0, 4).map((t) => be.read(t.handle)),
      )) as Float32Array[];
      free(be, P, coef, ...outs);
      const sig = (v: number) => 1 / (1 + Math.exp(-v));
      for (let n = 0; n < N; n++) {
        const sum = (j: number) => {
          let s = 0;
          for (let c = 0; c < chunks; c++) s += part[(c * (M + 1) + j) * N + n]!;
          return s;
        };
        const invr = 1 / Math.sqrt(sum(M) / K + 1e-6);
        expect(s1![n * (M + 1) + M]).toBeCloseTo(invr, 5);
        for (let j = 0; j < M; j++) expect(s1![n * (M + 1) + j]).toBeCloseTo(sum(j) * invr, 4);
        for (let s = 0; s < hc; s++) {
          expect(hPre![n * hc + s]).toBeCloseTo(sig(sum(s) * invr * 0.5 + coefv[s]!) + preEps, 5);
          expect(hPost![n * hc + s]).toBeCloseTo(postMult * sig(sum(hc + s) * invr * 2 + coefv[hc + s]!), 5);
        }
        // Sinkhorn output: rows of hRes sum to ~1 after the last (column) normalisation's row pass.
        let tot = 0;
        for (let k = 0; k < hc * hc; k++) tot += hRes![n * hc * hc + k]!;
        expect(tot).toBeCloseTo(hc, 3);
      }
    });
  },
);
