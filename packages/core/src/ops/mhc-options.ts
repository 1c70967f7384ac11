import type { CoeffsConfig, Orientation, SinkhornSaveMode } from '../backend/mhc-kernels.js';
import { ArgumentError } from '../errors.js';

/** Options of the mHC functional API and module. Defaults follow Liger-Kernel's mHC. */
export interface MhcOptions {
  /** Sinkhorn-Knopp iterations. */
  tmax?: number;
  rmsEps?: number;
  /** Added to sigmoid for hPre. */
  preEps?: number;
  sinkhornEps?: number;
  /** hPost = postMult · sigmoid(...). */
  postMult?: number;
  /** Accept f32 activations (default: bf16/f16 only, as in Liger). */
  allowFp32?: boolean;
  /** 'liger': xOut[o] = Σ_i hRes[o,i]·x[i]; 'deepseek': the transpose, as DeepSeek's kernels apply it. */
  orientation?: Orientation;
  /** Sinkhorn backward from saved history (default) or recomputed (saves memory). */
  sinkhornSave?: SinkhornSaveMode;
  /** Scan coeffs inputs for NaN/Inf (default: on for backends that can read synchronously). */
  checkFinite?: boolean;
}

export type ResolvedMhcOptions = Required<Omit<MhcOptions, 'checkFinite'>> & {
  checkFinite: boolean | undefined;
};

export const MHC_DEFAULTS = {
  tmax: 20,
  rmsEps: 1e-6,
  preEps: 0,
  sinkhornEps: 1e-6,
  postMult: 2,
  allowFp32: false,
  orientation: 'liger',
  sinkhornSave: 'history',
} as const;

export function resolveMhcOptions(o: MhcOptions = {}): ResolvedMhcOptions {
  const r: ResolvedMhcOptions = { ...MHC_DEFAULTS, ...stripUndefined(o), checkFinite: o.checkFinite };
  if (!Number.isInteger(r.tmax) || r.tmax < 1)
    throw new ArgumentError('tmax', `expected an integer >= 1, got ${r.tmax}`);
  for (const k of ['rmsEps', 'preEps', 'sinkhornEps'] as const)
    if (!(Number.isFinite(r[k]) && r[k] >= 0))
      throw new ArgumentError(k, `expected a finite number >= 0, got ${r[k]}`);
  if (!Number.isFinite(r.postMult))
    throw new ArgumentError('postMult', `expected a finite number, got ${r.postMult}`);
  if (r.orientation !== 'liger' && r.orientation !== 'deepseek')
    throw new ArgumentError('orientation', `expected 'liger' or 'deepseek', got '${String(r.orientation)}'`);
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
