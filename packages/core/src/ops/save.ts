import type { TensorInfo } from '../backend/contract.js';
import { noGrad } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * A view kept by a gradient node. It shares storage with `t`, so the user may dispose their own
 * handle before backward; the storage goes when the node is released (after backward) or when the
 * enclosing tidy scope ends.
 */
export function saveForBackward(t: Tensor): Tensor {
  return noGrad(() => t.reshape(t.shape));
}

/**
 * The same storage seen with another shape, as a TensorInfo (no new Tensor): for kernel arguments,
 * and for kernel results before they are wrapped.
 */
export function viewInfo(t: TensorInfo, shape: readonly number[]): TensorInfo {
  return { handle: t.handle, shape, dtype: t.dtype };
}
