import type { Backend } from '../backend/contract.js';
import type { FloatDType } from '../dtype.js';
import { AllocationError, ArgumentError, ShapeError } from '../errors.js';
import { needsGrad } from '../ops/dispatch.js';
import {
  cast,
  full,
  type MhcCoefficients,
  type MhcOptions,
  randn,
  resolveMhcOptions,
  zeros,
} from '../ops/index.js';
import { mhcApplyAfterPre, mhcCoeffs, mhcCoeffsAndPre, mhcPostRes, mhcPre } from '../ops/mhc.js';
import { type MhcBoundary, mhcPostResCoeffsPre } from '../ops/mhc-cross-layer.js';
import { MAX_TENSOR_ELEMENTS } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkNumber, fmt } from '../util/options.js';
import type { Random } from '../util/random.js';
import { callLayer, checkLayer, type LayerLike, type TensorLayer } from './layers.js';
import { effectiveMethod, Module } from './module.js';

export interface LigerMHCOptions extends MhcOptions {
  /** Streams (hyper-connection expansion rate). */
  hc: number;
  /** Channels per stream (the wrapped layer's width). */
  c: number;
  /** dtype of φ (default f32). */
  phiDtype?: FloatDType;
  /** Initial value of the three α gains (default 0.01). */
  alphaInit?: number;
  backend?: string | Backend;
  rng?: Random;
}

/** The keys of LigerMHCOptions besides the mHC options. */
export const LIGER_MHC_OWN_KEYS = ['hc', 'c', 'phiDtype', 'alphaInit', 'backend', 'rng'] as const;

/** What a sublayer's entry gives: its coefficients and its layer input. */
export interface MhcBoundaryEntry {
  coeffs: MhcCoefficients;
  xIn: Tensor;
}

/** forward()'s request to the base coefficients(): pre of x, and the hPre it was computed with. */
interface PreRequest {
  x: Tensor;
  hPre?: Tensor;
  xIn?: Tensor;
}

/**
 * mHC around any layer [..., c] -> [..., c]: x [..., hc, c] -> coefficients (fused) -> pre ->
 * layer -> post_res -> [..., hc, c]. Parameters: phi [hc·c, hc²+2hc] (randn·0.02; [hc²+2hc, hc·c],
 * DeepSeek-V4's hc_*_fn layout, with `preset: 'deepseek-v4'` or phiLayout 'deepseek'), b [hc²+2hc]
 * (f32 zeros), alphaPre / alphaPost / alphaRes (f32 scalars). `preset` sets the conventions
 * (mhc-presets.ts); the layer input is cast to the dtype of the layer's first parameter, as in Liger.
 */
export class LigerMHC extends Module implements TensorLayer {
  readonly hc: number;
  readonly c: number;
  readonly options: MhcOptions;
  phi: Tensor;
  b: Tensor;
  alphaPre: Tensor;
  alphaPost: Tensor;
  alphaRes: Tensor;
  /** The wrapped layer (a Module is registered as child 'layer'). */
  layer: LayerLike;
  /** The last forward's coefficients are not kept; this hook lets tools observe them. */
  onCoefficients: ((c: MhcCoefficients) => void) | null = null;
  /**
   * Set by forward() around its coefficients(x) call: the base coefficients() then also computes
   * xIn = pre(x, hPre) (in the coefficient pass where the backend offers it, see mhcCoeffsAndPre)
   * and leaves it here. A subclass's coefficients() that calls super.coefficients(x) keeps this;
   * one that does not, or returns another hPre, gets the separate mhcPre (forward checks both).
   */
  private preRequest: PreRequest | null = null;

  constructor(layer: LayerLike, options: LigerMHCOptions) {
    super();
    checkLayer('layer', layer);
    if (options === null || typeof options !== 'object')
      throw new ArgumentError('options', `expected an options object with hc and c, got ${fmt(options)}`);
    const resolved = resolveMhcOptions(options, LIGER_MHC_OWN_KEYS);
    const { hc, c } = options;
    if (!Number.isInteger(hc) || hc < 1) throw new ArgumentError('hc', `expected an integer >= 1, got ${hc}`);
    if (!Number.isInteger(c) || c < 1) throw new ArgumentError('c', `expected an integer >= 1, got ${c}`);
    // φ is the largest tensor: refuse an impossible one by its size before allocating anything.
    const mm = hc * hc + 2 * hc;
    if (hc * c * mm > MAX_TENSOR_ELEMENTS)
      throw new AllocationError(
        'hc',
        [hc * c, mm],
        hc * c * mm,
        hc * c * mm * 4,
        `φ of hc=${hc}, c=${c} exceeds ${MAX_TENSOR_ELEMENTS} elements`,
      );
    if (options.alphaInit !== undefined) checkNumber('options.alphaInit', options.alphaInit);
    if (hc > 16)
      console.warn(
        `LigerMHC: hc=${hc} > 16; Sinkhorn on ${hc}x${hc} matrices per token is slow and rarely useful`,
      );
    this.hc = hc;
    this.c = c;
    const { hc: _h, c: _c, phiDtype, alphaInit, backend, rng, ...mhc } = options;
    this.options = mhc;
    const m = hc * hc + 2 * hc;
    const a = alphaInit ?? 0.01;
    this.phi = this.registerParameter(
      'phi',
      // In the preset's layout: [hc·c, M] for Liger, V4's hc_*_fn [M, hc·c] for 'deepseek-v4'.
      randn(resolved.phiLayout === 'deepseek' ? [m, hc * c] : [hc * c, m], {
        dtype: phiDtype ?? 'f32',
        std: 0.02,
        backend,
        rng,
      }),
    );
    this.b = this.registerParameter('b', zeros([m], { dtype: 'f32', backend }));
    this.alphaPre = this.registerParameter('alphaPre', full([], a, { dtype: 'f32', backend }));
    this.alphaPost = this.registerParameter('alphaPost', full([], a, { dtype: 'f32', backend }));
    this.alphaRes = this.registerParameter('alphaRes', full([], a, { dtype: 'f32', backend }));
    this.layer = layer;
    if (layer instanceof Module) this.registerModule('layer', layer);
  }

