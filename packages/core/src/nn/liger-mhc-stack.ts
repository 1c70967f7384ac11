import { ArgumentError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { callLayer, type LayerLike } from './layers.js';
import { LigerMHC, type MhcBoundaryEntry } from './liger-mhc.js';
import { recomputeInBackward } from './recompute.js';

export interface MhcStackOptions {
  /**
   * Recomputation blocks (the mHC paper's L_r): the layers run in blocks of this many, each keeping
   * only its input for the backward and running its forward again there (recomputeInBackward).
   * Boundaries inside a block are fused; a block's input is its first sublayer's entry. Unset: every
   * activation is kept.
   */
  recomputeEvery?: number;
  /** With recomputeEvery: called with each block's recomputed output in the backward. */
  onRecompute?: (y: Tensor) => void;
}

/**
 * Runs layers in sequence, x -> layers[0] -> layers[1] -> ..., like calling each forward in turn,
 * except that between two consecutive LigerMHC sublayers (both crossLayerReady, same hc and c) the
 * first one's post_res and the second one's coefficients + pre run as one boundary op
 * (mhcPostResCoeffsPre): one pass over the streams instead of three where the backend has the
 * cross-layer kernels, the separate ops otherwise. Values and gradients are those of the plain
 * sequence (bitwise on the CPU reference). Other layers, and LigerMHC subclasses that change the
 * steps, run their own forward.
 */
export function forwardMhcStack(
  layers: readonly LayerLike[],
  x: Tensor,
  options: MhcStackOptions = {},
): Tensor {
  const every = options.recomputeEvery;
  if (every !== undefined) {
    if (!Number.isInteger(every) || every < 1)
      throw new ArgumentError('recomputeEvery', `expected an integer >= 1, got ${every}`);
    for (let i = 0; i < layers.length; i += every) {
      const block = layers.slice(i, i + every);
      x = recomputeInBackward((t) => forwardMhcStack(block, t), x, { onRecompute: options.onRecompute });
    }
    return x;
  }
  let entered: MhcBoundaryEntry | null = null;
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i]!;
    if (!chainable(layer)) {
      x = callLayer(layer, x);
      continue;
    }
    const { coeffs, xIn } = entered ?? layer.enter(x);
    entered = null;
    const f = layer.branch(xIn);
    const next = layers[i + 1];
    if (next !== undefined && chainable(next) && next.hc === layer.hc && next.c === layer.c) {
      const r = layer.exitInto(x, f, coeffs, next);
      x = r.xOut;
      entered = { coeffs: r.coeffs, xIn: r.xIn };
    } else x = layer.exit(x, f, coeffs);
  }
  return x;
}

function chainable(layer: LayerLike): layer is LigerMHC {
  return layer instanceof LigerMHC && layer.crossLayerReady();
}
