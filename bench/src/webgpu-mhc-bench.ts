// Benchmark and GPU checks of the WebGPU backend (issue 3 §3-§5), for one call on the GPU machine:
//   1. the core conformance kit on this device (case count);
//   2. determinism: an mHC layer forward+backward twice, bit-compared;
//   3. a soak: many forward+backward steps, live buffers/bytes unchanged;
//   4. bf16, hc=4, identity inner layer: coeffs, pre, post_res and the whole layer, forward and
//      forward+backward, GPU time from timestamp queries (median of trials), GB/s over minimal bytes,
//      and the fraction of a copy roofline measured in the same process.
// Bundled by tooling/gpu/webgpu-bundle.sh; run: node .gpu-build/webgpu/bench.mjs <outDir> [shapes] [soakSteps]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runConformance } from '../../packages/core/src/conformance/index.js';
import type { TensorInfo } from '../../packages/core/src/index.js';
import { f32ToBf16 } from '../../packages/core/src/index.js';
import type { KernelDef } from '../../packages/webgpu-wgsl/src/backend.js';
import { createWebGpuBackend, type WebGpuBackend } from '../../packages/webgpu-wgsl/src/index.js';
import { freeStep, type LayerInputs, layerStep } from '../../packages/webgpu-wgsl/test/mhc-layer.js';

const outDir = process.argv[2] ?? '.';
const shapes = (process.argv[3] ?? '8192x4x4096,32768x4x1024')
  .split(',')
  .map((s) => s.split('x').map(Number) as [number, number, number]);
const soakSteps = Number(process.argv[4] ?? 10000);
const TRIALS = 7;
const REPS = 10;

const log = (s: string) => console.log(s);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Random bf16 bits straight into storage (no number[] of 10^8 elements). */
function bf16Random(n: number, seed: number, scale: number): Uint16Array {
  const out = new Uint16Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = f32ToBf16(((s / 2 ** 32) * 2 - 1) * scale);
  }
  return out;
}

function put(
  be: WebGpuBackend,
  data: Uint16Array | Float32Array,
  shape: number[],
  dtype: 'bf16' | 'f32',
): TensorInfo {
  const h = be.alloc(dtype, data.length);
  be.write(h, data);
  return { handle: h, shape, dtype };
}

function inputs(be: WebGpuBackend, N: number, hc: number, c: number): LayerInputs {
  const K = hc * c;
  const M = hc * hc + 2 * hc;
  return {
    x: put(be, bf16Random(N * K, 1, 1), [N, hc, c], 'bf16'),
    phi: put(be, bf16Random(K * M, 2, 0.02), [K, M], 'bf16'),
    b: put(be, new Float32Array(M), [M], 'f32'),
    aPre: put(be, new Float32Array([1]), [], 'f32'),
    aPost: put(be, new Float32Array([1]), [], 'f32'),
    aRes: put(be, new Float32Array([1]), [], 'f32'),
    gOut: put(be, bf16Random(N * K, 4, 1), [N, hc, c], 'bf16'),
    N,
    hc,
    c,
  };
}

/** GPU ms per call of `fn` (timestamp queries over REPS calls), median over TRIALS. */
async function gpuMs(be: WebGpuBackend, fn: () => void): Promise<number> {
  // Warm-up of >= 200 ms: the card leaves its idle clocks (the first timed case used to read 3x slow).
  const w0 = performance.now();
  while (performance.now() - w0 < 200) {
    for (let i = 0; i < 5; i++) fn();
    await be.sync();
  }
  const ts: number[] = [];
  for (let t = 0; t < TRIALS; t++) {
    be.beginTimer();
    for (let r = 0; r < REPS; r++) fn();
    ts.push((await be.endTimer()) / REPS);
  }
  return median(ts);
}

/** A plain copy kernel: the bandwidth a WebGPU kernel can reach on this card. */
const COPY: KernelDef = {
  key: 'bench_copy',
  bufs: [
    { name: 'a', dtype: 'i32', access: 'read', wgsl: 'vec4<u32>' },
    { name: 'o', dtype: 'i32', access: 'rw', wgsl: 'vec4<u32>' },
  ],
  body: `
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = pu(0u);
  let stride = nwg.x * nwg.y * 256u;
  let t = (wid.x + wid.y * nwg.x) * 256u + lid;
  for (var k = 0u; k < 4u; k++) {
    let i = t + k * stride;
    if (i < n) { o[i] = a[i]; }
  }
}
`,
};

