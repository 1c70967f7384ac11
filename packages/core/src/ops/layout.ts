import { ArgumentError } from '../errors.js';
import { normAxis } from '../tensor/shape.js';
import { setReshapeHook, type Tensor } from '../tensor/tensor.js';
import { backendOf, needsGrad, record, wrap } from './dispatch.js';

// reshape lives on Tensor (a view); its gradient is the inverse reshape.
setReshapeHook((src, view) => {
  if (!needsGrad(src)) return;
  record([view], { name: 'reshape', inputs: [src], backward: ([g]) => [g!.reshape(src.shape)] });
});

/** Permute axes (a copy). */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  const be = backendOf({ x });
  const p = perm ?? x.shape.map((_, i) => x.rank - 1 - i);
  if (p.length !== x.rank || [...p].sort((a, b) => a - b).some((v, i) => v !== i))
    throw new ArgumentError('perm', `expected a permutation of 0..${x.rank - 1}, got [${p.join(', ')}]`);
  const out = wrap(be, be.ops.transpose(x, p));
  if (needsGrad(x)) {
    const inv = new Array<number>(p.length);
    p.forEach((v, i) => {
      inv[v] = i;
    });
    record([out], {
      name: 'transpose',
      inputs: [x],
      backward: ([g]) => [wrap(be, be.ops.transpose(g!, inv))],
    });
  }
  return out;
}

/** x[..., start:end, ...] along axis (a copy). */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const be = backendOf({ x });
  const a = normAxis(axis, x.rank);
  const d = x.shape[a]!;
  if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= d))
    throw new ArgumentError('start/end', `expected 0 <= start <= end <= ${d}, got ${start}..${end}`);
  const out = wrap(be, be.ops.slice(x, a, start, end));
  if (needsGrad(x))
    record([out], {
      name: 'slice',
      inputs: [x],
      backward: ([g]) => {
        // Pad the gradient back with zeros on both sides along the axis.
        const parts = [];
        const before = x.shape.map((s, i) => (i === a ? start : s));
        const after = x.shape.map((s, i) => (i === a ? d - end : s));
        if (start > 0) parts.push(wrap(be, be.ops.fill(before, g!.dtype, 0)));
        parts.push(g!);
        if (end < d) parts.push(wrap(be, be.ops.fill(after, g!.dtype, 0)));
        const full = wrap(be, be.ops.concat(parts, a));
        for (const p of parts) if (p !== g) p.dispose();
        return [full];
      },
    });
  return out;
}

/** Concatenate along axis. */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new ArgumentError('xs', 'expected at least one tensor');
  const be = backendOf(Object.fromEntries(xs.map((t, i) => [`xs[${i}]`, t])));
  const a = normAxis(axis, xs[0]!.rank);
  const out = wrap(be, be.ops.concat(xs, a));
  if (needsGrad(...xs)) {
    const bounds: number[] = [];
    let acc = 0;
    for (const t of xs) {
      bounds.push(acc);
      acc += t.shape[a]!;
    }
    record([out], {
      name: 'concat',
      inputs: xs,
      backward: ([g]) =>
        xs.map((t, i) =>
          t.requiresGrad ? wrap(be, be.ops.slice(g!, a, bounds[i]!, bounds[i]! + t.shape[a]!)) : null,
        ),
    });
  }
  return out;
}
