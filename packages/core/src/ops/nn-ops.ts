import { DTypeError, ShapeError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { backendOf, needsGrad, record, wrap } from './dispatch.js';
import { saveForBackward } from './save.js';

/** Rows of weight [V, D] gathered by ids (i32) -> [...ids.shape, D]. */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  const be = backendOf({ weight, ids });
  if (ids.dtype !== 'i32') throw new DTypeError('ids', 'i32', ids.dtype);
  if (weight.rank !== 2) throw new ShapeError('weight', '[vocab, dim]', weight.shape);
  const out = wrap(be, be.ops.embedding(weight, ids));
  if (!needsGrad(weight)) return out;
  const sids = saveForBackward(ids);
  record([out], {
    name: 'embedding',
    inputs: [weight, null],
    owned: [sids],
    backward: ([g]) => [wrap(be, be.ops.embeddingBackward(g!, sids, weight.shape[0]!))],
  });
  return out;
}

export interface CrossEntropyOptions {
  /** Labels equal to this are excluded from the mean (default -100, as in PyTorch). */
  ignoreIndex?: number;
}

/** Mean cross-entropy of logits [N, V] against labels i32 [N]; returns a [] f32 scalar. */
export function crossEntropy(logits: Tensor, labels: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const be = backendOf({ logits, labels });
  const ignore = options.ignoreIndex ?? -100;
  if (labels.dtype !== 'i32') throw new DTypeError('labels', 'i32', labels.dtype);
  if (logits.rank !== 2) throw new ShapeError('logits', '[N, V]', logits.shape);
  if (labels.rank !== 1 || labels.shape[0] !== logits.shape[0])
    throw new ShapeError('labels', `[${logits.shape[0]}]`, labels.shape);
  const r = be.ops.crossEntropy(logits, labels, ignore);
  const loss = wrap(be, r.loss);
  const lse = wrap(be, r.lse);
  if (!needsGrad(logits)) {
    lse.dispose();
    return loss;
  }
  const sl = saveForBackward(logits);
  const sy = saveForBackward(labels);
  record([loss], {
    name: 'crossEntropy',
    inputs: [logits, null],
    owned: [sl, sy, lse],
    backward: ([g]) => [wrap(be, be.ops.crossEntropyBackward(g!, sl, sy, lse, ignore))],
  });
  return loss;
}

/** Softmax over the last axis; `causal` masks keys after the query (last two axes). */
export function softmax(x: Tensor, options: { causal?: boolean } = {}): Tensor {
  const be = backendOf({ x });
  const causal = options.causal ?? false;
  if (causal && (x.rank < 2 || x.shape[x.rank - 1] !== x.shape[x.rank - 2]))
    throw new ShapeError('x', '[..., T, T] for a causal softmax', x.shape);
  const y = wrap(be, be.ops.softmax(x, causal));
  if (!needsGrad(x)) return y;
  const sy = saveForBackward(y);
  record([y], {
    name: 'softmax',
    inputs: [x],
    owned: [sy],
    backward: ([g]) => [wrap(be, be.ops.softmaxBackward(sy, g!))],
  });
  return y;
}

/** RMSNorm over the last axis with a learned scale weight [D]. */
export function rmsNorm(x: Tensor, weight: Tensor, eps = 1e-6): Tensor {
  const be = backendOf({ x, weight });
  const d = x.shape[x.rank - 1];
  if (weight.rank !== 1 || weight.shape[0] !== d) throw new ShapeError('weight', `[${d}]`, weight.shape);
  const r = be.ops.rmsNorm(x, weight, eps);
  const y = wrap(be, r.y);
  const invr = wrap(be, r.invr);
  if (!needsGrad(x, weight)) {
    invr.dispose();
    return y;
  }
  const sx = saveForBackward(x);
  const sw = saveForBackward(weight);
  record([y], {
    name: 'rmsNorm',
    inputs: [x, weight],
    owned: [sx, sw, invr],
    backward: ([g]) => {
      const gr = be.ops.rmsNormBackward(g!, sx, sw, invr);
      return [wrap(be, gr.gradX), wrap(be, gr.gradWeight)];
    },
  });
  return y;
}
