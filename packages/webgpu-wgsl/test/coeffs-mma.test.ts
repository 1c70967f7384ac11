import { bf16ToF32, f16ToF32, f32ToBf16 } from '@liger-mhc/core';
import { afterAll, describe, expect, it } from 'vitest';
import { create } from 'webgpu';
import { hasF16Config16, subgroupMatrixConfigs } from '../src/device.js';
import {
  coeffsForwardMmaKernel,
  coeffsMmaBlocker,
  type MmaDeviceSupport,
  mmaAux,
  mmaKP,
  mmaPhiScaleKernel,
  mmaPhiSplitKernel,
  mmaShape,
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
    // Few tokens: the f32 path is faster there, unless the caller lowers the bar (the checks do).
    expect(coeffsMmaBlocker(NVIDIA, 4, 'bf16', 'bf16', 16384, 8192)).toBeNull();
    expect(coeffsMmaBlocker(NVIDIA, 4, 'bf16', 'bf16', 16384, 8191)).toMatch(/fewer than 8192 tokens/);
    expect(coeffsMmaBlocker(NVIDIA, 4, 'bf16', 'bf16', 16384, 32, 0)).toBeNull();
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
            }),
          );
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

    it("this device reports the coeffs path it runs ('split' by default; the matrix path only on request and with the feature)", () => {
      const be = b!;
      expect(be.capabilities.coeffsForward).toBe('split');
      expect(be.setCoeffsPath('scalar')).toBe('scalar');
      expect(be.setCoeffsPath('subgroup-matrix')).toBe(be.mmaSupport ? 'subgroup-matrix' : 'split');
      expect(be.setCoeffsPath('split')).toBe('split');
    });
  },
);
