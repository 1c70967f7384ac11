// Benchmark of the CUDA backend's mHC kernels (issue 4 §5): bf16, hc=4, identity inner layer;
// coeffs, pre, post_res and the whole layer, forward and forward+backward, CUDA-event medians,
// peak device memory of forward+backward, GB/s and the fraction of a device-to-device copy roofline
// measured in the same process. Run on the GPU machine (bundled by tooling/gpu/cuda-bundle.sh):
//   node .gpu-build/cuda/bench.mjs <outDir> [shapes]
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TensorInfo } from '@liger-mhc/core';
import { type CudaBackend, createCudaBackend } from '../../packages/cuda-native/src/index.js';
import {
  coeffsArgs,
  type LayerInputs,
  layerForward,
  layerForwardBackward,
} from '../../packages/cuda-native/test/cases/device-checks.js';
import { dispose } from '../../packages/cuda-native/test/cases/util.js';

const outDir = process.argv[2] ?? '.';
const shapes = (process.argv[3] ?? '8192x4x4096,16384x4x2048,32768x4x1024')
  .split(',')
  .map((s) => s.split('x').map(Number) as [number, number, number]);
// 'profile' (with LIGER_MHC_CUDA_PROFILE=1): one pass of each op, for the per-kernel lines on stderr.
const PROFILE = process.argv[4] === 'profile';
const WARMUP = PROFILE ? 1 : 5;
const REPS = PROFILE ? 1 : 30;

/** Random bf16 bits straight into a Uint16Array (no per-element number arrays at 10^8 elements). */
function randomBf16(n: number, seed: number, scale: number): Uint16Array {
  const out = new Uint16Array(n);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    f[0] = (s / 2 ** 32 - 0.5) * scale;
    out[i] = (u[0]! + 0x8000) >>> 16;
  }
  return out;
}

function upBits(
  be: CudaBackend,
  bits: Uint16Array | Float32Array,
  shape: number[],
  dtype: 'bf16' | 'f32',
): TensorInfo {
  const h = be.alloc(dtype, bits.length);
  be.write(h, bits);
  return { handle: h, shape, dtype };
}

function inputs(be: CudaBackend, n: number, hc: number, c: number): LayerInputs {
  const k = hc * c;
  const m = hc * hc + 2 * hc;
  const x = upBits(be, randomBf16(n * k, 1, 2), [n, k], 'bf16');
  const one = () => upBits(be, Float32Array.of(1), [], 'f32');
  return {
    x,
    x3: { ...x, shape: [n, hc, c] },
    phi: upBits(be, randomBf16(k * m, 2, 0.04), [k, m], 'bf16'),
    b: upBits(be, new Float32Array(m), [m], 'f32'),
    aPre: one(),
    aPost: one(),
    aRes: one(),
    gOut: upBits(be, randomBf16(n * k, 3, 2), [n, hc, c], 'bf16'),
    config: { hc, tmax: 20, rmsEps: 1e-6, preEps: 0, sinkhornEps: 1e-6, postMult: 2 },
    n,
    hc,
    c,
  };
}

/** Median of per-repetition CUDA-event times of fn (which enqueues work and disposes its outputs). */
async function time(be: CudaBackend, fn: () => void): Promise<number> {
  for (let i = 0; i < WARMUP; i++) fn();
  await be.sync();
  const ev: [number, number][] = [];
  for (let i = 0; i < REPS; i++) {
    const a = be.device.recordEvent();
    fn();
    ev.push([a, be.device.recordEvent()]);
  }
  await be.sync();
  const ms = ev.map(([a, b]) => be.device.elapsedMs(a, b)).sort((p, q) => p - q);
  be.device.clearEvents();
  return ms[Math.floor(ms.length / 2)]!;
}

const be = await createCudaBackend();
console.log(`device: ${be.capabilities.device}`);
const rows: Record<string, unknown>[] = [];

// Copy roofline: ~1 GiB device-to-device, counting bytes read and written.
{
  const bytes = 1 << 30;
  const src = be.output([bytes / 4], 'f32', true);
  const dst = be.output([bytes / 4], 'f32');
  const ms = await time(be, () => be.launch('copy_d2d', [be.buf(src, 'src'), be.buf(dst, 'dst')], [bytes]));
  rows.push({ op: 'copy', mode: 'd2d', N: 0, hc: 0, c: 0, ms, bytes: 2 * bytes });
  dispose(be, src, dst);
}
const copyGBs = (rows[0]!.bytes as number) / (rows[0]!.ms as number) / 1e6;

