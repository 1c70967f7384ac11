import {
  callLayer,
  LigerMHC,
  type MhcCoefficients,
  mhcPostRes,
  mhcPre,
  Random,
  type Tensor,
} from '@liger-mhc/core';
import {
  type MhcParams,
  type ReferenceMHC,
  referenceMhcCoeffs,
  referenceMhcPostRes,
  referenceMhcPre,
} from '@liger-mhc/models';
import { setParameter } from './swap.js';

/** Which of the three mHC computations run as fused kernels. */
export interface FusedOps {
  coeffs: boolean;
  pre: boolean;
  postRes: boolean;
}

export type MhcOpName = keyof FusedOps;

/**
 * What `applyLigerMhc` puts in place of a ReferenceMHC: a LigerMHC (so code and tests that look for
 * LigerMHC find it) that shares the reference module's parameter tensors and wrapped layer. With
 * every op fused it is exactly LigerMHC; with some ops left out, those run the reference math.
 */
export class PatchedLigerMHC extends LigerMHC {
  readonly fused: Readonly<FusedOps>;

  constructor(
    readonly original: ReferenceMHC,
    fused: FusedOps,
  ) {
    // A throwaway seeded generator: the placeholder parameters LigerMHC draws must not consume the
    // process-wide default generator (that would change what the user's next randn returns).
    super(original.layer, {
      ...original.options,
      // The reference accepted f32 activations; its replacement must not start rejecting them.
      allowFp32: true,
      hc: original.hc,
      c: original.c,
      backend: original.phi.backend,
      rng: new Random(0),
    });
    this.fused = { ...fused };
    const shared = original.params;
    for (const name of Object.keys(shared) as (keyof MhcParams)[]) {
      const placeholder = this[name];
      setParameter(this, name, shared[name]);
      placeholder.dispose();
    }
  }

  override coefficients(x: Tensor): MhcCoefficients {
    return this.fused.coeffs ? super.coefficients(x) : referenceMhcCoeffs(x, this.params, this.options);
  }

  /** With every op fused this is LigerMHC's forward, so stacks may fuse across its boundaries. */
  override crossLayerReady(): boolean {
    const { coeffs, pre, postRes } = this.fused;
    return coeffs && pre && postRes && this.onCoefficients === null;
  }

  override forward(x: Tensor): Tensor {
    const { coeffs, pre, postRes } = this.fused;
    if (coeffs && pre && postRes) return super.forward(x);
    const h = this.coefficients(x);
    this.onCoefficients?.(h);
    const xIn = pre ? mhcPre(x, h.hPre, this.options) : referenceMhcPre(x, h.hPre);
    const f = callLayer(this.layer, xIn);
    return postRes
      ? mhcPostRes(x, f, h.hPost, h.hRes, this.options)
      : referenceMhcPostRes(x, f, h.hPost, h.hRes, this.options);
  }
}
