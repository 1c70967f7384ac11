import type { TensorInfo } from '../../backend/contract.js';
import { ArgumentError, ShapeError } from '../../errors.js';
import { broadcastShapes, checkShape, normAxis, sameShape, sizeOf, stridesOf } from '../../tensor/shape.js';
import type { CpuBackend } from '../cpu-backend.js';
import { readFloats } from '../cpu-handle.js';
import { broadcastStrides, collapseDims, forEachRow, rawOutput, storageOf } from './util.js';

/**
 * Sum over `axes`. An empty `axes` reduces nothing (a copy), as NumPy's `axis=()`; "all axes" is
 * spelled out by the caller. The input is walked once in row-major order and each element is added
 * to its output's f64 accumulator, so every output is the sequential sum of its inputs in increasing
 * flat index: one fixed order, whatever the axes, and the same on every run.
 */
export function sum(cpu: CpuBackend, x: TensorInfo, axes: readonly number[], keepDims: boolean): TensorInfo {
  storageOf(x, 'x');
  const rank = x.shape.length;
  const reduced = new Array<boolean>(rank).fill(false);
  for (const a of axes) {
    const n = normAxis(a, rank, 'axes');
    if (reduced[n]) throw new ArgumentError('axes', `axis ${a} appears twice in [${axes.join(', ')}]`);
    reduced[n] = true;
  }
  const kept = x.shape.map((d, i) => (reduced[i] ? 1 : d));
  const outShape = keepDims ? kept : x.shape.filter((_, i) => !reduced[i]);
  const v = readFloats(x);
  const acc = new Float64Array(sizeOf(kept));
  // Output strides in the input's rank, 0 on reduced axes: the input's walk lands on its output.
  const keptStrides = stridesOf(kept).map((s, i) => (reduced[i] ? 0 : s));
  const c = collapseDims(x.shape, [stridesOf(x.shape), keptStrides]);
  const last = c.shape.length - 1;
  const n = c.shape[last];
  const si = c.strides[0][last];
  const so = c.strides[1][last];
  forEachRow(c.shape, c.strides, (offs) => {
    let i = offs[0];
    let o = offs[1];
    if (so === 0) {
      // Reducing along the row: keep the running sum in a register, same order as element by element.
      let s = acc[o];
      for (let j = 0; j < n; j++, i += si) s += v[i];
      acc[o] = s;
    } else for (let j = 0; j < n; j++, i += si, o += so) acc[o] += v[i];
  });
  const out = cpu.output(outShape, x.dtype);
  out.values.set(acc);
  return out.finish();
}

/** Broadcast x to `shape` (NumPy rules: x's dims align to the right and must be 1 or equal). */
export function broadcastTo(cpu: CpuBackend, x: TensorInfo, shape: readonly number[]): TensorInfo {
  const src = storageOf(x, 'x');
  checkShape('shape', shape);
  let ok = shape.length >= x.shape.length;
  if (ok) {
    try {
      ok = sameShape(broadcastShapes(x.shape, shape, ['x', 'shape']), shape);
    } catch {
      ok = false;
    }
  }
  if (!ok) throw new ShapeError('shape', `a shape that x [${x.shape.join(', ')}] broadcasts to`, shape);
  // A raw copy of bit patterns: exact for every dtype.
  const out = rawOutput(cpu, shape, x.dtype);
  const dst = out.data;
  if (dst.length === 0) return out.finish();
  const rank = shape.length;
  const c = collapseDims(shape, [stridesOf(shape), broadcastStrides(x.shape, rank, shape)]);
  const last = c.shape.length - 1;
  const n = c.shape[last];
  const so = c.strides[0][last];
  const si = c.strides[1][last];
  forEachRow(c.shape, c.strides, (offs) => {
    let o = offs[0];
    let i = offs[1];
    if (si === 1 && so === 1) dst.set(src.subarray(i, i + n), o);
    else for (let j = 0; j < n; j++, o += so, i += si) dst[o] = src[i];
  });
  return out.finish();
}
