import { CpuBackend } from '../cpu/cpu-backend.js';
import { cpuData } from '../cpu/cpu-handle.js';
import { bf16ToF32, f16ToF32 } from '../dtype.js';
import { DTypeError, fmtShape, NonFiniteError, ShapeError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { cast } from './cast.js';

/** x must be [..., hc, c]; returns hc, c and the leading dims. */
export function streamDims(x: Tensor, argument = 'x'): { hc: number; c: number; outer: number[]; n: number } {
  if (x.rank < 2) throw new ShapeError(argument, '[..., hc, c] (rank >= 2)', x.shape);
  const hc = x.shape[x.rank - 2]!;
  const c = x.shape[x.rank - 1]!;
  if (hc < 1 || c < 1) throw new ShapeError(argument, '[..., hc, c] with hc >= 1 and c >= 1', x.shape);
  const outer = x.shape.slice(0, -2);
  return { hc, c, outer, n: outer.reduce((a, d) => a * d, 1) };
}

export function checkActivationDType(t: Tensor, argument: string, allowFp32: boolean): void {
  if (t.dtype === 'bf16' || t.dtype === 'f16') return;
  if (t.dtype === 'f32') {
    if (allowFp32) return;
    throw new DTypeError(argument, 'bf16 or f16 (f32 needs allowFp32: true)', t.dtype);
  }
  throw new DTypeError(argument, allowFp32 ? 'bf16, f16 or f32' : 'bf16 or f16', t.dtype);
}

/** t in f32: t itself, or a cast copy whose gradient is cast back (Liger's `.to(torch.float32)`). */
export function toF32(t: Tensor): Tensor {
  return t.dtype === 'f32' ? t : cast(t, 'f32');
}

export function checkF32(t: Tensor, argument: string): void {
  if (t.dtype !== 'f32') throw new DTypeError(argument, 'f32', t.dtype);
}

export function checkFloat(t: Tensor, argument: string): void {
  if (t.dtype === 'i32') throw new DTypeError(argument, 'f32, f16 or bf16', t.dtype);
}

export function expectShape(t: Tensor, argument: string, expected: readonly number[]): void {
  if (t.rank !== expected.length || t.shape.some((d, i) => d !== expected[i]))
    throw new ShapeError(argument, fmtShape(expected), t.shape);
}

/** A scalar parameter: shape [] or [1]. */
export function expectScalar(t: Tensor, argument: string): void {
  if (t.size !== 1 || t.rank > 1) throw new ShapeError(argument, '[] or [1] (a scalar)', t.shape);
}

/**
 * NaN/Inf scan for coeffs inputs. The CPU backend is scanned in place. GPU backends cannot be read
 * synchronously inside an op, so they are not scanned: there a non-finite input propagates to
 * non-finite coefficients, visible at the next read.
 */
export function checkFinite(t: Tensor, argument: string): void {
  if (!(t.backend instanceof CpuBackend)) return;
  const d = cpuData(t);
  if (t.dtype === 'f32') {
    for (let i = 0; i < d.length; i++)
      if (!Number.isFinite(d[i]!)) throw new NonFiniteError(argument, i, d[i]!);
  } else if (t.dtype === 'bf16') {
    for (let i = 0; i < d.length; i++)
      if ((d[i]! & 0x7f80) === 0x7f80) throw new NonFiniteError(argument, i, bf16ToF32(d[i]!));
  } else if (t.dtype === 'f16') {
    for (let i = 0; i < d.length; i++)
      if ((d[i]! & 0x7c00) === 0x7c00) throw new NonFiniteError(argument, i, f16ToF32(d[i]!));
  }
}
