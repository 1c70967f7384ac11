import {
  type CoeffsConfig,
  type CoeffsForwardArgs,
  CpuBackend,
  type DType,
  runCoeffsPre,
  type SinkhornSaveMode,
  type TensorInfo,
} from '@liger-mhc/core';
import { type CudaBackend, CudaOutOfMemoryError } from '../../src/index.js';
import { bits, type Check, compare, dispose, download, sameBits, TOL, upload } from './util.js';

function rand(n: number, seed: number, scale: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * scale;
  });
}

export interface LayerInputs {
  x: TensorInfo;
  x3: TensorInfo;
  phi: TensorInfo;
  b: TensorInfo;
  aPre: TensorInfo;
  aPost: TensorInfo;
  aRes: TensorInfo;
  gOut: TensorInfo;
  config: CoeffsConfig;
  n: number;
  hc: number;
  c: number;
}

export function makeLayerInputs(
  be: CudaBackend,
  n: number,
  hc: number,
  c: number,
  dtype: DType,
  seed = 1,
): LayerInputs {
  const k = hc * c;
  const m = hc * hc + 2 * hc;
  const xv = rand(n * k, seed, 2);
  const x = upload(be, xv, [n, k], dtype);
  const phi = upload(be, rand(k * m, seed + 1, 0.04), [k, m], dtype);
  const b = upload(be, rand(m, seed + 2, 0.2), [m], 'f32');
  const one = (v: number) => upload(be, [v], [], 'f32');
  return {
    x,
    x3: { ...x, shape: [n, hc, c] },
    phi,
    b,
    aPre: one(1),
    aPost: one(1),
    aRes: one(1),
    gOut: upload(be, rand(n * k, seed + 3, 2), [n, hc, c], dtype),
    config: { hc, tmax: 20, rmsEps: 1e-6, preEps: 0, sinkhornEps: 1e-6, postMult: 2 },
    n,
    hc,
    c,
  };
}

export function disposeLayerInputs(be: CudaBackend, L: LayerInputs): void {
  dispose(be, L.x, L.phi, L.b, L.aPre, L.aPost, L.aRes, L.gOut);
}

/** coeffsForward's arguments for the layer inputs L. */
export function coeffsArgs(L: LayerInputs, save: SinkhornSaveMode | 'none'): CoeffsForwardArgs {
  return {
    x: L.x,
    phi: L.phi,
    b: L.b,
    alphaPre: L.aPre,
    alphaPost: L.aPost,
    alphaRes: L.aRes,
    config: L.config,
    save,
  };
}

/** As core's mhcCoeffsPre (runCoeffsPre); withPre = false: always the two kernels. */
function coeffsPre(be: CudaBackend, L: LayerInputs, save: SinkhornSaveMode | 'none', withPre: boolean) {
  const args = coeffsArgs(L, save);
  if (withPre) return runCoeffsPre(be.mhc, args);
  const r = be.mhc.coeffsForward(args);
  return { ...r, xIn: be.mhc.preForward(L.x3, r.hPre) };
}

/**
 * One mHC layer with identity inner layer (f = xIn), forward only; returns out. withPre = false:
 * coeffs and pre as separate kernels (what the layer did before the fused kernel).
 */
export function layerForward(be: CudaBackend, L: LayerInputs, withPre = true): TensorInfo {
  const fw = coeffsPre(be, L, 'none', withPre);
  const xIn = fw.xIn;
  const out = be.mhc.postResForward(L.x3, xIn, fw.hPost, fw.hRes, 'liger');
  dispose(be, fw.hPre, fw.hPost, fw.hRes, xIn);
  return out;
}

/**
 * Forward and backward of the layer with identity inner layer; returns the gradients (caller
 * disposes). Everything else is released as soon as the stream no longer needs it. With
 * `accumulate` the x gradient runs through the kernels (post_res -> pre -> coeffs, each adding the
 * previous one, as core's autograd does for a backend with accumulatesGradX); without it the three
 * pieces are summed by two `binary add` passes.
 */
