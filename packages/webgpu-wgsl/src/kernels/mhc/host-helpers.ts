import {
  ArgumentError,
  type DType,
  type Orientation,
  ShapeError,
  sizeOf,
  type TensorInfo,
} from '@liger-mhc/core';
import type { KernelDef, WebGpuBackend } from '../../backend.js';
import { pairOutDtype, type ROW_PARAMS, ROW_UNIT_WG } from './common.js';

// Argument checks and output helpers the mHC kernels' host code shares.

/** An output written two elements per thread: f32 scratch when halves would straddle words. */
export function pairOutput(b: WebGpuBackend, shape: readonly number[], dtype: DType, rowLen: number) {
  const od = pairOutDtype(dtype, rowLen);
  const t = b.output(shape, od);
  return {
    t,
    od,
    /** The final tensor in `dtype` (casts and frees the scratch when one was used). */
    finish: (): TensorInfo => {
      if (od === dtype) return t;
      const r = b.ops.cast(t, dtype);
      b.disposeData(t.handle);
      return r;
    },
  };
}

export function dims3(x: TensorInfo, name: string) {
  if (x.shape.length !== 3) throw new ShapeError(name, '[N, hc, c]', x.shape);
  const [N, hc, c] = x.shape as [number, number, number];
  return { N, hc, c };
}

/** Element count check: callers may hand in views with leading dims folded or not. */
export function expectSize(t: TensorInfo, name: string, shape: readonly number[]): void {
  if (sizeOf(t.shape) !== sizeOf(shape)) throw new ShapeError(name, `[${shape.join(', ')}]`, t.shape);
}

export function expectF32(t: TensorInfo, name: string): void {
  if (t.dtype !== 'f32') throw new ArgumentError(name, `expected dtype f32, got ${t.dtype}`);
}

export function checkOrientation(o: Orientation): void {
  if (o !== 'liger' && o !== 'deepseek')
    throw new ArgumentError('orientation', `expected 'liger' or 'deepseek', got '${String(o)}'`);
}

/**
 * A row-wise forward (pre, post_res): one thread per (token, unit), `per` units (pairs or 16-byte
 * pieces) a row of c elements.
 */
export function rowwise(
  b: WebGpuBackend,
  def: KernelDef<typeof ROW_PARAMS.schema>,
  tensors: TensorInfo[],
  N: number,
  c: number,
  per: number,
): void {
  b.dispatch(def, tensors, { N, c, per, total: N * per }, Math.ceil((N * per) / ROW_UNIT_WG));
}