async function copyRoofline(be: WebGpuBackend): Promise<{ kernelGBs: number; bufferCopyGBs: number }> {
  // 512 MiB of i32 (less where the device's binding limit is lower).
  const n = Math.min(128 * 1024 * 1024, Math.floor(be.limits.maxBinding / 4));
  const src = be.output([n], 'i32');
  const dst = be.output([n], 'i32');
  // 16-byte elements, four per thread (grid-stride).
  const ms = await gpuMs(be, () =>
    be.dispatch(COPY, [src, dst], (p) => p.u32(0, n / 4), Math.ceil(n / 4 / 1024)),
  );
  const kernelGBs = (2 * n * 4) / ms / 1e6;
  // copyBufferToBuffer, wall clock over 20 copies after a warm-up (no timestamps outside passes).
  const sb = be.buf(src, 'src');
  const db = be.buf(dst, 'dst');
  be.copy(sb, 0, db, 0, n * 4);
  await be.sync();
  const t0 = performance.now();
  for (let i = 0; i < 20; i++) be.copy(sb, 0, db, 0, n * 4);
  await be.sync();
  const bufferCopyGBs = (20 * 2 * n * 4) / (performance.now() - t0) / 1e6;
  be.disposeData(src.handle);
  be.disposeData(dst.handle);
  return { kernelGBs, bufferCopyGBs };
}

interface Row {
  op: string;
  mode: string;
  N: number;
  hc: number;
  c: number;
  ms: number;
  min_bytes: number;
  GBs: number;
  roofline: number;
}

