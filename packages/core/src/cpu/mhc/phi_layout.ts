import type { TensorInfo } from '../../backend/contract.js';
import type { PhiLayout } from '../../backend/mhc-v4-kernels.js';
import { ArgumentError, ShapeError } from '../../errors.js';
import type { CpuBackend } from '../cpu-backend.js';
import { cpuData } from '../cpu-handle.js';

/**
 * φ in DeepSeek-V4's layout [M, K] seen as Liger's [K, M]: the CPU kernels repack φ for their loops
 * on every call anyway (coeffs_fwd.ts), so this transposed copy replaces no pass over x.
 */
export function phiToLiger(
  cpu: CpuBackend,
  phi: TensorInfo,
  layout: PhiLayout | undefined,
  hc: number,
): TensorInfo {
  if (layout === undefined || layout === 'liger') return phi;
  if (layout !== 'deepseek')
    throw new ArgumentError('phiLayout', `expected 'liger' or 'deepseek', got '${String(layout)}'`);
  const m = hc * hc + 2 * hc;
  if (phi.shape.length !== 2 || phi.shape[0] !== m)
    throw new ShapeError('phi', `[${m}, K] (phiLayout 'deepseek')`, phi.shape);
  return transpose2(cpu, phi);
}

/** A [K, M] gradient in V4's [M, K]. */
export function phiToLayout(cpu: CpuBackend, g: TensorInfo): TensorInfo {
  return transpose2(cpu, g);
}

function transpose2(cpu: CpuBackend, t: TensorInfo): TensorInfo {
  const [r, c] = t.shape as [number, number];
  const src = cpuData(t);
  const out = cpu.output([c, r], t.dtype).finish();
  const dst = cpuData(out);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) dst[j * r + i] = src[i * c + j]!;
  return out;
}
