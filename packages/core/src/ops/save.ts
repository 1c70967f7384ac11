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

/** A TensorInfo-shaped view of t with another shape (no new Tensor, for kernel arguments). */
export function viewInfo(t: Tensor, shape: readonly number[]) {
  return { handle: t.handle, shape, dtype: t.dtype };
}