  coefficients(x: Tensor): MhcCoefficients {
    this.checkInput(x);
    const params = [this.phi, this.b, this.alphaPre, this.alphaPost, this.alphaRes] as const;
    const req = this.preRequest;
    if (req?.x !== x || req.xIn) return mhcCoeffs(x, ...params, this.options);
    const { coeffs, xIn } = mhcCoeffsAndPre(x, ...params, this.options);
    req.hPre = coeffs.hPre;
    req.xIn = xIn;
    return coeffs;
  }

  forward(x: Tensor): Tensor {
    const req: PreRequest = { x };
    this.preRequest = req;
    let coeffs: MhcCoefficients;
    try {
      coeffs = this.coefficients(x);
    } finally {
      this.preRequest = null;
    }
    this.onCoefficients?.(coeffs);
    let xIn = req.xIn ?? null;
    // Keep the early xIn only if it is what mhcPre would give here: same hPre (an overridden
    // coefficients() or the hook may substitute one) and the same node or none (the hook may change
    // requiresGrad).
    if (xIn && (req.hPre !== coeffs.hPre || (xIn.gradFn !== null) !== needsGrad(x, coeffs.hPre))) {
      xIn.gradFn?.release();
      xIn.dispose();
      xIn = null;
    }
    xIn ??= mhcPre(x, coeffs.hPre, this.options);
    return mhcApplyAfterPre(x, this.layerInput(xIn), (t) => callLayer(this.layer, t), coeffs, this.options);
  }

  /** Liger's rule: the layer input is cast to the dtype of the layer's first parameter. */
  private layerInput(xIn: Tensor): Tensor {
    const layerDtype = this.layer instanceof Module ? this.layer.parameters()[0]?.dtype : undefined;
    if (!layerDtype || layerDtype === xIn.dtype || layerDtype === 'i32') return xIn;
    const castIn = cast(xIn, layerDtype);
    xIn.dispose();
    return castIn;
  }

  /**
   * Whether a stack may run this sublayer in steps (enter, branch, exit / exitInto) and fuse its
   * entry with the previous sublayer's exit (forwardMhcStack): true when forward() is LigerMHC's
   * own, with no coefficient hook or override that could change what the steps compute.
   */
  crossLayerReady(): boolean {
    return (
      this.onCoefficients === null &&
      this.coefficients === LigerMHC.prototype.coefficients &&
      effectiveMethod(this, 'forward') === LigerMHC.prototype.forward
    );
  }

  /** forward()'s first step: the coefficients of x and the layer input pre(x, hPre). */
  enter(x: Tensor): MhcBoundaryEntry {
    this.checkInput(x);
    const params = [this.phi, this.b, this.alphaPre, this.alphaPost, this.alphaRes] as const;
    return mhcCoeffsAndPre(x, ...params, this.options);
  }

  /** forward()'s second step: the wrapped layer on xIn (cast as forward casts it), checked [..., c]. */
  branch(xIn: Tensor): Tensor {
    const input = this.layerInput(xIn);
    const f = callLayer(this.layer, input);
    if (f.rank !== input.rank || f.shape.some((d, i) => d !== input.shape[i]))
      throw new ShapeError(
        'layer output',
        `[${input.shape.join(', ')}] (the layer must map [..., c] to [..., c])`,
        f.shape,
      );
    return f;
  }

  /** forward()'s last step: the new streams post_res(x, f). */
  exit(x: Tensor, f: Tensor, coeffs: MhcCoefficients): Tensor {
    return mhcPostRes(x, f, coeffs.hPost, coeffs.hRes, this.options);
  }

  /**
   * This sublayer's exit fused with `next`'s entry (mhcPostResCoeffsPre): post_res with this
   * sublayer's orientation, then next's coefficients and pre of the new streams.
   */
  exitInto(x: Tensor, f: Tensor, coeffs: MhcCoefficients, next: LigerMHC): MhcBoundary {
    if (next.hc !== this.hc || next.c !== this.c)
      throw new ShapeError('next', `a LigerMHC with hc=${this.hc}, c=${this.c} (this sublayer's streams)`, [
        next.hc,
        next.c,
      ]);
    const orientation = resolveMhcOptions(this.options).orientation;
    const params = [next.phi, next.b, next.alphaPre, next.alphaPost, next.alphaRes] as const;
    return mhcPostResCoeffsPre(x, f, coeffs.hPost, coeffs.hRes, ...params, { ...next.options, orientation });
  }

  private checkInput(x: Tensor): void {
    if (x.rank < 2 || x.shape[x.rank - 2] !== this.hc || x.shape[x.rank - 1] !== this.c)
      throw new ShapeError(
        'x',
        `[..., ${this.hc}, ${this.c}] (hc=${this.hc}, c=${this.c} of this LigerMHC)`,
        x.shape,
      );
  }
}