async function main(): Promise<void> {
  const be = await createWebGpuBackend();
  log(`device: ${be.capabilities.device}; features ${JSON.stringify(be.features)}`);
  const summary: Record<string, unknown> = { device: be.capabilities.device, date: new Date().toISOString() };

  // 1. Conformance on this device.
  const t0 = performance.now();
  const conf = await runConformance({ backend: be, fixturesDir: 'packages/core/fixtures/golden' });
  summary.conformance = {
    cases: conf.cases.length,
    passed: conf.passed,
    failed: conf.failed,
    failures: conf.failures.slice(0, 20),
    seconds: (performance.now() - t0) / 1000,
  };
  log(`conformance: ${conf.cases.length} cases, ${conf.passed} passed, ${conf.failed} failed`);
  for (const f of conf.failures.slice(0, 20))
    log(`  FAIL ${f.case}/${f.tensor} ratio ${f.ratio} ${f.error ?? ''}`);

  // 2. Determinism at a real size.
  {
    const L = inputs(be, 4096, 4, 1024);
    const runs: Buffer[][] = [];
    for (let r = 0; r < 2; r++) {
      const s = layerStep(be, L, 'history');
      const c = s.cb;
      const outs = [
        s.out,
        ...s.gradX,
        c.gradPhi!,
        c.gradB!,
        c.gradAlphaPre!,
        c.gradAlphaPost!,
        c.gradAlphaRes!,
      ];
      runs.push(
        await Promise.all(
          outs.map(async (t) => {
            const a = await be.read(t.handle);
            return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
          }),
        ),
      );
      freeStep(be, s);
    }
    const identical = runs[0]!.every((a, i) => a.equals(runs[1]![i]!));
    summary.determinism = { shape: '4096x4x1024', identical };
    log(`determinism (4096x4x1024 fwd+bwd twice): ${identical ? 'bit-identical' : 'DIFFERENT'}`);
    for (const t of [L.x, L.phi, L.b, L.aPre, L.aPost, L.aRes, L.gOut]) be.disposeData(t.handle);
  }

  // 3. Soak: live buffers/bytes unchanged over many steps.
  {
    const L = inputs(be, 256, 4, 256);
    freeStep(be, layerStep(be, L));
    await be.sync();
    const before = be.memory();
    const ts = performance.now();
    for (let i = 0; i < soakSteps; i++) {
      freeStep(be, layerStep(be, L, i % 2 === 0 ? 'history' : 'recompute'));
      if (i % 500 === 499) await be.sync();
    }
    await be.sync();
    const after = be.memory();
    const ok = after.liveBuffers === before.liveBuffers && after.liveBytes === before.liveBytes;
    summary.soak = {
      steps: soakSteps,
      before,
      after,
      unchanged: ok,
      seconds: (performance.now() - ts) / 1000,
    };
    log(
      `soak: ${soakSteps} fwd+bwd steps, live ${before.liveBuffers}/${before.liveBytes} -> ${after.liveBuffers}/${after.liveBytes} (${ok ? 'unchanged' : 'CHANGED'})`,
    );
    for (const t of [L.x, L.phi, L.b, L.aPre, L.aPost, L.aRes, L.gOut]) be.disposeData(t.handle);
  }

  // 4. Timings.
  const roof = await copyRoofline(be);
  summary.copy = roof;
  log(
    `copy roofline: kernel ${roof.kernelGBs.toFixed(0)} GB/s, copyBufferToBuffer ${roof.bufferCopyGBs.toFixed(0)} GB/s`,
  );
  const roofGBs = Math.max(roof.kernelGBs, roof.bufferCopyGBs);
  const rows: Row[] = [];
  for (const [N, hc, c] of shapes) {
    const L = inputs(be, N, hc, c);
    const K = hc * c;
    const X = N * K * 2;
    const F = N * c * 2;
    const xf = { ...L.x, shape: [N, K] };
    const config = { hc, tmax: 20, rmsEps: 1e-6, preEps: 0, sinkhornEps: 1e-6, postMult: 2 };
    const cargs = {
      x: xf,
      phi: L.phi,
      b: L.b,
      alphaPre: L.aPre,
      alphaPost: L.aPost,
      alphaRes: L.aRes,
      config,
    };
    const free = (...ts: (TensorInfo | null | undefined)[]) => {
      for (const t of ts) if (t) be.disposeData(t.handle);
    };
    // Fixed coefficient inputs for the pre/post_res timings.
    const co = be.mhc.coeffsForward({ ...cargs, save: 'none' });
    const xIn0 = be.mhc.preForward(L.x, co.hPre);
    const cot = (t: TensorInfo) =>
      put(be, new Float32Array(t.shape.reduce((a, v) => a * v, 1)).fill(0.01), [...t.shape], 'f32');
    const gPre = cot(co.hPre);
    const gPost = cot(co.hPost);
    const gRes = cot(co.hRes);
    const gIn = put(be, bf16Random(N * c, 5, 1), [N, c], 'bf16');
    const needs = { x: true, phi: true, b: true, alphas: true };
    const cases: [string, string, number, () => void][] = [
      [
        'coeffs',
        'fwd',
        X,
        () => {
          const r = be.mhc.coeffsForward({ ...cargs, save: 'none' });
          free(r.hPre, r.hPost, r.hRes);
        },
      ],
      [
        'coeffs',
        'fwd+bwd',
        3 * X,
        () => {
          const r = be.mhc.coeffsForward({ ...cargs, save: 'history' });
          const g = be.mhc.coeffsBackward({
            ...cargs,
            gradHPre: gPre,
            gradHPost: gPost,
            gradHRes: gRes,
            hPre: r.hPre,
            hPost: r.hPost,
            hRes: r.hRes,
            saved: r.saved,
            save: 'history',
            needs,
          });
          free(
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
        },
      ],
      ['pre', 'fwd', X + F, () => free(be.mhc.preForward(L.x, co.hPre))],
      [
        'pre',
        'fwd+bwd',
        3 * X + 2 * F,
        () => {
          const y = be.mhc.preForward(L.x, co.hPre);
          const g = be.mhc.preBackward(gIn, L.x, co.hPre);
          free(y, g.gradX, g.gradHPre);
        },
      ],
      [
        'post_res',
        'fwd',
        2 * X + F,
        () => free(be.mhc.postResForward(L.x, xIn0, co.hPost, co.hRes, 'liger')),
      ],
      [
        'post_res',
        'fwd+bwd',
        5 * X + 3 * F,
        () => {
          const y = be.mhc.postResForward(L.x, xIn0, co.hPost, co.hRes, 'liger');
          const g = be.mhc.postResBackward(L.gOut, L.x, xIn0, co.hPost, co.hRes, 'liger');
          free(y, g.gradX, g.gradF, g.gradHPost, g.gradHRes);
        },
      ],
      // Layer bytes as in the PyTorch anchor script (3X+2F forward, +4X+3F backward).
      [
        'layer',
        'fwd',
        3 * X + 2 * F,
        () => {
          const r = be.mhc.coeffsForward({ ...cargs, save: 'none' });
          const xIn = be.mhc.preForward(L.x, r.hPre);
          const out = be.mhc.postResForward(L.x, xIn, r.hPost, r.hRes, 'liger');
          free(r.hPre, r.hPost, r.hRes, xIn, out);
        },
      ],
      ['layer', 'fwd+bwd', 7 * X + 5 * F, () => freeStep(be, layerStep(be, L, 'history'))],
      ['layer', 'fwd+bwd(recompute)', 7 * X + 5 * F, () => freeStep(be, layerStep(be, L, 'recompute'))],
    ];
    for (const [op, mode, bytes, fn] of cases) {
      const ms = await gpuMs(be, fn);
      const GBs = bytes / ms / 1e6;
      const row = { op, mode, N, hc, c, ms, min_bytes: bytes, GBs, roofline: GBs / roofGBs };
      rows.push(row);
      log(JSON.stringify(row));
    }
    free(
      co.hPre,
      co.hPost,
      co.hRes,
      xIn0,
      gPre,
      gPost,
      gRes,
      gIn,
      L.x,
      L.phi,
      L.b,
      L.aPre,
      L.aPost,
      L.aRes,
      L.gOut,
    );
    be.trimPool();
  }
  summary.rows = rows;
  writeFileSync(join(outDir, 'webgpu-bench.json'), `${JSON.stringify(summary, null, 1)}\n`);
  log(
    `\n${'op'.padEnd(9)} ${'mode'.padEnd(19)} ${'shape'.padEnd(13)} ${'ms'.padStart(8)} ${'GB/s'.padStart(7)} roof`,
  );
  for (const r of rows)
    log(
      `${r.op.padEnd(9)} ${r.mode.padEnd(19)} ${`${r.N}x${r.hc}x${r.c}`.padEnd(13)} ${r.ms.toFixed(3).padStart(8)} ${r.GBs.toFixed(0).padStart(7)} ${(100 * r.roofline).toFixed(0)}%`,
    );
  be.dispose();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