for (const [n, hc, c] of shapes) {
  be.emptyCache();
  const L = inputs(be, n, hc, c);
  const xb = n * hc * c * 2;
  const fb = n * c * 2;
  const emit = (op: string, mode: string, ms: number, bytes: number, extra: Record<string, unknown> = {}) => {
    rows.push({ op, mode, N: n, hc, c, ms, bytes, ...extra });
    console.log(
      `${op.padEnd(9)} ${mode.padEnd(8)} ${`${n}x${hc}x${c}`.padEnd(14)} ${ms.toFixed(3).padStart(8)} ms`,
    );
  };
  const coeffs = (save: 'none' | 'history') => be.mhc.coeffsForward(coeffsArgs(L, save));
  const cf = coeffs('history');
  const gPre = be.ops.fill([n, hc], 'f32', 0.01);
  const gPost = be.ops.fill([n, hc], 'f32', 0.02);
  const gRes = be.ops.fill([n, hc, hc], 'f32', 0.03);
  const xIn = be.mhc.preForward(L.x3, cf.hPre);
  const fIn = be.mhc.preForward(L.x3, cf.hPre);
  // Bring the clocks up (the inputs were made on the host while the GPU idled) before any timing.
  {
    const t0 = performance.now();
    while (performance.now() - t0 < 400) {
      for (let i = 0; i < 10; i++) {
        const r = layerForwardBackward(be, L, 'history');
        dispose(be, r.gradX, r.gradPhi, r.gradB, ...r.gradAlphas);
      }
      await be.sync();
    }
  }

  emit(
    'coeffs',
    'fwd',
    await time(be, () => {
      const r = coeffs('none');
      dispose(be, r.hPre, r.hPost, r.hRes);
    }),
    xb,
  );
  emit(
    'coeffs',
    'fwd+bwd',
    await time(be, () => {
      const r = coeffs('history');
      const g = be.mhc.coeffsBackward({
        gradHPre: gPre,
        gradHPost: gPost,
        gradHRes: gRes,
        x: L.x,
        phi: L.phi,
        b: L.b,
        alphaPre: L.aPre,
        alphaPost: L.aPost,
        alphaRes: L.aRes,
        hPre: r.hPre,
        hPost: r.hPost,
        hRes: r.hRes,
        saved: r.saved,
        config: L.config,
        save: 'history',
        needs: { x: true, phi: true, b: true, alphas: true },
      });
      dispose(
        be,
        r.hPre,
        r.hPost,
        r.hRes,
        ...r.saved,
        g.gradX,
        g.gradPhi,
        g.gradB,
        g.gradAlphaPre,
        g.gradAlphaPost,
        g.gradAlphaRes,
      );
    }),
    3 * xb,
  );
  emit('pre', 'fwd', await time(be, () => dispose(be, be.mhc.preForward(L.x3, cf.hPre))), xb + fb);
  // coeffs and pre in one pass over x (the layer forward's first step; coeffs_pre.cu).
  emit(
    'coeffs+pre',
    'fwd',
    await time(be, () => {
      const r = be.mhc.coeffsForward(coeffsArgs(L, 'none', true));
      dispose(be, r.hPre, r.hPost, r.hRes, ...(r.xIn ? [r.xIn] : []));
    }),
    xb + fb,
  );
  emit(
    'pre',
    'fwd+bwd',
    await time(be, () => {
      const y = be.mhc.preForward(L.x3, cf.hPre);
      const g = be.mhc.preBackward(y, L.x3, cf.hPre);
      dispose(be, y, g.gradX, g.gradHPre);
    }),
    xb + fb + (fb + 2 * xb),
  );
  emit(
    'post_res',
    'fwd',
    await time(be, () => dispose(be, be.mhc.postResForward(L.x3, fIn, cf.hPost, cf.hRes, 'liger'))),
    2 * xb + fb,
  );
  emit(
    'post_res',
    'fwd+bwd',
    await time(be, () => {
      const y = be.mhc.postResForward(L.x3, fIn, cf.hPost, cf.hRes, 'liger');
      const g = be.mhc.postResBackward(L.gOut, L.x3, fIn, cf.hPost, cf.hRes, 'liger');
      dispose(be, y, g.gradX, g.gradF, g.gradHPost, g.gradHRes);
    }),
    2 * xb + fb + (3 * xb + 2 * fb),
  );
  // Whole layer; bytes as the PyTorch anchor counts them (torch_mhc_bench.py min_bytes).
  const fwdBytes = 3 * xb + 2 * fb;
  const bwdBytes = 4 * xb + 3 * fb;
  emit('layer', 'fwd', await time(be, () => dispose(be, layerForward(be, L))), fwdBytes);
  emit('layer', 'fwd separate', await time(be, () => dispose(be, layerForward(be, L, false))), fwdBytes);
  const step = () => {
    const r = layerForwardBackward(be, L, 'history');
    dispose(be, r.gradX, r.gradPhi, r.gradB, ...r.gradAlphas);
  };
  const ms = await time(be, step);
  await be.sync();
  const live0 = be.memory().liveBytes;
  be.resetPeak();
  step();
  await be.sync();
  const m = be.memory();
  emit('layer', 'fwd+bwd', ms, fwdBytes + bwdBytes, {
    peakLiveBytes: m.peakBytes,
    peakExtraBytes: m.peakBytes - live0,
    inputBytes: live0,
    peakReservedBytes: m.peakReservedBytes,
  });
  emit(
    'layer',
    'fwd+bwd recompute',
    await time(be, () => {
      const r = layerForwardBackward(be, L, 'recompute');
      dispose(be, r.gradX, r.gradPhi, r.gradB, ...r.gradAlphas);
    }),
    fwdBytes + bwdBytes,
  );
  emit(
    'layer',
    'fwd+bwd separate',
    await time(be, () => {
      const r = layerForwardBackward(be, L, 'history', be.mhc.accumulatesGradX === true, false);
      dispose(be, r.gradX, r.gradPhi, r.gradB, ...r.gradAlphas);
    }),
    fwdBytes + bwdBytes,
  );
  // The x gradient summed by two `binary add` passes instead of inside the kernels (accumulatesGradX).
  emit(
    'layer',
    'fwd+bwd add',
    await time(be, () => {
      const r = layerForwardBackward(be, L, 'history', false);
      dispose(be, r.gradX, r.gradPhi, r.gradB, ...r.gradAlphas);
    }),
    fwdBytes + bwdBytes,
  );
  dispose(
    be,
    cf.hPre,
    cf.hPost,
    cf.hRes,
    ...cf.saved,
    gPre,
    gPost,
    gRes,
    xIn,
    fIn,
    L.x,
    L.phi,
    L.b,
    L.aPre,
    L.aPost,
    L.aRes,
    L.gOut,
  );
}

