import type { Backend } from '../backend/contract.js';
import type { FloatDType } from '../dtype.js';
import { AllocationError, ArgumentError, ShapeError } from '../errors.js';
import {
  cast,
  full,
  type MhcCoefficients,
  type MhcOptions,
  pickMhcOptions,
  randn,
  resolveMhcOptions,
  zeros,
} from '../ops/index.js';
import { callLayerChecked, type MhcCoefficientsAndPre } from '../ops/mhc.js';
import { type MhcBoundary, mhcPostResCoeffsPre } from '../ops/mhc-cross-layer.js';
import type { MhcParams } from '../ops/mhc-unfused.js';
import { MAX_TENSOR_ELEMENTS } from '../tensor/shape.js';
import { isTensor, type Tensor } from '../tensor/tensor.js';
import { checkNumber, fmt } from '../util/options.js';
import type { Random } from '../util/random.js';
import { checkLayer, type LayerLike, type TensorLayer } from './layers.js';
import { FUSED_MHC, type MhcImplementation } from './mhc-implementation.js';
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
  /** Use these tensors as parameters instead of fresh ones (shared, not copied). */
  params?: MhcParams;
  /** Which ops compute the layer (default FUSED_MHC, the backend's fused kernels). */
  implementation?: MhcImplementation;
  /**
   * The dtype the layer input reaches the layer in: 'layer' (default, Liger's rule) casts it to
   * the dtype of the layer's first parameter; 'streams' keeps the streams' dtype, for layers that
   * hold f32 master weights and compute in their input's dtype (this library's Linear, RMSNorm and
   * attention), where 'layer' would run a bf16 model's every branch in f32. PyTorch reaches the same
   * through autocast.
   */
  layerInputDtype?: 'layer' | 'streams';
}

/** The keys of LigerMHCOptions besides the mHC options. */
export const LIGER_MHC_OWN_KEYS = [
  'hc',
  'c',
  'phiDtype',
  'alphaInit',
  'backend',
  'rng',
  'params',
  'implementation',
  'layerInputDtype',
] as const;

/** What a sublayer's entry gives: its coefficients and its layer input. */
export type MhcBoundaryEntry = MhcCoefficientsAndPre;

const PARAM_NAMES = ['phi', 'b', 'alphaPre', 'alphaPost', 'alphaRes'] as const;