export function layerForwardBackward(
  be: CudaBackend,
  L: LayerInputs,
  save: SinkhornSaveMode = 'history',
  accumulate = be.mhc.accumulatesGradX === true,
  withPre = true,
) {
  const fw = coeffsPre(be, L, save, withPre);
  const xIn = fw.xIn;
  const out = be.mhc.postResForward(L.x3, xIn, fw.hPost, fw.hRes, 'liger');
  dispose(be, out);
  const pr = be.mhc.postResBackward(L.gOut, L.x3, xIn, fw.hPost, fw.hRes, 'liger');
  dispose(be, xIn);
  // identity inner layer: grad of xIn is grad of f
  const pb = be.mhc.preBackward(pr.gradF, L.x3, fw.hPre, accumulate ? pr.gradX : null);
  dispose(be, pr.gradF);
  if (accumulate) dispose(be, pr.gradX);
  const cb = be.mhc.coeffsBackward({
    accumulateGradX: accumulate ? { ...pb.gradX, shape: [L.n, L.hc * L.c] } : null,
    gradHPre: pb.gradHPre,
    gradHPost: pr.gradHPost,
    gradHRes: pr.gradHRes,
    x: L.x,
    phi: L.phi,
    b: L.b,
    alphaPre: L.aPre,
    alphaPost: L.aPost,
    alphaRes: L.aRes,
    hPre: fw.hPre,
    hPost: fw.hPost,
    hRes: fw.hRes,
    saved: fw.saved,
    config: L.config,
    save,
    needs: { x: true, phi: true, b: true, alphas: true },
  });
  dispose(be, fw.hPre, fw.hPost, fw.hRes, ...fw.saved, pb.gradHPre, pr.gradHPost, pr.gradHRes);
  if (accumulate) {
    dispose(be, pb.gradX);
    return {
      gradX: { ...cb.gradX!, shape: [L.n, L.hc, L.c] },
      gradPhi: cb.gradPhi!,
      gradB: cb.gradB!,
      gradAlphas: [cb.gradAlphaPre!, cb.gradAlphaPost!, cb.gradAlphaRes!],
    };
  }
  const s1 = be.ops.binary('add', pr.gradX, pb.gradX);
  dispose(be, pr.gradX, pb.gradX);
  const gradX = be.ops.binary('add', s1, { ...cb.gradX!, shape: [L.n, L.hc, L.c] });
  dispose(be, s1, cb.gradX);
  return {
    gradX,
    gradPhi: cb.gradPhi!,
    gradB: cb.gradB!,
    gradAlphas: [cb.gradAlphaPre!, cb.gradAlphaPost!, cb.gradAlphaRes!],
  };
}

/**
 * The layer's gradients on two backends (e.g. tensor-core and CUDA-core x pass), same inputs:
 * gradX within a bf16 rounding, gradPhi / gradB (f32) within summation-order differences.
 */
export async function compareBackends(a: CudaBackend, b: CudaBackend, label: string): Promise<Check[]> {
  const out: Check[] = [];
  for (const [n, hc, c, save] of [
    [4096, 4, 512, 'history'],
    [333, 4, 96, 'recompute'],
    [77, 2, 48, 'history'],
    [40, 1, 64, 'history'],
    [50, 3, 32, 'recompute'],
  ] as const) {
    const La = makeLayerInputs(a, n, hc, c, 'bf16', 5);
    const Lb = makeLayerInputs(b, n, hc, c, 'bf16', 5);
    const ra = layerForwardBackward(a, La, save);
    const rb = layerForwardBackward(b, Lb, save);
    const nm = `${label} ${n}x${hc}x${c} ${save}`;
    out.push(
      compare(nm, 'gradX', await download(a, ra.gradX), await download(b, rb.gradX), {
        rtol: 1e-2,
        atol: 2e-3,
      }),
      compare(nm, 'gradPhi', await download(a, ra.gradPhi), await download(b, rb.gradPhi), {
        rtol: 1e-3,
        atol: 1e-4,
      }),
      compare(nm, 'gradB', await download(a, ra.gradB), await download(b, rb.gradB), {
        rtol: 1e-3,
        atol: 1e-4,
      }),
    );
    dispose(a, ra.gradX, ra.gradPhi, ra.gradB, ...ra.gradAlphas);
    dispose(b, rb.gradX, rb.gradPhi, rb.gradB, ...rb.gradAlphas);
    disposeLayerInputs(a, La);
    disposeLayerInputs(b, Lb);
  }
  return out;
}

/**
 * The fused coeffs + pre forward (coeffs_pre.cu) against the separate kernels on the same inputs:
 * coefficients and saved tensors within f32 summation-order differences (the fused kernel adds the
 * x·phi partials in another order), xIn bit-identical to preForward applied to the fused call's own
 * hPre (same formula, same rounding). Shapes cover every cluster size (c = 256 .. 4096), tails of a
 * 16-token tile and both 16-bit dtypes; plus bit-identical repeats.
 */
