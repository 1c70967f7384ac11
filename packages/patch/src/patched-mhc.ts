import { type FusedOps, LigerMHC, mhcImplementation } from '@liger-mhc/core';
import type { ReferenceMHC } from '@liger-mhc/models';

export type { FusedOps, MhcOpName } from '@liger-mhc/core';

/**
 * What `applyLigerMhc` puts in place of a ReferenceMHC: a LigerMHC (so code and tests that look for
 * LigerMHC find it) that shares the reference module's parameter tensors and wrapped layer, on the
 * fused kernels for the ops `fused` names and the unfused ops for the rest (mhcImplementation).
 */
export class PatchedLigerMHC extends LigerMHC {
  readonly fused: Readonly<FusedOps>;

  constructor(
    readonly original: ReferenceMHC,
    fused: FusedOps,
  ) {
    super(original.layer, {
      ...original.options,
      // The reference accepted f32 activations; its replacement must not start rejecting them.
      allowFp32: true,
      hc: original.hc,
      c: original.c,
      params: original.params,
      implementation: mhcImplementation(fused),
      layerInputDtype: original.layerInputDtype,
    });
    this.fused = { ...fused };
  }
}
