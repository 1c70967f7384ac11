import { normAxis, sameShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { backendOf, needsGrad, record, wrap } from './dispatch.js';
import { viewInfo } from './save.js';

/** Sum over axes (all when omitted). */
export function sum(x: Tensor, axes?: readonly number[], keepDims = false): Tensor {
  const be = backendOf({ x });
  const ax = (axes ?? x.shape.map((_, i) => i)).map((a) => normAxis(a, x.rank, 'axes'));
  const out = wrap(be, be.ops.sum(x, ax, keepDims));
  if (!needsGrad(x)) return out;
  record([out], {
    name: 'sum',
    inputs: [x],
    backward: ([g]) => {
      const kept = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
      return [wrap(be, be.ops.broadcastTo(viewInfo(g!, kept), x.shape))];
    },
  });
  return out;
}

export function mean(x: Tensor, axes?: readonly number[], keepDims = false): Tensor {
  const ax = (axes ?? x.shape.map((_, i) => i)).map((a) => normAxis(a, x.rank, 'axes'));
  const count = ax.reduce((n, a) => n * x.shape[a]!, 1);
  const s = sum(x, ax, keepDims);
  const be = s.backend;
  const out = wrap(be, be.ops.affine(s, 1 / count, 0));
  if (needsGrad(s))
    record([out], {
      name: 'mean',
      inputs: [s],
      backward: ([g]) => [wrap(be, be.ops.affine(g!, 1 / count, 0))],
    });
  return out;
}

/** Broadcast x to shape; the gradient sums back. */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  const be = backendOf({ x });
  const out = wrap(be, be.ops.broadcastTo(x, shape));
  if (needsGrad(x))
    record([out], {
      name: 'broadcastTo',
      inputs: [x],
      backward: ([g]) => [sumToShape(g!.reshape(g!.shape), x.shape)],
    });
  return out;
}

/**
 * Reduce a broadcast gradient back to `shape` (gradient code only: consumes g). Sums the leading
 * axes that broadcasting added and the axes where shape has 1.
 */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const be = g.backend;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  const s = wrap(be, be.ops.sum(g, axes, true));
  g.dispose();
  const out = s.reshape(shape);
  s.dispose();
  return out;
}
