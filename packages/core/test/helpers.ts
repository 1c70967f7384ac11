import { type DType, encode, fromStorage, Random, type Tensor } from '../src/index.js';

/** A CPU tensor of normal samples (seeded), in dtype. */
export function rnd(
  shape: number[],
  seed: number,
  dtype: DType = 'bf16',
  requiresGrad = false,
  std = 1,
): Tensor {
  const rng = new Random(seed);
  const n = shape.reduce((a, d) => a * d, 1);
  const v = Float64Array.from({ length: n }, () => std * rng.normal());
  return fromStorage(encode(dtype, v), shape, dtype, { backend: 'cpu', requiresGrad });
}

/** Valid mHC coefficient inputs for x [n, hc, c]. */
export function coeffInputs(n: number, hc: number, c: number, seed = 1, requiresGrad = false) {
  const m = hc * hc + 2 * hc;
  return {
    x: rnd([n, hc, c], seed, 'bf16', requiresGrad),
    phi: rnd([hc * c, m], seed + 1, 'f32', requiresGrad, 0.1),
    b: rnd([m], seed + 2, 'f32', requiresGrad, 0.3),
    alphaPre: rnd([], seed + 3, 'f32', requiresGrad),
    alphaPost: rnd([], seed + 4, 'f32', requiresGrad),
    alphaRes: rnd([], seed + 5, 'f32', requiresGrad),
  };
}
