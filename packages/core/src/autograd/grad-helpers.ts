import { castTo } from '../ops/cast.js';
import { Tensor } from '../tensor/tensor.js';

/** a + b as a new tensor, consuming (disposing) both. Casts b to a's dtype if they differ. */
export function accumulateGrad(a: Tensor, b: Tensor): Tensor {
  const be = a.backend;
  const bb = castTo(b, a.dtype);
  const sum = Tensor.fromInfo(be, be.ops.binary('add', a, bb));
  a.dispose();
  bb.dispose();
  return sum;
}

export function onesLike(t: Tensor): Tensor {
  return Tensor.fromInfo(t.backend, t.backend.ops.fill(t.shape, t.dtype, 1));
}
