import { type LayerLike, LigerMHC, type LigerMHCOptions, UNFUSED_MHC } from '@liger-mhc/core';

export type ReferenceMHCOptions = Omit<LigerMHCOptions, 'implementation'>;

/**
 * LigerMHC on the unfused ops (core's UNFUSED_MHC: matmul, elementwise, sums, softmax; autograd
 * derives the backward): the mHC a user starts from and what `applyLigerMhc` swaps for the fused
 * kernels. Parameters, names, initialisation and options are LigerMHC's own, so a state dict moves
 * between the two and the swap shares the very same tensors (`params`).
 */
export class ReferenceMHC extends LigerMHC {
  constructor(layer: LayerLike, options: ReferenceMHCOptions) {
    super(layer, { ...options, implementation: UNFUSED_MHC });
  }
}
