// Benchmark and GPU checks of the WebGPU backend (issue 3 §3-§5), for one call on the GPU machine:
//   1. the core conformance kit on this device (case count);
//   2. determinism: an mHC layer forward+backward twice, bit-compared;
//   3. a soak: many forward+backward steps, live buffers/bytes unchanged;
//   4. the coeffs forward's fast paths (split; subgroup-matrix where the device has it) against the
//      f32 kernel and a float64 CPU reference, on bf16/f16 data with values below 2^-14 and above
//      65504; the conformance kit once per fast path;
//   5. bf16, hc=4, identity inner layer: coeffs, pre, post_res and the whole layer, forward and
//      forward+backward, GPU time from timestamp queries (median of trials), GB/s over minimal bytes,
//      and the fraction of a copy roofline measured in the same process; the coeffs and layer rows
//      again on each coeffs path (path column), variants of the split kernel, and the split path's
//      kernels alone (split_pack, split_main, split_reduce).
// Bundled by tooling/gpu/webgpu-bundle.sh; run: node .gpu-build/webgpu/bench.mjs <outDir> [shapes] [soakSteps]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runConformance } from '../../packages/core/src/conformance/index.js';
import type { TensorInfo } from '../../packages/core/src/index.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../packages/core/src/index.js';
import type { KernelDef } from '../../packages/webgpu-wgsl/src/backend.js';
import { createWebGpuBackend, type WebGpuBackend } from '../../packages/webgpu-wgsl/src/index.node.js';
import {
  type CoeffsPath,
  type MatrixLayout,
  type MmaOptions,
  mmaAux,
  mmaKP,
  mmaPhiScaleKernel,
  mmaPhiSplitKernel,
  mmaShape,
} from '../../packages/webgpu-wgsl/src/kernels/mhc/coeffs-mma.wgsl.js';
import {
  coeffsForwardSplitKernel,
  coeffsPhiPackKernel,
  coeffsSplit,
  coeffsSplitReduceKernel,
  SPLIT_REDUCE_WG,
  type SplitOptions,
  splitMainParams,
} from '../../packages/webgpu-wgsl/src/kernels/mhc/coeffs-split.wgsl.js';
import { freeStep, type LayerInputs, layerStep } from '../../packages/webgpu-wgsl/test/mhc-layer.js';

const outDir = process.argv[2] ?? '.';
const shapes = (process.argv[3] ?? '8192x4x4096,32768x4x1024')
  .split(',')
  .map((s) => s.split('x').map(Number) as [number, number, number]);
const soakSteps = Number(process.argv[4] ?? 10000);
// BENCH_TRIALS: trials per row (the median is reported).
const TRIALS = Number(process.env.BENCH_TRIALS ?? 7);
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
  dtype: 'bf16' | 'f16' | 'f32',
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

/**
 * Keeps the card's clocks up around timed work. The card lowers its SM clock whenever it idles (it
 * sat at 345 MHz during the CPU-side input generation and took seconds to climb back to 1980 MHz
 * under the benchmark's bursts: nvidia-smi log of an H200 call, 2026-11-27), which made the first
 * compute-bound rows after a pause read up to 1.5x slow. A spin kernel of about `ms` milliseconds
 * runs before every trial and through the warm-ups, so timed work starts on a busy card.
 */
const HEATER: KernelDef = {
  key: 'bench_heater',
  bufs: [{ name: 'o', dtype: 'f32', access: 'rw' }],
  body: `
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  var a = f32(lid + wid.x);
  for (var i = 0u; i < pu(0u); i++) { a = fma(a, 0.9999, 1.0); }
  if (a == -1.0) { o[0] = a; }
}
`,
};
let heaterOut: TensorInfo | null = null;
let heaterItersPerMs = 0;
function heat(be: WebGpuBackend, ms: number): void {
  heaterOut ??= be.zeros([1], 'f32');
  const iters = Math.max(1, Math.round(ms * (heaterItersPerMs || 1000)));
  be.dispatch(HEATER, [heaterOut], (p) => p.u32(0, iters), 1056);
}
/** Measures the heater's iterations per millisecond (on a warm card). */
async function calibrateHeater(be: WebGpuBackend): Promise<void> {
  heaterItersPerMs = 1000;
  const t0 = performance.now();
  while (performance.now() - t0 < 1500) {
    heat(be, 20);
    await be.sync();
  }
  be.beginTimer();
  heat(be, 20);
  const ms = await be.endTimer();
  heaterItersPerMs = (20 * 1000) / ms;
  log(`heater: ${Math.round(heaterItersPerMs)} iterations per ms`);
}