export async function fusedPreChecks(be: CudaBackend): Promise<Check[]> {
  const out: Check[] = [];
  const ok = (tensor: string, pass: boolean) =>
    out.push({ case: 'fused coeffs+pre', tensor, pass, ratio: pass ? 0 : Infinity, maxAbs: 0 });
  for (const [n, c, dtype, save] of [
    [333, 256, 'bf16', 'history'],
    [4096, 512, 'bf16', 'history'],
    [50, 1024, 'f16', 'recompute'],
    [77, 2048, 'bf16', 'history'],
    [1000, 4096, 'bf16', 'history'],
    [129, 4096, 'f16', 'history'],
  ] as const) {
    const L = makeLayerInputs(be, n, 4, c, dtype, 11);
    const args = coeffsArgs(L, save);
    const nm = `${n}x4x${c} ${dtype} ${save}`;
    if (!be.mhc.supportsCoeffsPre(args)) {
      ok(`${nm}: fused path taken`, false);
      disposeLayerInputs(be, L);
      continue;
    }
    const f = be.mhc.coeffsPreForward(args);
    const u = be.mhc.coeffsForward(args);
    const tol = { rtol: 1e-4, atol: 1e-5 };
    const names = ['hPre', 'hPost', 'hRes', 'mix', 'invr', 'hist'];
    const fs = [f.hPre, f.hPost, f.hRes, ...f.saved];
    const us = [u.hPre, u.hPost, u.hRes, ...u.saved];
    for (let i = 0; i < fs.length; i++)
      out.push(
        compare(`fused ${nm}`, names[i]!, await download(be, fs[i]!), await download(be, us[i]!), tol),
      );
    const sep = be.mhc.preForward(L.x3, f.hPre);
    ok(
      `${nm}: xIn = preForward(x, fused hPre) bit for bit`,
      sameBits(await bits(be, f.xIn), await bits(be, sep)),
    );
    const f2 = be.mhc.coeffsPreForward(args);
    ok(
      `${nm}: deterministic xIn, hRes`,
      sameBits(await bits(be, f.xIn), await bits(be, f2.xIn!)) &&
        sameBits(await bits(be, f.hRes), await bits(be, f2.hRes)),
    );
    dispose(be, ...fs, ...us, f.xIn, sep, f2.hPre, f2.hPost, f2.hRes, ...f2.saved, f2.xIn!);
    disposeLayerInputs(be, L);
  }
  return out;
}

