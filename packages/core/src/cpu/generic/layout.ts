import type { TensorInfo } from '../../backend/contract.js';
import { ArgumentError, DTypeError, ShapeError } from '../../errors.js';
import { normAxis, stridesOf } from '../../tensor/shape.js';
import type { CpuBackend } from '../cpu-backend.js';
import { collapseDims, forEachRow, rawOutput, storageOf } from './util.js';

/**
 * Layout kernels: transpose (permute), slice and concat. They move bit patterns and never decode, so
 * they are exact for every dtype (f16/bf16 patterns, i32) and need no f64 detour.
 */

export function transpose(cpu: CpuBackend, x: TensorInfo, perm: readonly number[]): TensorInfo {
  const src = storageOf(x, 'x');
  const rank = x.shape.length;
  const seen = new Array<boolean>(rank).fill(false);
  const valid =
    perm.length === rank &&
    perm.every((p) => {
      if (!Number.isInteger(p) || p < 0 || p >= rank || seen[p]) return false;
      seen[p] = true;
      return true;
    });
  if (!valid)
    throw new ArgumentError('perm', `expected a permutation of 0..${rank - 1}, got [${perm.join(', ')}]`);
  const shape = perm.map((p) => x.shape[p]);
  const out = rawOutput(cpu, shape, x.dtype);
  const dst = out.data;
  if (dst.length === 0) return out.finish();
  // Walk the output contiguously; the input is read with its strides permuted.
  const xs = stridesOf(x.shape);
  const c = collapseDims(shape, [stridesOf(shape), perm.map((p) => xs[p])]);
  const last = c.shape.length - 1;
  const n = c.shape[last];
  const si = c.strides[1][last];
  forEachRow(c.shape, c.strides, (offs) => {
    const o = offs[0];
    let i = offs[1];
    if (si === 1) dst.set(src.subarray(i, i + n), o);
    else for (let j = 0; j < n; j++, i += si) dst[o + j] = src[i];
  });
  return out.finish();
}

export function slice(cpu: CpuBackend, x: TensorInfo, axis: number, start: number, end: number): TensorInfo {
  const src = storageOf(x, 'x');
  const ax = normAxis(axis, x.shape.length, 'axis');
  const d = x.shape[ax];
  if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= d))
    throw new ArgumentError('start/end', `expected integers 0 <= start <= end <= ${d}, got ${start}..${end}`);
  const shape = x.shape.map((s, i) => (i === ax ? end - start : s));
  const out = rawOutput(cpu, shape, x.dtype);
  const dst = out.data;
  // outer blocks × one contiguous run of (end-start)·inner elements each
  let outer = 1;
  for (let i = 0; i < ax; i++) outer *= x.shape[i];
  let inner = 1;
  for (let i = ax + 1; i < x.shape.length; i++) inner *= x.shape[i];
  const run = (end - start) * inner;
  for (let o = 0; o < outer; o++) {
    const s = (o * d + start) * inner;
    dst.set(src.subarray(s, s + run), o * run);
  }
  return out.finish();
}

export function concat(cpu: CpuBackend, xs: readonly TensorInfo[], axis: number): TensorInfo {
  if (!xs || xs.length === 0) throw new ArgumentError('xs', 'expected at least one tensor');
  const first = xs[0];
  const srcs = xs.map((t, k) => storageOf(t, `xs[${k}]`));
  const rank = first.shape.length;
  const ax = normAxis(axis, rank, 'axis');
  let total = 0;
  xs.forEach((t, k) => {
    if (t.dtype !== first.dtype)
      throw new DTypeError(`xs[${k}]`, `${first.dtype} (the dtype of xs[0])`, t.dtype);
    if (t.shape.length !== rank || t.shape.some((s, i) => i !== ax && s !== first.shape[i]))
      throw new ShapeError(
        `xs[${k}]`,
        `[${first.shape.map((s, i) => (i === ax ? '*' : s)).join(', ')}] (xs[0]'s shape, any size on axis ${ax})`,
        t.shape,
      );
    total += t.shape[ax];
  });
  const shape = first.shape.map((s, i) => (i === ax ? total : s));
  const out = rawOutput(cpu, shape, first.dtype);
  const dst = out.data;
  let outer = 1;
  for (let i = 0; i < ax; i++) outer *= first.shape[i];
  let inner = 1;
  for (let i = ax + 1; i < rank; i++) inner *= first.shape[i];
  // Output row o is the concatenation of each input's row o: one contiguous run per input.
  const outRun = total * inner;
  for (let o = 0; o < outer; o++) {
    let at = o * outRun;
    for (let k = 0; k < xs.length; k++) {
      const run = xs[k].shape[ax] * inner;
      dst.set(srcs[k].subarray(o * run, o * run + run), at);
      at += run;
    }
  }
  return out.finish();
}