/** GPU ms per call of `fn` (timestamp queries over REPS calls), median over TRIALS. */
async function gpuMs(be: WebGpuBackend, fn: () => void, warmMs = 200): Promise<number> {
  // Warm-up of >= 200 ms with the heater between bursts (see HEATER): the card leaves its idle
  // clocks (the first timed case used to read 3x slow).
  const w0 = performance.now();
  while (performance.now() - w0 < warmMs) {
    heat(be, 2);
    for (let i = 0; i < 5; i++) fn();
    await be.sync();
  }
  const ts: number[] = [];
  for (let t = 0; t < TRIALS; t++) {
    heat(be, 2);
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
  // 3 s of warm-up: after the CPU-side setup the card idles down, and 200 ms left this roofline
  // reading as low as 1680 GB/s (~4100 warm) on an H200.
  const ms = await gpuMs(
    be,
    () => be.dispatch(COPY, [src, dst], (p) => p.u32(0, n / 4), Math.ceil(n / 4 / 1024)),
    3000,
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

const MMA_DIRECTIVES =
  'enable f16;\nenable chromium_experimental_subgroup_matrix;\ndiagnostic(off, chromium.subgroup_matrix_uniformity);\n';

/** One 16x16x16 product the way the coeffs kernel does it: A staged to workgroup memory (stride
 * 264, offset 16), B from storage (stride 32, offset 16), C through workgroup memory. */
function probeKernel(la: MatrixLayout, lb: MatrixLayout, lc: MatrixLayout, bFromWg = false): KernelDef {
  return {
    key: `probe_mma:${la}:${lb}:${lc}:${bFromWg}`,
    directives: MMA_DIRECTIVES,
    bufs: [
      { name: 'A', dtype: 'f16', access: 'read', wgsl: 'f16' },
      { name: 'B', dtype: 'f16', access: 'read', wgsl: 'f16' },
      { name: 'C', dtype: 'f32', access: 'rw' },
    ],
    body: `
var<workgroup> wa: array<f16, ${16 * 264 + 32}>;
var<workgroup> wc: array<f32, 256>;
var<workgroup> wb: array<f16, ${16 * 32 + 16}>;
@compute @workgroup_size(32)
fn main(@builtin(local_invocation_index) lid: u32) {
  for (var i = lid; i < 256u; i += 32u) { wa[(i / 16u) * 264u + 16u + (i % 16u)] = A[i]; }
  for (var i = lid; i < ${16 * 32 + 16}u; i += 32u) { wb[i] = B[i]; }
  workgroupBarrier();
  let a = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, ${la}>(&wa, 16u, 264u);
  let b = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, ${lb}>(&${bFromWg ? 'wb' : 'B'}, 16u, 32u);
  var c = subgroup_matrix_result<f32, 16, 16>();
  c = subgroupMatrixMultiplyAccumulate(a, b, c);
  subgroupMatrixStore<${lc}>(&wc, 0u, c, 16u);
  workgroupBarrier();
  for (var i = lid; i < 256u; i += 32u) { C[i] = wc[i]; }
}
`,
  };
}

/** Which layouts make the probe compute A·B; what each combination computes. */
async function probeLayouts(be: WebGpuBackend) {
  const Am = (i: number, k: number) => ((i * 3 + k * 5) % 7) - 3;
  const Bm = (k: number, n: number) => ((k * 2 + n * 3 + ((k * n) % 3)) % 5) - 2;
  const a = new Uint16Array(256);
  const bb = new Uint16Array(16 * 32 + 16);
  for (let i = 0; i < 16; i++) for (let k = 0; k < 16; k++) a[i * 16 + k] = f32ToF16(Am(i, k));
  for (let k = 0; k < 16; k++) for (let n = 0; n < 16; n++) bb[k * 32 + 16 + n] = f32ToF16(Bm(k, n));
  const A = put(be, a, [256], 'f16');
  const B = put(be, bb, [bb.length], 'f16');
  // Candidate meanings: C[i][n] = Σ_k A'(i,k)·B'(k,n), with A', B' optionally transposed, C optionally transposed.
  const cand: Record<string, number[]> = {};
  for (const ta of [false, true])
    for (const tb of [false, true])
      for (const tc of [false, true]) {
        const m: number[] = [];
        for (let i = 0; i < 16; i++)
          for (let n = 0; n < 16; n++) {
            const [ii, nn] = tc ? [n, i] : [i, n];
            let sum = 0;
            for (let k = 0; k < 16; k++) sum += (ta ? Am(k, ii) : Am(ii, k)) * (tb ? Bm(nn, k) : Bm(k, nn));
            m.push(sum);
          }
        cand[`${ta ? 'At' : 'A'}${tb ? 'Bt' : 'B'}${tc ? 'T' : ''}`] = m;
      }
  const out: Record<string, string> = {};
  let good: { a: MatrixLayout; b: MatrixLayout; c: MatrixLayout } | null = null;
  const L: MatrixLayout[] = ['row_major', 'col_major'];
  for (const la of L)
    for (const lb of L)
      for (const lc of L) {
        const C = be.output([256], 'f32');
        be.dispatch(probeKernel(la, lb, lc), [A, B, C], () => {}, 1);
        let got: Float32Array;
        try {
          got = (await be.read(C.handle)) as Float32Array;
        } catch (err) {
          out[`${la}/${lb}/${lc}`] = `error: ${(err as Error).message.slice(0, 200)}`;
          continue;
        } finally {
          be.disposeData(C.handle);
        }
        const match = Object.entries(cand).find(([, m]) => m.every((v, i) => v === got[i]));
        out[`${la}/${lb}/${lc}`] = match ? match[0] : `other: ${Array.from(got.slice(0, 8)).join(',')}`;
        if (match?.[0] === 'AB' && !good) good = { a: la, b: lb, c: lc };
      }
  {
    const C = be.output([256], 'f32');
    be.dispatch(probeKernel('row_major', 'row_major', 'row_major', true), [A, B, C], () => {}, 1);
    const got = (await be.read(C.handle)) as Float32Array;
    be.disposeData(C.handle);
    const match = Object.entries(cand).find(([, m]) => m.every((v, i) => v === got[i]));
    out['row/row/row, B from workgroup'] = match
      ? match[0]
      : `other: ${Array.from(got.slice(0, 8)).join(',')}`;
  }
  be.disposeData(A.handle);
  be.disposeData(B.handle);
  return { combos: out, good };
}

/** 32 tokens, hc = 1, K = 16, x[t][k] = t+1 at k = t%16 (0 elsewhere), φ[k][j] = (k+1)(j+1): mix_j/invr
 * should be (t+1)(t%16+1)(j+1). Returns mix_0/invr per token on the current coeffs path. */
async function probeTiny(be: WebGpuBackend): Promise<number[]> {
  const N = 32;
  const K = 16;
  const M = 3;
  const xb = new Uint16Array(N * K);
  for (let t = 0; t < N; t++) xb[t * K + (t % 16)] = f32ToBf16(t + 1);
  const pb = new Uint16Array(K * M);
  for (let k = 0; k < K; k++) for (let j = 0; j < M; j++) pb[k * M + j] = f32ToBf16((k + 1) * (j + 1));
  const x = put(be, xb, [N, K], 'bf16');
  const phi = put(be, pb, [K, M], 'bf16');
  const z = put(be, new Float32Array(M), [M], 'f32');
  const one = () => put(be, new Float32Array([1]), [], 'f32');
  const [a1, a2, a3] = [one(), one(), one()];
  const config = { hc: 1, tmax: 2, rmsEps: 1e-6, preEps: 0, sinkhornEps: 1e-6, postMult: 2 };
  const r = be.mhc.coeffsForward({
    x,
    phi,
    b: z,
    alphaPre: a1,
    alphaPost: a2,
    alphaRes: a3,
    config,
    save: 'history',
  });
  const s1 = (await be.read(r.saved[0]!.handle)) as Float32Array;
  for (const t of [x, phi, z, a1, a2, a3, r.hPre, r.hPost, r.hRes, ...r.saved]) be.disposeData(t.handle);
  return Array.from(
    { length: N },
    (_, t) => Math.round((s1[t * (M + 1)]! / s1[t * (M + 1) + M]!) * 100) / 100,
  );
}

/**
 * The coeffs forward on the matrix path vs the f32 path vs float64, on data built to reach every
 * branch of the matrix kernel: per token a magnitude profile (uniform, f16-subnormal range 2^-24..
 * 2^-14, tiny 2^-40..2^-17, mixed 2^-40..2^3, half zeros), one token holding 1e5 (its 32-token tile
 * takes the f32 fallback; bf16 only), and φ columns of different scales, one spanning 2^-50..1 (its
 * φ·lo products) and one all zero. Error of mix = (x·φ)·invr per (token, column), relative to
 * Σ|x·φ|·invr: f32 summation gives ~1e-7..1e-6 there; pass below 1e-5.
 */
async function pathCheck(
  be: WebGpuBackend,
  N: number,
  hc: number,
  c: number,
  dt: 'bf16' | 'f16',
  variant: MmaOptions,
  fastPath: Exclude<CoeffsPath, 'scalar'> = 'subgroup-matrix',
) {
  const keep = be.mhc.mma;
  const K = hc * c;
  const M = hc * hc + 2 * hc;
  let s = 12345 + N + K;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const enc = dt === 'bf16' ? f32ToBf16 : f32ToF16;
  const dec = dt === 'bf16' ? bf16ToF32 : f16ToF32;
  const sgn = () => (rnd() < 0.5 ? -1 : 1);
  const mag = (lo: number, hi: number) => sgn() * 2 ** (lo + Math.floor(rnd() * (hi - lo))) * (1 + rnd());
  const xb = new Uint16Array(N * K);
  for (let n = 0; n < N; n++) {
    const prof = n % 5;
    for (let k = 0; k < K; k++) {
      let v: number;
      if (prof === 0) v = rnd() * 2 - 1;
      else if (prof === 1) v = mag(-24, -14);
      else if (prof === 2) v = mag(dt === 'f16' ? -24 : -40, -17);
      else if (prof === 3) v = mag(dt === 'f16' ? -24 : -40, 3);
      else v = rnd() < 0.5 ? 0 : rnd() * 2 - 1;
      xb[n * K + k] = enc(v);
    }
  }
  if (dt === 'bf16' && N > 37) xb[37 * K + 5] = enc(1e5);
  const pb = new Uint16Array(K * M);
  for (let k = 0; k < K; k++)
    for (let j = 0; j < M; j++) {
      let v = (rnd() * 2 - 1) * 2 ** -(j % 7);
      if (j === 3) v = mag(dt === 'f16' ? -14 : -50, 0);
      if (j === 5) v = 0;
      if (j === 9) v = (rnd() * 2 - 1) * 2 ** -12;
      pb[k * M + j] = enc(v);
    }
  const x = put(be, xb, [N, K], dt);
  const phi = put(be, pb, [K, M], dt);
  const b = put(
    be,
    new Float32Array(M).map((_, i) => 0.1 * Math.sin(i)),
    [M],
    'f32',
  );
  const one = () => put(be, new Float32Array([1]), [], 'f32');
  const aPre = one();
  const aPost = one();
  const aRes = one();
  const config = { hc, tmax: 20, rmsEps: 1e-6, preEps: 0, sinkhornEps: 1e-6, postMult: 2 };
  const run = async (path: CoeffsPath) => {
    be.setCoeffsPath(path);
    be.mhc.mma = { ...keep, ...variant };
    const r = be.mhc.coeffsForward({
      x,
      phi,
      b,
      alphaPre: aPre,
      alphaPost: aPost,
      alphaRes: aRes,
      config,
      save: 'history',
    });
    const out = await Promise.all(
      [r.hPre, r.hPost, r.hRes, ...r.saved].map(async (t) => (await be.read(t.handle)) as Float32Array),
    );
    for (const t of [r.hPre, r.hPost, r.hRes, ...r.saved]) be.disposeData(t.handle);
    return out;
  };
  const fast = await run(fastPath);
  const slow = await run('scalar');
  be.mhc.mma = keep;
  for (const t of [x, phi, b, aPre, aPost, aRes]) be.disposeData(t.handle);
  // float64 reference of mix and invr (saved[0] = [N, M+1]).
  const xv = Float64Array.from(xb, dec);
  const pv = Float64Array.from(pb, dec);
  let errFast = 0;
  let errSlow = 0;
  let invrFast = 0;
  let nonFinite = 0;
  const S = new Float64Array(M);
  const A = new Float64Array(M);
  for (let n = 0; n < N; n++) {
    S.fill(0);
    A.fill(0);
    let ss = 0;
    for (let k = 0; k < K; k++) {
      const v = xv[n * K + k]!;
      if (v === 0) continue;
      ss += v * v;
      const row = k * M;
      for (let j = 0; j < M; j++) {
        const p = v * pv[row + j]!;
        S[j] += p;
        A[j] += Math.abs(p);
      }
    }
    const invr = 1 / Math.sqrt(ss / K + config.rmsEps);
    for (let j = 0; j < M; j++) {
      const ref = S[j]! * invr;
      const scale = A[j]! * invr + 1e-30;
      const f = fast[3]![n * (M + 1) + j]!;
      const g = slow[3]![n * (M + 1) + j]!;
      if (!Number.isFinite(f)) nonFinite++;
      errFast = Math.max(errFast, Math.abs(f - ref) / scale);
      errSlow = Math.max(errSlow, Math.abs(g - ref) / scale);
    }
    invrFast = Math.max(invrFast, Math.abs(fast[3]![n * (M + 1) + M]! - invr) / invr);
  }
  const maxDiff = (i: number) => {
    let d = 0;
    for (let e = 0; e < fast[i]!.length; e++) d = Math.max(d, Math.abs(fast[i]![e]! - slow[i]![e]!));
    return d;
  };
  const pass = errFast < 1e-5 && invrFast < 1e-5 && nonFinite === 0;
  if (!pass)
    for (const n of [0, 1, 16, 33])
      if (n < N)
        log(
          `  token ${n}: fast ${Array.from(fast[3]!.slice(n * (M + 1), n * (M + 1) + 6)).map((v) => v.toPrecision(5))} scalar ${Array.from(slow[3]!.slice(n * (M + 1), n * (M + 1) + 6)).map((v) => v.toPrecision(5))}`,
        );
  return {
    shape: `${N}x${hc}x${c}`,
    dtype: dt,
    path: fastPath,
    variant,
    mixErrFast: errFast,
    mixErrScalar: errSlow,
    invrErrFast: invrFast,
    hPreDiff: maxDiff(0),
    hPostDiff: maxDiff(1),
    hResDiff: maxDiff(2),
    historyDiff: maxDiff(4),
    pass,
  };
}

interface Row {
  op: string;
  mode: string;
  path: string;
  N: number;
  hc: number;
  c: number;
  ms: number;
  min_bytes: number;
  GBs: number;
  roofline: number;
}

/**
 * A split-kernel variant from its name: '+'-joined flags, each setting one option of SplitOptions
 * over the production choices (splitOptions); '' is the production kernel. Flags:
 *  - layout: t4|tok<n> (tokens a thread), g1 (column groups), wg256|wg64 (threads),
 *    kg4|kg8|kg16|kg32 (threads per token along K), t<N> (target groups, e.g. t512), tiledesc
 *    (tiles from the last token);
 *  - loads: pf0|pf1|pf2 (touch loads), ss1|ss2 (Σx² split);
 *  - reduction: wgred|sgred (workgroup memory or subgroups);
 *  - fused pre: pp<n> (pieces a thread), preasc|predesc (token order);
 *  - ablations: loads-only|no-phi|phi-only|no-red.
 * The variant loop also takes postdesc (post_res from the last token) out of the list before this
 * parses it.
 */
function splitVariant(v: string): SplitOptions {
  const o: SplitOptions = {};
  for (const f of v.split('+').filter(Boolean)) {
    if (f === 't4') o.tokens = 4;
    else if (f === 'g1') o.groups = 1;
    else if (f === 'wg256' || f === 'wg64') o.wg = Number(f.slice(2)) as 64 | 256;
    else if (/^kg(4|8|16|32)$/.test(f)) o.kg = Number(f.slice(2)) as SplitOptions['kg'];
    else if (/^t\d+$/.test(f)) o.targetGroups = Number(f.slice(1));
    else if (f === 'loads-only' || f === 'no-phi' || f === 'phi-only' || f === 'no-red') o.ablate = f;
    else if (f === 'pf0' || f === 'pf1' || f === 'pf2') o.prefetch = Number(f.slice(2)) as 0 | 1 | 2;
    else if (f === 'ss2' || f === 'ss1') o.ssSplit = f === 'ss2';
    else if (f === 'wgred' || f === 'sgred') o.reduce = f === 'sgred' ? 'subgroup' : 'workgroup';
    else if (f === 'preasc' || f === 'predesc') o.preOrder = f === 'preasc' ? 'asc' : 'desc';
    else if (f === 'tiledesc') o.tileOrder = 'desc';
    else if (/^pp\d$/.test(f)) o.prePieces = Number(f.slice(2)) as SplitOptions['prePieces'];
    else if (/^tok\d$/.test(f)) o.tokens = Number(f.slice(3)) as SplitOptions['tokens'];
    else throw new Error(`unknown split variant flag '${f}' in '${v}'`);
  }
  return o;
}

/** Sections 0-3 of the run: path checks, conformance, determinism, soak (results into `summary`). */
async function checks(
  be: WebGpuBackend,
  summary: Record<string, unknown>,
  fastPath: CoeffsPath,
  fastPaths: Exclude<CoeffsPath, 'scalar'>[],
  soakSteps: number,
): Promise<void> {
  const mmaOk = be.mmaSupport !== null;
  const base: MmaOptions = { minTokens: 0 };
  // 0. The fast paths against the f32 path and float64 (first: a failure here is logged and the
  //    path's rows below say so).
  // minTokens 0: the probes, path checks, conformance and "subgroup-matrix" rows run the matrix path
  // at every N (production takes it from MMA_MIN_TOKENS tokens; the "scalar" rows are the f32 path).
  be.mhc.mma = { ...base };
  if (mmaOk) {
    try {
      be.setCoeffsPath('subgroup-matrix');
      const p = await probeLayouts(be);
      log(`probe layouts: ${JSON.stringify(p.combos)}`);
      summary.probeLayouts = p;
      // The coeffs kernel names every matrix row_major: that combination must compute A·B.
      if (p.good?.a !== 'row_major' || p.good.b !== 'row_major' || p.good.c !== 'row_major')
        log('probe: row_major/row_major/row_major does NOT compute A·B on this device');
      const tiny = await probeTiny(be);
      const want = Array.from({ length: 32 }, (_, t) => (t + 1) * ((t % 16) + 1));
      log(`probe tiny (mix0/invr per token): ${JSON.stringify(tiny)}`);
      log(`probe tiny expected:              ${JSON.stringify(want)}`);
      be.setCoeffsPath('scalar');
      log(`probe tiny on the f32 path:       ${JSON.stringify(await probeTiny(be))}`);
    } catch (err) {
      log(`probe FAILED: ${(err as Error).message}`);
    }
    be.setCoeffsPath(fastPath);
  }
  {
    const checks = [];
    const cases: [number, number, number, 'bf16' | 'f16', MmaOptions, SplitOptions][] = [
      [1024, 4, 1024, 'bf16', {}, {}],
      [1024, 4, 1024, 'bf16', { normalOnly: true }, { tokens: 4, groups: 1, wg: 256 }],
      [1024, 4, 1024, 'bf16', { tokens: 16 }, { tokens: 4 }],
      [1024, 4, 1024, 'bf16', { prefetch: 2 }, { targetGroups: 1024, kg: 16 }],
      [1024, 4, 1024, 'bf16', {}, { prefetch: 1, ssSplit: true }],
      [100, 4, 200, 'bf16', {}, { tokens: 4, ssSplit: true, prefetch: 2 }],
      [256, 4, 1024, 'f16', {}, { kg: 16, ssSplit: true }],
      [1024, 4, 1024, 'bf16', {}, { ssSplit: true, prefetch: 1, kg: 16 }],
      [100, 4, 200, 'bf16', {}, { tokens: 6 }],
      [100, 4, 200, 'bf16', {}, {}],
      [96, 2, 64, 'bf16', {}, {}],
      [256, 4, 1024, 'f16', {}, {}],
    ];
    for (const path of fastPaths)
      for (const [N, hc, c, dt, mv, sv] of cases) {
        try {
          be.mhc.split = sv;
          const r = await pathCheck(be, N, hc, c, dt, mv, path);
          checks.push({ ...r, splitVariant: sv });
          log(`path check ${JSON.stringify({ ...r, splitVariant: sv })}`);
        } catch (err) {
          log(`path check ${path} FAILED to run: ${(err as Error).message}`);
          checks.push({ path, error: (err as Error).message });
        }
      }
    summary.pathChecks = checks;
    // The fused pre (withPre, split path): xIn must equal preForward of the returned hPre bit for bit.
    const fused = [];
    be.setCoeffsPath('split');
    for (const [N, hc, c] of [
      [1024, 4, 1024],
      [300, 4, 200],
      [8192, 4, 4096],
    ] as const) {
      const L = inputs(be, N, hc, c);
      const r = be.mhc.coeffsForward({
        x: { ...L.x, shape: [N, hc * c] },
        phi: L.phi,
        b: L.b,
        alphaPre: L.aPre,
        alphaPost: L.aPost,
        alphaRes: L.aRes,
        config: { hc, tmax: 20, rmsEps: 1e-6, preEps: 1e-4, sinkhornEps: 1e-6, postMult: 2 },
        save: 'none',
        withPre: true,
      });
      const ref = be.mhc.preForward(L.x, r.hPre);
      const got = r.xIn ? new Uint16Array((await be.read(r.xIn.handle)).buffer) : null;
      const want = new Uint16Array((await be.read(ref.handle)).buffer);
      let diff = got ? 0 : -1;
      if (got) for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) diff++;
      const rec = { N, hc, c, fused: !!got, differingElements: diff, elements: want.length };
      log(`fused pre check ${JSON.stringify(rec)}`);
      fused.push(rec);
      for (const t of [r.hPre, r.hPost, r.hRes, ref, r.xIn, L.x, L.phi, L.b, L.aPre, L.aPost, L.aRes, L.gOut])
        if (t) be.disposeData(t.handle);
    }
    summary.fusedPreChecks = fused;
    be.setCoeffsPath(fastPath);
    be.setCoeffsPath(fastPath);
    be.mhc.mma = { ...base };
    be.mhc.split = {};
  }

  // BENCH_CHECKS=paths (iteration runs): the path checks above only.
  if (process.env.BENCH_CHECKS === 'paths') return;

  // 1. Conformance on this device, on each fast path (the f32 path runs the calls they cannot take).
  const confs: Record<string, unknown> = {};
  for (const path of fastPaths) {
    be.setCoeffsPath(path);
    const t0 = performance.now();
    const conf = await runConformance({ backend: be, fixturesDir: 'packages/core/fixtures/golden' });
    confs[path] = {
      cases: conf.cases.length,
      passed: conf.passed,
      failed: conf.failed,
      failures: conf.failures.slice(0, 20),
      seconds: (performance.now() - t0) / 1000,
    };
    log(
      `conformance (coeffs forward path: ${path}): ${conf.cases.length} cases, ${conf.passed} passed, ${conf.failed} failed`,
    );
    for (const f of conf.failures.slice(0, 20))
      log(`  FAIL ${f.case}/${f.tensor} ratio ${f.ratio} ${f.error ?? ''}`);
  }
  summary.conformance = confs;
  be.setCoeffsPath(fastPath);

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
}

async function main(): Promise<void> {
  // BENCH_DAWN_FLAGS (space-separated Dawn flags, e.g. enable-dawn-features=disable_robustness):
  // measurements of what the toggles cost; production runs none.
  const be = await createWebGpuBackend({
    dawnFlags: process.env.BENCH_DAWN_FLAGS?.split(' ').filter(Boolean),
  });
  log(`device: ${be.capabilities.device}; features ${JSON.stringify(be.features)}`);
  // The production path (the backend's default) and the other fast path where the device has it.
  const fastPath = be.capabilities.coeffsForward;
  const mmaOk = be.mmaSupport !== null;
  const fastPaths: Exclude<CoeffsPath, 'scalar'>[] = mmaOk ? ['split', 'subgroup-matrix'] : ['split'];
  log(`coeffs forward path: ${fastPath} (fast paths checked: ${fastPaths.join(', ')})`);
  const summary: Record<string, unknown> = {
    device: be.capabilities.device,
    date: new Date().toISOString(),
    features: be.features,
    coeffsForward: fastPath,
  };

  // minTokens 0: the matrix path at every N where it is chosen (production: from MMA_MIN_TOKENS).
  const base: MmaOptions = { minTokens: 0 };
  // BENCH_SKIP_CHECKS=1 (iteration runs): timings only; the final figures keep the checks.
  if (!process.env.BENCH_SKIP_CHECKS) await checks(be, summary, fastPath, fastPaths, soakSteps);

  // 5. Timings.
  await calibrateHeater(be);
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
    const scratch: TensorInfo[] = [];
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
          // As core's layer forward: pre fused into the coeffs forward where the backend can.
          const r = be.mhc.coeffsForward({ ...cargs, save: 'none', withPre: true });
          const xIn = r.xIn ?? be.mhc.preForward(L.x, r.hPre);
          const out = be.mhc.postResForward(L.x, xIn, r.hPost, r.hRes, 'liger');
          free(r.hPre, r.hPost, r.hRes, xIn, out);
        },
      ],
      [
        'layer',
        'fwd(pre unfused)',
        3 * X + 2 * F,
        () => {
          // The same forward with pre as its own kernel (what the fused pre saves).
          const r = be.mhc.coeffsForward({ ...cargs, save: 'none' });
          const xIn = be.mhc.preForward(L.x, r.hPre);
          const out = be.mhc.postResForward(L.x, xIn, r.hPost, r.hRes, 'liger');
          free(r.hPre, r.hPost, r.hRes, xIn, out);
        },
      ],
      ['layer', 'fwd+bwd', 7 * X + 5 * F, () => freeStep(be, layerStep(be, L, 'history'))],
      ['layer', 'fwd+bwd(recompute)', 7 * X + 5 * F, () => freeStep(be, layerStep(be, L, 'recompute'))],
    ];
    if (mmaOk) {
      // The matrix path's φ preparation alone (part of every coeffs forward on that path).
      const { MP } = mmaShape(hc);
      const aux = be.output([mmaAux(hc, K).len], 'f32');
      const phl = be.output([2 * mmaKP(K) * MP], 'f16');
      cases.push([
        'phi_prep',
        'fwd',
        K * (hc * hc + 2 * hc) * 2,
        () => {
          be.dispatch(mmaPhiScaleKernel(hc, 'bf16', K), [L.phi, aux], (p) => p.u32(1, K), MP);
          be.dispatch(
            mmaPhiSplitKernel(hc, 'bf16', K),
            [L.phi, aux, phl],
            (p) => p.u32(1, K),
            mmaKP(K) / 256,
          );
        },
      ]);
      scratch.push(aux, phl);
    }
    {
      // The split path's two small kernels alone (φ repack; the per-token sum of the K-chunk partials
      // and the epilogue), at the production layout: the rest of its coeffs forward is the main kernel.
      const M = hc * hc + 2 * hc;
      const prod = be.mhc.splitOptions(N, K);
      const g = coeffsSplit(N, K, hc, prod);
      const pp = be.output([g.packedLen * 4], 'f32');
      // (room for the partials of variants with up to 64 chunks: split_main runs the current variant)
      const part = be.zeros([Math.max(64, g.chunks) * (M + 1) * N], 'f32');
      const outs = [be.output([N, hc], 'f32'), be.output([N, hc], 'f32'), be.output([N, hc, hc], 'f32')];
      const dummy = [be.output([1], 'f32'), be.output([1], 'f32')];
      cases.push(
        [
          'split_pack',
          'fwd',
          K * M * 2,
          () =>
            be.dispatch(
              coeffsPhiPackKernel(hc, 'bf16', prod),
              [L.phi, L.b, L.aPre, L.aPost, L.aRes, pp],
              (p) => p.u32(0, K).u32(1, g.packed),
              Math.ceil(g.packedLen / 256),
            ),
        ],
        [
          'split_reduce',
          'fwd',
          g.chunks * (M + 1) * N * 4,
          () =>
            be.dispatch(
              coeffsSplitReduceKernel(hc, 'none'),
              [part, pp, ...outs, ...dummy],
              (p) =>
                p
                  .u32(0, N)
                  .u32(1, K)
                  .u32(3, 20)
                  .f32(4, 1e-6)
                  .f32(6, 1e-6)
                  .f32(7, 2)
                  .u32(9, g.chunks)
                  .u32(10, g.packed * 4),
              Math.ceil(N / SPLIT_REDUCE_WG),
            ),
        ],
      );
      cases.push([
        'split_main',
        'fwd',
        X,
        () => {
          // The options a coeffs forward of this path and variant would take.
          const o = be.mhc.splitOptions(N, K);
          const gv = coeffsSplit(N, K, hc, o);
          if (gv.chunks > 64 || gv.packed > g.packed) throw new Error('split_main: variant too large');
          be.dispatch(
            coeffsForwardSplitKernel(hc, 'bf16', K, o),
            [L.x, pp, part],
            splitMainParams(N, K, gv),
            gv.tiles * gv.chunks,
          );
        },
      ]);
      scratch.push(pp, part, ...outs, ...dummy);
    }
    // Paths: the production one first (pre/post_res/phi_prep rows only there), then the others,
    // then variants (coeffs fwd and layer fwd only) and ablations (coeffs fwd only):
    //   split:<flags> (see splitVariant); mma:normal-only, mma:tn16, mma:pf2,
    //   mma:ablate:no-mma|no-stage|loads-only. BENCH_VARIANTS (comma-separated) picks some, '' none.
    const variants = (
      process.env.BENCH_VARIANTS ?? 'split:t4,split:kg16,split:t512,split:loads-only,split:no-phi'
    )
      .split(',')
      .filter(Boolean)
      .filter((v) => mmaOk || !v.startsWith('mma:'));
    const mains = [fastPath, ...(['split', 'subgroup-matrix', 'scalar'] as const)].filter(
      (p, i, a) => a.indexOf(p) === i && (p !== 'subgroup-matrix' || mmaOk),
    );
    const paths: string[] = [...mains, ...variants];
    for (const path of paths) {
      const [kind, v = '', arg = ''] = path.split(':');
      be.setCoeffsPath(
        kind === 'mma' ? 'subgroup-matrix' : kind === 'post' ? fastPath : (kind as CoeffsPath),
      );
      // post:<flags> (p1|p2|p4 pieces a thread, desc; '+'-joined): the post_res forward's options,
      // with the production coeffs.
      const pf = v.split('+');
      be.mhc.postRes =
        kind === 'post'
          ? {
              pieces: pf.includes('p4') ? 4 : pf.includes('p1') ? 1 : 2,
              order: pf.includes('desc') ? 'desc' : 'asc',
            }
          : {};
      be.mhc.mma = {
        ...base,
        normalOnly: v === 'normal-only',
        tokens: v === 'tn16' ? 16 : 32,
        prefetch: v === 'pf2' ? 2 : 1,
        ablate: v === 'ablate' ? (arg as MmaOptions['ablate']) : undefined,
      };
      // split:...+postdesc also runs post_res from the last token (with the layer rows' other ops).
      const splitFlags = v.split('+').filter((f) => f !== 'postdesc');
      if (kind === 'split' && v.split('+').includes('postdesc')) be.mhc.postRes = { order: 'desc' };
      be.mhc.split = kind === 'split' ? splitVariant(splitFlags.join('+')) : {};
      const isVariant = v !== '';
      const isAblation = v === 'ablate' || be.mhc.split.ablate !== undefined;
      for (const [op, mode, bytes, fn] of cases) {
        // pre/post_res do not depend on the coeffs path; post variants time post_res and the layer.
        if (kind === 'post') {
          if (mode !== 'fwd' || (op !== 'post_res' && op !== 'layer')) continue;
        } else if (path !== fastPath && (op === 'pre' || op === 'post_res')) continue;
        if (op === 'phi_prep' && path !== 'subgroup-matrix') continue;
        if (op.startsWith('split_') && !path.startsWith('split')) continue;
        if ((op === 'split_pack' || op === 'split_reduce') && path !== 'split') continue;
        if (
          isVariant &&
          kind !== 'post' &&
          !(mode === 'fwd' && (op === 'coeffs' || op === 'layer' || op === 'split_main'))
        )
          continue;
        if (isAblation && op !== 'coeffs' && op !== 'split_main') continue;
        // BENCH_QUICK=1: the forward rows only.
        if (process.env.BENCH_QUICK && mode.startsWith('fwd+')) continue;
        // The first case of a shape follows seconds of CPU-side input generation: a longer warm-up there.
        const ms = await gpuMs(be, fn, rows.length === 0 || rows.at(-1)!.N !== N ? 4000 : 300);
        const GBs = bytes / ms / 1e6;
        const row = { op, mode, path, N, hc, c, ms, min_bytes: bytes, GBs, roofline: GBs / roofGBs };
        rows.push(row);
        log(JSON.stringify(row));
      }
    }
    be.setCoeffsPath(fastPath);
    be.mhc.mma = { ...base };
    be.mhc.split = {};
    be.mhc.postRes = {};
    free(...scratch);
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
    `\n${'op'.padEnd(9)} ${'mode'.padEnd(19)} ${'path'.padEnd(16)} ${'shape'.padEnd(13)} ${'ms'.padStart(8)} ${'GB/s'.padStart(7)} roof`,
  );
  for (const r of rows)
    log(
      `${r.op.padEnd(9)} ${r.mode.padEnd(19)} ${r.path.padEnd(16)} ${`${r.N}x${r.hc}x${r.c}`.padEnd(13)} ${r.ms.toFixed(3).padStart(8)} ${r.GBs.toFixed(0).padStart(7)} ${(100 * r.roofline).toFixed(0)}%`,
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
