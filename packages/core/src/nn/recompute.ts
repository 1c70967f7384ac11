import { record } from '../ops/dispatch.js';
import { saveForBackward } from '../ops/save.js';
import { isGradEnabled, noGrad, tidy, withGrad } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

export interface RecomputeOptions {
  /** Called in the backward with the recomputed output, before it is differentiated (tests, tools). */
  onRecompute?: (y: Tensor) => void;
}

/**
 * y = fn(x), keeping only x for the backward (the mHC paper's recomputation blocks): the forward
 * runs without recording, and the backward runs fn again on x with recording on, then
 * differentiates that. Saves every activation inside fn (the streams, coefficients and layer inputs
 * of each sublayer) at the price of one more forward. fn must be deterministic, which every kernel
 * of this library is, so the recomputed values are the forward's, bit for bit. Parameters used by fn
 * get their gradients during the recomputed backward, as in any backward.
 */
export function recomputeInBackward(
  fn: (x: Tensor) => Tensor,
  x: Tensor,
  options: RecomputeOptions = {},
): Tensor {
  if (!isGradEnabled()) return fn(x);
  const y = tidy(() => noGrad(() => fn(x)));
  const sx = saveForBackward(x);
  record([y], {
    name: 'recompute',
    inputs: [x],
    owned: [sx],
    backward: ([g]) => {
      if (!g) return [null];
      return [
        tidy(() =>
          withGrad(() => {
            // A fresh leaf over x's storage: the recomputed graph ends here.
            const xi = noGrad(() => sx.reshape(sx.shape));
            xi.requiresGrad = x.requiresGrad;
            const y2 = fn(xi);
            options.onRecompute?.(y2);
            if (!y2.requiresGrad) return null;
            y2.backward(g);
            const gx = xi.grad;
            xi.grad = null;
            return gx;
          }),
        ),
      ];
    },
  });
  return y;
}
