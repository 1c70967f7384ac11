import {
  ArgumentError,
  type CrossEntropyResult,
  DTypeError,
  ShapeError,
  sizeOf,
  type TensorInfo,
} from '@liger-mhc/core';
import type { WebGpuBackend } from '../../backend.js';
import { elementwiseGroups } from './elementwise.wgsl.js';
import { crossEntropyBackwardKernel, crossEntropyMeanKernel, crossEntropyRowsKernel } from './rows.wgsl.js';

/** logits float [N, V], labels i32 [N], an integer ignoreIndex; returns [N, V]. */
function ceChecks(logits: TensorInfo, labels: TensorInfo, ignoreIndex: number): [number, number] {
  if (logits.shape.length !== 2) throw new ShapeError('logits', '[N, V]', logits.shape);
  if (logits.dtype === 'i32') throw new DTypeError('logits', 'a float dtype (f32, f16, bf16)', logits.dtype);
  if (labels.dtype !== 'i32') throw new DTypeError('labels', 'i32', labels.dtype);
  const [N, V] = logits.shape as [number, number];
  if (labels.shape.length !== 1 || labels.shape[0] !== N)
    throw new ShapeError('labels', `[${N}] (one label per row of logits)`, labels.shape);
  if (!Number.isInteger(ignoreIndex))
    throw new ArgumentError('ignoreIndex', `expected an integer, got ${ignoreIndex}`);
  return [N, V];
}

/** [mean, count] of the kept rows' loss terms. */
function ceMean(
  b: WebGpuBackend,
  term: TensorInfo,
  labels: TensorInfo,
  N: number,
  ignoreIndex: number,
): TensorInfo {
  const st = b.output([2], 'f32');
  b.dispatch(crossEntropyMeanKernel(), [term, labels, st], { rows: N, ignoreIndex }, 1);
  return st;
}

/** Mean cross-entropy over the kept rows, and each row's log-sum-exp for the backward. */
export function crossEntropyForward(
  b: WebGpuBackend,
  logits: TensorInfo,
  labels: TensorInfo,
  ignoreIndex: number,
): CrossEntropyResult {
  b.check({ logits, labels });
  const [N, V] = ceChecks(logits, labels, ignoreIndex);
  const lse = b.output([N], 'f32');
  const term = b.output([N], 'f32');
  b.dispatch(crossEntropyRowsKernel(logits.dtype), [logits, labels, lse, term], { n: N, V, ignoreIndex }, N);
  const st = ceMean(b, term, labels, N, ignoreIndex);
  b.disposeData(term.handle);
  const loss = b.output([], 'f32');
  b.copy(b.buf(st, 'st'), 0, b.buf(loss, 'loss'), 0, 4);
  b.disposeData(st.handle);
  return { loss, lse };
}

/** d loss / d logits: (softmax - onehot) · gradLoss / kept rows, zero on ignored rows. */
export function crossEntropyBackward(
  b: WebGpuBackend,
  gradLoss: TensorInfo,
  logits: TensorInfo,
  labels: TensorInfo,
  lse: TensorInfo,
  ignoreIndex: number,
): TensorInfo {
  b.check({ gradLoss, logits, labels, lse });
  const [N, V] = ceChecks(logits, labels, ignoreIndex);
  if (gradLoss.dtype !== 'f32') throw new DTypeError('gradLoss', 'f32', gradLoss.dtype);
  if (sizeOf(gradLoss.shape) !== 1) throw new ShapeError('gradLoss', '[] (a scalar)', gradLoss.shape);
  if (lse.dtype !== 'f32') throw new DTypeError('lse', 'f32', lse.dtype);
  if (lse.shape.length !== 1 || lse.shape[0] !== N)
    throw new ShapeError('lse', `[${N}] (one per row of logits)`, lse.shape);
  // The kept-row count comes from the labels on the GPU (the same stage-2 kernel as the forward,
  // with zero terms).
  const zeros = b.zeros([N], 'f32');
  const st = ceMean(b, zeros, labels, N, ignoreIndex);
  b.disposeData(zeros.handle);
  const n = N * V;
  const out = b.output([N, V], logits.dtype);
  b.dispatch(
    crossEntropyBackwardKernel(logits.dtype, logits.dtype),
    [logits, labels, lse, st, gradLoss, out],
    { n, V, ignoreIndex },
    elementwiseGroups(n, logits.dtype),
  );
  b.disposeData(st.handle);
  return out;
}
