import type { CoeffsConfig, Orientation, SinkhornSaveMode } from '../backend/mhc-kernels.js';
import type { PhiLayout } from '../backend/mhc-v4-kernels.js';
import { ArgumentError } from '../errors.js';
import { checkBoolean, checkOptionKeys, fmt } from '../util/options.js';
import { MHC_PRESETS, type MhcPresetName } from './mhc-presets.js';

/**
 * Options of the mHC functional API and module. Defaults come from `preset` (default 'liger',
 * Liger-Kernel's mHC); every option given overrides its preset's value.
 */
export interface MhcOptions {
  /** Named conventions (mhc-presets.ts): 'liger' (default) or 'deepseek-v4'. */
  preset?: MhcPresetName;
  /** Sinkhorn-Knopp iterations. */
  tmax?: number;
  rmsEps?: number;
  /** Added to sigmoid for hPre. */
  preEps?: number;
  sinkhornEps?: number;
  /** hPost = postMult · sigmoid(...). */
  postMult?: number;
  /** Accept f32 activations in coeffs (default: bf16/f16 only, as in Liger). */
  allowFp32?: boolean;
  /** 'liger': xOut[o] = Σ_i hRes[o,i]·x[i]; 'deepseek': the transpose, as DeepSeek's kernels apply it. */
  orientation?: Orientation;
  /** φ as [hc·c, M] ('liger') or DeepSeek-V4's hc_*_fn [M, hc·c] ('deepseek'). Never guessed from shapes. */
  phiLayout?: PhiLayout;
  /** eps of the layer's RMSNorm when fused into pre (mhcPreNorm). */
  normEps?: number;
  /** Sinkhorn backward from saved history (default) or recomputed (saves memory). */
  sinkhornSave?: SinkhornSaveMode;
  /** Scan coeffs inputs for NaN/Inf (default: on for backends that can read synchronously). */
  checkFinite?: boolean;
}

export type ResolvedMhcOptions = Required<Omit<MhcOptions, 'checkFinite'>> & {
  checkFinite: boolean | undefined;
};

/** Every key of MhcOptions (an unknown key is an error naming it). */
export const MHC_OPTION_KEYS = [
  'preset',
  'tmax',
  'rmsEps',
  'preEps',
  'sinkhornEps',
  'postMult',
  'allowFp32',
  'orientation',
  'phiLayout',
  'normEps',
  'sinkhornSave',
  'checkFinite',
] as const satisfies readonly (keyof MhcOptions)[];

// Fails to compile when a key of MhcOptions is missing from the list above.
type MissingMhcKey = Exclude<keyof MhcOptions, (typeof MHC_OPTION_KEYS)[number]>;
const _everyMhcKey: [MissingMhcKey] extends [never] ? true : MissingMhcKey = true;
void _everyMhcKey;

/** The mHC options of a larger option bag (a model's config), leaving out its other keys. */
export function pickMhcOptions(o: MhcOptions): MhcOptions {
  const out: Record<string, unknown> = {};
  for (const k of MHC_OPTION_KEYS) if (o[k] !== undefined) out[k] = o[k];
  return out as MhcOptions;
}

/** Names of our options in other mHC code, suggested when used here. */
const MHC_OPTION_ALIASES: Readonly<Record<string, string>> = {
  sinkhornIters: 'tmax',
  sinkhorn_iters: 'tmax',
  iters: 'tmax',
  tMax: 'tmax',
  t_max: 'tmax',
  eps: 'sinkhornEps',
  rms_eps: 'rmsEps',
  pre_eps: 'preEps',
  post_mult: 'postMult',
  allow_fp32: 'allowFp32',
};

/** The 'liger' preset plus the options no preset sets. */
export const MHC_DEFAULTS = {
  ...MHC_PRESETS.liger,
  allowFp32: false,
  sinkhornSave: 'history',
} as const;

/**
 * The options with their preset's defaults filled in, every value checked. `ownKeys` are keys the
 * caller's option bag holds besides the mHC ones (a module's hc, c, ...), accepted here unchecked.
 */
export function resolveMhcOptions(o: MhcOptions = {}, ownKeys: readonly string[] = []): ResolvedMhcOptions {
  checkOptionKeys('options', o, [...MHC_OPTION_KEYS, ...ownKeys], MHC_OPTION_ALIASES);
  for (const k of ['allowFp32', 'checkFinite'] as const)
    if (o[k] !== undefined) checkBoolean(`options.${k}`, o[k]);
  for (const k of ['tmax', 'rmsEps', 'preEps', 'sinkhornEps', 'postMult', 'normEps'] as const)
    if (o[k] !== undefined && typeof o[k] !== 'number')
      throw new ArgumentError(`options.${k}`, `expected a number, got ${fmt(o[k])}`);
  const name = o.preset ?? 'liger';
  if (!Object.hasOwn(MHC_PRESETS, name))
    throw new ArgumentError('preset', `expected 'liger' or 'deepseek-v4', got '${String(name)}'`);
  const r: ResolvedMhcOptions = {
    ...MHC_DEFAULTS,
    ...MHC_PRESETS[name],
    ...stripUndefined(o),
    preset: name,
    checkFinite: o.checkFinite,
  };
  if (!Number.isInteger(r.tmax) || r.tmax < 1)
    throw new ArgumentError('tmax', `expected an integer >= 1, got ${r.tmax}`);
  for (const k of ['rmsEps', 'preEps', 'sinkhornEps', 'normEps'] as const)
    if (!(Number.isFinite(r[k]) && r[k] >= 0))
      throw new ArgumentError(k, `expected a finite number >= 0, got ${r[k]}`);
  if (!Number.isFinite(r.postMult))
    throw new ArgumentError('postMult', `expected a finite number, got ${r.postMult}`);
  if (r.orientation !== 'liger' && r.orientation !== 'deepseek')
    throw new ArgumentError('orientation', `expected 'liger' or 'deepseek', got '${String(r.orientation)}'`);
  if (r.phiLayout !== 'liger' && r.phiLayout !== 'deepseek')
    throw new ArgumentError('phiLayout', `expected 'liger' or 'deepseek', got '${String(r.phiLayout)}'`);
  if (r.sinkhornSave !== 'history' && r.sinkhornSave !== 'recompute')
    throw new ArgumentError(
      'sinkhornSave',
      `expected 'history' or 'recompute', got '${String(r.sinkhornSave)}'`,
    );
  return r;
}

export function coeffsConfig(hc: number, o: ResolvedMhcOptions): CoeffsConfig {
  return {
    hc,
    tmax: o.tmax,
    rmsEps: o.rmsEps,
    preEps: o.preEps,
    sinkhornEps: o.sinkhornEps,
    postMult: o.postMult,
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