/**
 * mHC around any layer [..., c] -> [..., c]: x [..., hc, c] -> coefficients -> pre -> layer ->
 * post_res -> [..., hc, c]. Parameters: phi [hc·c, hc²+2hc] (randn·0.02; [hc²+2hc, hc·c],
 * DeepSeek-V4's hc_*_fn layout, with `preset: 'deepseek-v4'` or phiLayout 'deepseek'), b [hc²+2hc]
 * (f32 zeros), alphaPre / alphaPost / alphaRes (f32 scalars). `preset` sets the conventions
 * (mhc-presets.ts); the layer input is cast to the dtype of the layer's first parameter, as in Liger
 * (or kept in the streams' dtype: `layerInputDtype`).
 * `implementation` picks the ops (FUSED_MHC by default, UNFUSED_MHC, or mhcImplementation's mix);
 * parameters, names, initialisation and options are the same whichever runs, so a state dict
 * moves between them and a module can share another's tensors (`params`).
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
  /** The last forward's coefficients are not kept; this hook lets tools observe them (read only). */
  onCoefficients: ((c: MhcCoefficients) => void) | null = null;
  /** The ops forward() runs (fused kernels, unfused generic ops, or a mix). */
  readonly implementation: MhcImplementation;
  /** How the layer input's dtype is chosen (see LigerMHCOptions.layerInputDtype). */
  readonly layerInputDtype: 'layer' | 'streams';

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
    const m = hc * hc + 2 * hc;
    if (hc * c * m > MAX_TENSOR_ELEMENTS)
      throw new AllocationError(
        'hc',
        [hc * c, m],
        hc * c * m,
        hc * c * m * 4,
        `φ of hc=${hc}, c=${c} exceeds ${MAX_TENSOR_ELEMENTS} elements`,
      );
    if (options.alphaInit !== undefined) checkNumber('options.alphaInit', options.alphaInit);
    const { phiDtype, alphaInit, backend, rng, params, implementation, layerInputDtype } = options;
    if (implementation !== undefined) checkImplementation(implementation);
    if (layerInputDtype !== undefined && layerInputDtype !== 'layer' && layerInputDtype !== 'streams')
      throw new ArgumentError(
        'layerInputDtype',
        `expected 'layer' or 'streams', got ${fmt(layerInputDtype)}`,
      );
    // In the preset's layout: [hc·c, M] for Liger, V4's hc_*_fn [M, hc·c] for 'deepseek-v4'.
    const phiShape = resolved.phiLayout === 'deepseek' ? [m, hc * c] : [hc * c, m];
    if (params !== undefined) checkParams(params, phiShape, m);
    if (hc > 16)
      console.warn(
        `LigerMHC: hc=${hc} > 16; Sinkhorn on ${hc}x${hc} matrices per token is slow and rarely useful`,
      );
    this.hc = hc;
    this.c = c;
    this.options = pickMhcOptions(options);
    this.implementation = implementation ?? FUSED_MHC;
    this.layerInputDtype = layerInputDtype ?? 'layer';
    const a = alphaInit ?? 0.01;
    const p = params ?? {
      phi: randn(phiShape, { dtype: phiDtype ?? 'f32', std: 0.02, backend, rng }),
      b: zeros([m], { dtype: 'f32', backend }),
      alphaPre: full([], a, { dtype: 'f32', backend }),
      alphaPost: full([], a, { dtype: 'f32', backend }),
      alphaRes: full([], a, { dtype: 'f32', backend }),
    };
    // registerParameter marks requiresGrad; shared tensors keep the flag they came with.
    const flags = PARAM_NAMES.map((k) => p[k].requiresGrad);
    this.phi = this.registerParameter('phi', p.phi);
    this.b = this.registerParameter('b', p.b);
    this.alphaPre = this.registerParameter('alphaPre', p.alphaPre);
    this.alphaPost = this.registerParameter('alphaPost', p.alphaPost);
    this.alphaRes = this.registerParameter('alphaRes', p.alphaRes);
    if (params) for (const [i, k] of PARAM_NAMES.entries()) p[k].requiresGrad = flags[i]!;
    this.layer = layer;
    if (layer instanceof Module) this.registerModule('layer', layer);
  }

  /** The parameter tensors by name (the live tensors, as another module's `params` option takes them). */
  get params(): MhcParams {
    const { phi, b, alphaPre, alphaPost, alphaRes } = this;
    return { phi, b, alphaPre, alphaPost, alphaRes };
  }

  /** The coefficients of x as forward() computes them (the implementation's coeffs). */
  coefficients(x: Tensor): MhcCoefficients {
    this.checkInput(x);
    return this.implementation.coeffs(x, this.params, this.options);
  }

  forward(x: Tensor): Tensor {
    const { coeffs, xIn } = this.enter(x);
    this.onCoefficients?.(coeffs);
    return this.exit(x, this.branch(xIn), coeffs);
  }

  /**
   * Whether a stack may run this sublayer in steps (enter, branch, exit / exitInto) and fuse its
   * entry with the previous sublayer's exit (forwardMhcStack): true when forward() is LigerMHC's
   * own and no coefficient hook waits for the coefficients (the steps do not call it).
   */
  crossLayerReady(): boolean {
    return this.onCoefficients === null && effectiveMethod(this, 'forward') === LigerMHC.prototype.forward;
  }

  /**
   * forward()'s first step: the coefficients of x and the layer input pre(x, hPre), in one pass over
   * x where the implementation and the backend fuse them.
   */
  enter(x: Tensor): MhcBoundaryEntry {
    this.checkInput(x);
    return this.implementation.coeffsPre(x, this.params, this.options);
  }

  /** forward()'s second step: the wrapped layer on xIn (cast as Liger casts it), checked [..., c]. */
  branch(xIn: Tensor): Tensor {
    return callLayerChecked(this.layer, this.layerInput(xIn));
  }

  /** forward()'s last step: the new streams post_res(x, f). */
  exit(x: Tensor, f: Tensor, coeffs: MhcCoefficients): Tensor {
    return this.implementation.postRes(x, f, coeffs.hPost, coeffs.hRes, this.options);
  }

  /**
   * This sublayer's exit followed by `next`'s entry: one boundary op (mhcPostResCoeffsPre: post_res
   * with this sublayer's orientation, then next's coefficients and pre of the new streams) when both
   * run the fused kernels, else exit then next.enter.
   */
  exitInto(x: Tensor, f: Tensor, coeffs: MhcCoefficients, next: LigerMHC): MhcBoundary {
    if (next.hc !== this.hc || next.c !== this.c)
      throw new ShapeError('next', `a LigerMHC with hc=${this.hc}, c=${this.c} (this sublayer's streams)`, [
        next.hc,
        next.c,
      ]);
    if (this.implementation !== FUSED_MHC || next.implementation !== FUSED_MHC) {
      const xOut = this.exit(x, f, coeffs);
      return { xOut, ...next.enter(xOut) };
    }
    const orientation = resolveMhcOptions(this.options).orientation;
    const p = next.params;
    return mhcPostResCoeffsPre(
      x,
      f,
      coeffs.hPost,
      coeffs.hRes,
      p.phi,
      p.b,
      p.alphaPre,
      p.alphaPost,
      p.alphaRes,
      {
        ...next.options,
        orientation,
      },
    );
  }

  /** Liger's rule: the layer input is cast to the dtype of the layer's first parameter. */
  private layerInput(xIn: Tensor): Tensor {
    if (this.layerInputDtype === 'streams') return xIn;
    const layerDtype = this.layer instanceof Module ? this.layer.parameters()[0]?.dtype : undefined;
    if (!layerDtype || layerDtype === xIn.dtype || layerDtype === 'i32') return xIn;
    const castIn = cast(xIn, layerDtype);
    xIn.dispose();
    return castIn;
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

function checkImplementation(impl: unknown): asserts impl is MhcImplementation {
  const i = impl as Partial<Record<keyof MhcImplementation, unknown>> | null;
  const ok =
    i !== null &&
    typeof i === 'object' &&
    typeof i.coeffs === 'function' &&
    typeof i.coeffsPre === 'function' &&
    typeof i.postRes === 'function';
  if (!ok)
    throw new ArgumentError(
      'options.implementation',
      `expected FUSED_MHC, UNFUSED_MHC or mhcImplementation(...) (coeffs, coeffsPre and postRes functions), got ${fmt(impl)}`,
    );
}

/** Shared parameters: the five tensors, φ in the preset's layout and b [M]. */
function checkParams(params: unknown, phiShape: number[], m: number): asserts params is MhcParams {
  if (params === null || typeof params !== 'object')
    throw new ArgumentError(
      'options.params',
      `expected { phi, b, alphaPre, alphaPost, alphaRes }, got ${fmt(params)}`,
    );
  const p = params as Record<string, unknown>;
  for (const k of PARAM_NAMES)
    if (!isTensor(p[k]))
      throw new ArgumentError(`options.params.${k}`, `expected a Tensor, got ${fmt(p[k])}`);
  const { phi, b } = params as MhcParams;
  if (phi.rank !== 2 || phi.shape[0] !== phiShape[0] || phi.shape[1] !== phiShape[1])
    throw new ShapeError('params.phi', `[${phiShape.join(', ')}]`, phi.shape);
  if (b.rank !== 1 || b.shape[0] !== m) throw new ShapeError('params.b', `[${m}]`, b.shape);
}
