import {
  type CoeffsConfig,
  type CoeffsForwardArgs,
  type DType,
  runCoeffsPre,
  type SinkhornSaveMode,
  type TensorInfo,
} from '@liger-mhc/core';
import type { CudaBackend } from '../../src/index.js';
import { type Check, compare, dispose, download, upload } from './util.js';

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
