import type { DType } from '../dtype.js';
import { Tensor } from '../tensor/tensor.js';
import { backendOf, needsGrad, record, wrap } from './dispatch.js';

/** Non-differentiable helper for gradient code: t in `dtype`, consuming t if a copy was needed. */
export function castTo(t: Tensor, dtype: DType): Tensor {
  if (t.dtype === dtype) return t;
  const out = Tensor.fromInfo(t.backend, t.backend.ops.cast(t, dtype));
  t.dispose();
  return out;
}

/** A copy of x in another dtype; the gradient is cast back. */
export function cast(x: Tensor, dtype: DType): Tensor {
  const be = backendOf({ x });
  if (x.dtype === dtype) return x.reshape(x.shape);
  const out = wrap(be, be.ops.cast(x, dtype));
  if (needsGrad(x) && dtype !== 'i32')
    record([out], { name: 'cast', inputs: [x], backward: ([g]) => [wrap(be, be.ops.cast(g!, x.dtype))] });
  return out;
}