console.log(`\ncopy roofline ${copyGBs.toFixed(0)} GB/s (1 GiB device-to-device, read + write)`);
console.log(
  `${'op'.padEnd(9)} ${'mode'.padEnd(18)} ${'shape'.padEnd(14)} ${'ms'.padStart(8)} ${'GB/s'.padStart(7)} ${'roofline'.padStart(8)}`,
);
for (const r of rows.slice(1)) {
  const gbs = (r.bytes as number) / (r.ms as number) / 1e6;
  r.GBs = gbs;
  r.rooflineFraction = gbs / copyGBs;
  console.log(
    `${String(r.op).padEnd(9)} ${String(r.mode).padEnd(18)} ${`${r.N}x${r.hc}x${r.c}`.padEnd(14)} ${(r.ms as number).toFixed(3).padStart(8)} ${gbs.toFixed(0).padStart(7)} ${((100 * gbs) / copyGBs).toFixed(0).padStart(7)}%` +
      (r.peakLiveBytes
        ? `  peak ${((r.peakLiveBytes as number) / 2 ** 30).toFixed(2)} GiB (inputs ${((r.inputBytes as number) / 2 ** 30).toFixed(2)})`
        : ''),
  );
}
// The commit the bundle was built from (tooling/gpu/cuda-bundle.sh writes it beside the bundle).
let commit = 'unknown';
try {
  commit = readFileSync(new URL('./commit.txt', import.meta.url), 'utf8').trim();
} catch {
  // run outside a bundle
}
writeFileSync(
  join(outDir, 'cuda-bench.json'),
  JSON.stringify(
    { date: new Date().toISOString(), commit, device: be.capabilities.device, info: be.info, copyGBs, rows },
    null,
    1,
  ),
);
be.dispose();
