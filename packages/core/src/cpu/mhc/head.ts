import type { TensorInfo } from '../../backend/contract.js';
import type {
  HeadBackwardArgs,
  HeadBackwardResult,
  HeadConfig,
  HeadForwardArgs,
  HeadForwardResult,
} from '../../backend/mhc-v4-kernels.js';
import { ArgumentError, ShapeError } from '../../errors.js';
import type { CpuBackend } from '../cpu-backend.js';
import { readFloats } from '../cpu-handle.js';
import {
  expectSize,
  f32Output,
  readCoeff,
  readF32,
  readSavedF64,
  readScalar,
  savedF64,
  streamsShape,
} from './storage.js';

/**
 * head (DeepSeek-V4's hc_head): the streams of the last layer reduced to one hidden state,
 *   invr = 1/sqrt(mean(x²) + rmsEps) over the K = hc·c values of a token,
 *   mix[s] = (Σ_k x[k]·φ[s, k])·invr,   w[s] = σ(mix[s]·scale + base[s]) + eps,
 *   y = Σ_s w[s]·x[s].
 * Saved (f64 as two f32 words, see storage.ts): mix [N, hc] and invr [N].
 */

function dims(x: TensorInfo, phi: TensorInfo, base: TensorInfo, config: HeadConfig) {
  const { n: N, hc, c: C } = streamsShape(x, 'x');
  if (hc !== config.hc) throw new ShapeError('x', `[N, ${config.hc}, c] (config.hc)`, x.shape);
  const K = hc * C;
  if (phi.shape.length !== 2 || phi.shape[0] !== hc || phi.shape[1] !== K)
    throw new ShapeError('phi', `[${hc}, ${K}]`, phi.shape);
  expectSize(base, 'base', `[${hc}]`, hc);
  if (!(config.rmsEps >= 0) || !(config.eps >= 0))
    throw new ArgumentError('config', 'rmsEps and eps must be finite numbers >= 0');
  return { N, hc, C, K };
}

function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

export function headForward(cpu: CpuBackend, args: HeadForwardArgs): HeadForwardResult {
  const { N, hc, C, K } = dims(args.x, args.phi, args.base, args.config);
  const x = readF32(args.x, 'x');
  const phi = readFloats(args.phi);
  const base = readCoeff(args.base, 'base');
  const scale = readScalar(args.scale, 'scale');
  const { rmsEps, eps } = args.config;
  const mixOut = args.save ? savedF64(cpu, N * hc) : null;
  const invrOut = args.save ? savedF64(cpu, N) : null;
  const mix = mixOut ? mixOut.values : new Float64Array(N * hc);
  const invr = invrOut ? invrOut.values : new Float64Array(N);
  const wOut = cpu.output([N, hc], 'f32');
  const w = wOut.values;
  const yOut = f32Output(cpu, [N, C], args.x.dtype);
  const y = yOut.values;
  const acc = new Float64Array(C);
  const ws = new Float64Array(hc);
  for (let n = 0; n < N; n++) {
    const xb = n * K;
    let ss = 0;
    for (let k = 0; k < K; k++) ss += x[xb + k] * x[xb + k];
    const r = 1 / Math.sqrt(ss / K + rmsEps);
    invr[n] = r;
    for (let s = 0; s < hc; s++) {
      let dot = 0;
      const pb = s * K;
      for (let k = 0; k < K; k++) dot += x[xb + k] * phi[pb + k];
      const m = dot * r;
      mix[n * hc + s] = m;
      ws[s] = sigmoid(m * scale + base[s]) + eps;
      w[n * hc + s] = ws[s];
    }
    acc.fill(0);
    for (let s = 0; s < hc; s++) {
      const v = ws[s];
      const xs = xb + s * C;
      for (let ch = 0; ch < C; ch++) acc[ch] += v * x[xs + ch];
    }
    y.set(acc, n * C);
  }
  const saved = mixOut && invrOut ? [mixOut.finish(), invrOut.finish()] : [];
  return { y: yOut.finish(), weights: wOut.finish(), saved };
}

/**
 * Per token: gw[s] = Σ_ch gy·x[s]; dz[s] = gw[s]·σ'(z[s]); dmix = dz·scale; then, as in coeffs,
 * gradX[s] = w[s]·gy (the weighted sum) + (dmix·invr)·φ + factor·x (the projection and its RMS) with
 * factor = -(dmix·mix)·invr²/K. gradPhi[s, k] = Σ_n dmix[n, s]·invr[n]·x[n, k], tokens ascending.
 */
export function headBackward(cpu: CpuBackend, args: HeadBackwardArgs): HeadBackwardResult {
  const { N, hc, C, K } = dims(args.x, args.phi, args.base, args.config);
  const { needs } = args;
  if (args.saved.length !== 2)
    throw new ArgumentError('saved', `expected the 2 tensors saved by headForward, got ${args.saved.length}`);
  const mix = readSavedF64(args.saved[0]!, 'saved[0] (mix)', N * hc);
  const invr = readSavedF64(args.saved[1]!, 'saved[1] (invr)', N);
  expectSize(args.gradY, 'gradY', `[${N}, ${C}]`, N * C);
  const gy = readF32(args.gradY, 'gradY');
  const x = readF32(args.x, 'x');
  const phi = readFloats(args.phi);
  const base = readCoeff(args.base, 'base');
  const scale = readScalar(args.scale, 'scale');
  const eps = args.config.eps;
  const gxOut = needs.x ? f32Output(cpu, [N, hc, C], args.x.dtype) : null;
  const gx = gxOut?.values ?? null;
  const gPhi = needs.phi ? new Float64Array(hc * K) : null;
  const gBase = new Float64Array(hc);
  let gScale = 0;
  const dmix = new Float64Array(hc);
  for (let n = 0; n < N; n++) {
    const xb = n * K;
    const gb = n * C;
    let dot = 0;
    for (let s = 0; s < hc; s++) {
      let gw = 0;
      const xs = xb + s * C;
      for (let ch = 0; ch < C; ch++) gw += gy[gb + ch] * x[xs + ch];
      const m = mix[n * hc + s];
      const sg = sigmoid(m * scale + base[s]);
      const dz = gw * sg * (1 - sg);
      gBase[s] += dz;
      gScale += dz * m;
      dmix[s] = dz * scale;
      dot += dmix[s] * m;
    }
    const r = invr[n];
    if (gx) {
      const factor = (-dot * r * r) / K;
      for (let s = 0; s < hc; s++) {
        const w = sigmoid(mix[n * hc + s] * scale + base[s]) + eps;
        const xs = xb + s * C;
        for (let ch = 0; ch < C; ch++) {
          const k = s * C + ch;
          let v = w * gy[gb + ch] + factor * x[xs + ch];
          for (let t = 0; t < hc; t++) v += dmix[t] * r * phi[t * K + k];
          gx[xs + ch] = v;
        }
      }
    }
    if (gPhi)
      for (let s = 0; s < hc; s++) {
        const g = dmix[s] * r;
        const pb = s * K;
        for (let k = 0; k < K; k++) gPhi[pb + k] += g * x[xb + k];
      }
  }
  const f32 = (shape: number[], v: Float64Array | number) => {
    const o = cpu.output(shape, 'f32');
    if (typeof v === 'number') o.values[0] = v;
    else o.values.set(v);
    return o.finish();
  };
  return {
    gradX: gxOut ? gxOut.finish() : null,
    gradPhi: gPhi ? f32([hc, K], gPhi) : null,
    gradBase: needs.base ? f32([hc], gBase) : null,
    gradScale: needs.scale ? f32([], gScale) : null,
  };
}
