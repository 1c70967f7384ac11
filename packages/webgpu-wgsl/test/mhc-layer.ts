import { runCoeffsPre, type TensorInfo } from '@liger-mhc/core';
import type { WebGpuBackend } from '../src/index.js';
import { free, upload } from './helpers.js';

/** A deterministic pseudo-random sequence (no state shared between tests). */
export function seq(n: number, seed: number, scale = 1): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return ((s / 2 ** 32) * 2 - 1) * scale;
  });
}

export interface LayerInputs {
  x: TensorInfo;
  phi: TensorInfo;
  b: TensorInfo;
  aPre: TensorInfo;
  aPost: TensorInfo;
  aRes: TensorInfo;
  gOut: TensorInfo;
  N: number;
  hc: number;
  c: number;
}

export function layerInputs(be: WebGpuBackend, N: number, hc: number, c: number): LayerInputs {
  const K = hc * c;
  const M = hc * hc + 2 * hc;
  return {
    x: upload(be, seq(N * K, 1), [N, hc, c], 'bf16'),
    phi: upload(be, seq(K * M, 2, 0.1), [K, M], 'bf16'),
    b: upload(be, seq(M, 3, 0.5), [M], 'f32'),
    aPre: upload(be, [0.8], [], 'f32'),
    aPost: upload(be, [1.1], [], 'f32'),
    aRes: upload(be, [0.9], [], 'f32'),
    gOut: upload(be, seq(N * K, 4), [N, hc, c], 'bf16'),
    N,
    hc,
    c,
  };
}

/**
 * One forward+backward of an mHC layer with an identity inner layer (f = xIn), through the backend's
 * kernels. Returns every gradient; all intermediates are freed.
 */
export function layerStep(be: WebGpuBackend, L: LayerInputs, save: 'history' | 'recompute' = 'history') {
  const { N, hc, c } = L;
  const xf = { ...L.x, shape: [N, hc * c] };
  const config = { hc, tmax: 20, rmsEps: 1e-6, preEps: 1e-4, sinkhornEps: 1e-6, postMult: 2 };
  const args = { x: xf, phi: L.phi, b: L.b, alphaPre: L.aPre, alphaPost: L.aPost, alphaRes: L.aRes, config };
  // As core's layer forward (mhcCoeffsPre): pre fused into the coeffs forward where supported.
  const co = runCoeffsPre(be.mhc, { ...args, save });
  const xIn = co.xIn;
  const out = be.mhc.postResForward(L.x, xIn, co.hPost, co.hRes, 'liger');
  const pr = be.mhc.postResBackward(L.gOut, L.x, xIn, co.hPost, co.hRes, 'liger');
  const pb = be.mhc.preBackward(pr.gradF, L.x, co.hPre);
  const cb = be.mhc.coeffsBackward({
    ...args,
    gradHPre: pb.gradHPre,
    gradHPost: pr.gradHPost,
    gradHRes: pr.gradHRes,
    hPre: co.hPre,
    hPost: co.hPost,
    hRes: co.hRes,
    saved: co.saved,
    save,
    needs: { x: true, phi: true, b: true, alphas: true },
  });
  free(be, co.hPre, co.hPost, co.hRes, xIn, pb.gradHPre, pr.gradHPost, pr.gradHRes, pr.gradF, ...co.saved);
  return { out, gradX: [pr.gradX, pb.gradX, cb.gradX!], cb };
}

export function freeStep(be: WebGpuBackend, r: ReturnType<typeof layerStep>): void {
  const { cb } = r;
  free(be, r.out, ...r.gradX, cb.gradPhi, cb.gradB, cb.gradAlphaPre, cb.gradAlphaPost, cb.gradAlphaRes);
}
