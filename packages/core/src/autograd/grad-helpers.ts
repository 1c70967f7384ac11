import { Tensor } from '../tensor/tensor.js';

/** a + b as a new tensor, consuming (disposing) both. Casts b to a's dtype if they differ. */
export function accumulateGrad(a: Tensor, b: Tensor): Tensor {
  const be = a.backend;
  let bb = b;
  if (b.dtype !== a.dtype) {
    bb = Tensor.fromInfo(be, be.ops.cast(b, a.dtype));
    b.dispose();
  }
  const sum = Tensor.fromInfo(be, be.ops.binary('add', a, bb));
  a.dispose();
  bb.dispose();
  return sum;
}

export function onesLike(t: Tensor): Tensor {
  return Tensor.fromInfo(t.backend, t.backend.ops.fill(t.shape, t.dtype, 1));
}