/** Determinism, memory stability and error paths. */
export async function runDeviceChecks(be: CudaBackend): Promise<Check[]> {
  const out: Check[] = [];
  const ok = (tensor: string, pass: boolean, detail = 0) =>
    out.push({ case: 'device', tensor, pass, ratio: pass ? 0 : Infinity, maxAbs: detail });

  // Bit-identical results run to run (both save modes, a shape with many token ranges).
  for (const [n, hc, c] of [
    [4096, 4, 512],
    [333, 4, 96],
  ] as const) {
    const L = makeLayerInputs(be, n, hc, c, 'bf16', 7);
    for (const save of ['history', 'recompute'] as const) {
      const r1 = layerForwardBackward(be, L, save);
      const r2 = layerForwardBackward(be, L, save);
      const pairs: [string, TensorInfo, TensorInfo][] = [
        ['gradX', r1.gradX, r2.gradX],
        ['gradPhi', r1.gradPhi, r2.gradPhi],
        ['gradB', r1.gradB, r2.gradB],
        ['gradAlphaRes', r1.gradAlphas[2]!, r2.gradAlphas[2]!],
      ];
      for (const [nm, a, b] of pairs)
        ok(`deterministic ${nm} ${n}x${hc}x${c} ${save}`, sameBits(await bits(be, a), await bits(be, b)));
      const o1 = layerForward(be, L);
      const o2 = layerForward(be, L);
      ok(`deterministic layer out ${n}x${hc}x${c} ${save}`, sameBits(await bits(be, o1), await bits(be, o2)));
      dispose(
        be,
        o1,
        o2,
        r1.gradX,
        r1.gradPhi,
        r1.gradB,
        ...r1.gradAlphas,
        r2.gradX,
        r2.gradPhi,
        r2.gradB,
        ...r2.gradAlphas,
      );
    }
    disposeLayerInputs(be, L);
  }
  {
    const a = upload(be, rand(64 * 96, 3, 2), [64, 96], 'bf16');
    const b = upload(be, rand(96 * 80, 4, 2), [96, 80], 'bf16');
    const m1 = be.ops.matmul(a, b);
    const m2 = be.ops.matmul(a, b);
    ok('deterministic matmul', sameBits(await bits(be, m1), await bits(be, m2)));
    dispose(be, a, b, m1, m2);
  }

  // accumulatesGradX: the x gradient summed inside the kernels (post_res -> pre -> coeffs) against
  // the three pieces added by `binary add`. Each path rounds to bf16 at different points (the add
  // path rounds each piece and each partial sum), so they differ by a few bf16 ulps of the pieces:
  // judged at the bf16 tolerance. Shapes cover the 16-byte paths, odd c (scalar pre/post_res) and
  // odd K (CUDA-core x pass).
  if (be.mhc.accumulatesGradX)
    for (const [n, hc, c] of [
      [333, 4, 96],
      [50, 3, 17],
      [64, 2, 48],
    ] as const) {
      const L = makeLayerInputs(be, n, hc, c, 'bf16', 11);
      const r1 = layerForwardBackward(be, L, 'history', true);
      const r2 = layerForwardBackward(be, L, 'history', false);
      const chk = compare(
        'device',
        `accumulate gradX ${n}x${hc}x${c} (vs binary add)`,
        await download(be, r1.gradX),
        await download(be, r2.gradX),
        TOL.bf16,
      );
      out.push(chk);
      ok(
        `accumulate leaves gradPhi unchanged ${n}x${hc}x${c}`,
        sameBits(await bits(be, r1.gradPhi), await bits(be, r2.gradPhi)),
      );
      dispose(
        be,
        r1.gradX,
        r1.gradPhi,
        r1.gradB,
        ...r1.gradAlphas,
        r2.gradX,
        r2.gradPhi,
        r2.gradB,
        ...r2.gradAlphas,
      );
      disposeLayerInputs(be, L);
    }

  // Memory: many steps leave live memory where it was and the pool bounded.
  {
    const L = makeLayerInputs(be, 1024, 4, 256, 'bf16', 9);
    await be.sync();
    const r0 = layerForwardBackward(be, L);
    dispose(be, r0.gradX, r0.gradPhi, r0.gradB, ...r0.gradAlphas);
    await be.sync();
    const m0 = be.memory();
    for (let i = 0; i < 200; i++) {
      const r = layerForwardBackward(be, L);
      dispose(be, r.gradX, r.gradPhi, r.gradB, ...r.gradAlphas);
    }
    await be.sync();
    const m1 = be.memory();
    ok(
      'memory: live bytes unchanged after 200 steps',
      m1.liveBytes === m0.liveBytes,
      m1.liveBytes - m0.liveBytes,
    );
    ok(
      'memory: live buffers unchanged after 200 steps',
      m1.liveBuffers === m0.liveBuffers,
      m1.liveBuffers - m0.liveBuffers,
    );
    ok(
      'memory: pool did not grow after 200 steps',
      m1.pooledBytes <= m0.pooledBytes,
      m1.pooledBytes - m0.pooledBytes,
    );
    disposeLayerInputs(be, L);
  }

  // Errors: disposed tensor, a tensor of another backend, out of memory (recoverable).
  {
    const t = upload(be, [1, 2, 3, 4], [4], 'f32');
    be.disposeData(t.handle);
    let msg = '';
    try {
      be.ops.unary('exp', t);
    } catch (e) {
      msg = (e as Error).message;
    }
    ok('error: disposed tensor', /disposed/.test(msg));
    const cpu = new CpuBackend();
    const h = cpu.alloc('f32', 4);
    msg = '';
    try {
      be.ops.unary('exp', { handle: h, shape: [4], dtype: 'f32' });
    } catch (e) {
      msg = (e as Error).message;
    }
    ok('error: tensor of another backend', /another backend/.test(msg));
    let oom: unknown = null;
    try {
      be.alloc('f32', 2 ** 40);
    } catch (e) {
      oom = e;
    }
    ok('error: out of memory throws CudaOutOfMemoryError', oom instanceof CudaOutOfMemoryError);
    const after = upload(be, [1, 2, 3, 4], [4], 'f32');
    const y = be.ops.affine(after, 2, 1);
    const v = Array.from((await be.read(y.handle)) as Float32Array);
    ok('error: backend usable after out of memory', v.join(',') === '3,5,7,9');
    dispose(be, after, y);
    msg = '';
    try {
      be.ops.matmul(upload(be, [1, 2], [1, 2], 'f32'), upload(be, [1, 2, 3], [3, 1], 'f32'));
    } catch (e) {
      msg = (e as Error).message;
    }
    ok('error: shapes validated before launch', /inner dimensions/.test(msg));
  }
  return out;
}
