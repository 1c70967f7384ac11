import type { TensorInfo } from '../../backend/contract.js';
import type { DType } from '../../dtype.js';
import { ArgumentError, ShapeError } from '../../errors.js';
import type { CpuBackend } from '../cpu-backend.js';
import { cpuData } from '../cpu-handle.js';
import { f32Output, readF32, streamsShape } from './storage.js';

/**
 * expand (DeepSeek-V4's embedding to streams): xOut[n, s, :] = x[n, :] for every stream s. The copy
 * is of raw storage, so every dtype keeps its bits. Backward: the sum over streams.
 */
export function expandForward(cpu: CpuBackend, xInfo: TensorInfo, hc: number): TensorInfo {
  if (!Number.isInteger(hc) || hc < 1) throw new ArgumentError('hc', `expected an integer >= 1, got ${hc}`);
  if (xInfo.shape.length < 1) throw new ShapeError('x', '[..., c]', xInfo.shape);
  const C = xInfo.shape[xInfo.shape.length - 1]!;
  const src = cpuData(xInfo);
  const N = C === 0 ? 0 : src.length / C;
  const out = cpu.output([...xInfo.shape.slice(0, -1), hc, C], xInfo.dtype);
  const h = out.finish();
  const dst = cpuData(h);
  for (let n = 0; n < N; n++) {
    const row = src.subarray(n * C, (n + 1) * C);
    for (let s = 0; s < hc; s++) dst.set(row as never, (n * hc + s) * C);
  }
  return h;
}

export function expandBackward(cpu: CpuBackend, gInfo: TensorInfo, dtype: DType): TensorInfo {
  const { n: N, hc, c: C } = streamsShape(gInfo, 'grad');
  const g = readF32(gInfo, 'grad');
  const out = f32Output(cpu, [...gInfo.shape.slice(0, -2), C], dtype);
  const y = out.values;
  const acc = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    acc.fill(0);
    for (let s = 0; s < hc; s++) {
      const b = (n * hc + s) * C;
      for (let ch = 0; ch < C; ch++) acc[ch] += g[b + ch];
    }
    y.set(acc, n * C);
  }
  return out.finish();
}
