/**
 * Every knob of the WebGPU backend that the environment can set, declared once: name, default,
 * environment variable and meaning. Backend options (WebGpuBackendOptions) take precedence over
 * these; anything not listed here is not configurable.
 */
import { ArgumentError } from '@liger-mhc/core';

export type CoeffsPath = 'split' | 'scalar';

export interface WebGpuFlags {
  /** The coeffs forward path (see WebGpuCapabilities.coeffsForward). */
  coeffsPath: CoeffsPath;
  /** Log each pipeline's compile time (slow shader compilers such as lavapipe's). */
  trace: boolean;
}

interface FlagDef<K extends keyof WebGpuFlags> {
  name: K;
  env: string;
  default: WebGpuFlags[K];
  meaning: string;
  parse(raw: string): WebGpuFlags[K];
}

const bool =
  (env: string) =>
  (raw: string): boolean => {
    if (raw === '1' || raw === 'true') return true;
    if (raw === '0' || raw === 'false' || raw === '') return false;
    throw new ArgumentError(env, `expected 1/0 or true/false, got '${raw}'`);
  };

/** The flag table (documentation and parsing come from this one list). */
export const WEBGPU_FLAGS: readonly [FlagDef<'coeffsPath'>, FlagDef<'trace'>] = [
  {
    name: 'coeffsPath',
    env: 'LIGER_MHC_WEBGPU_COEFFS',
    default: 'split',
    meaning:
      "coeffs forward path: 'split' (register-tiled K-split kernel where the call allows it) or 'scalar' (always the per-token kernel)",
    parse: (raw) => {
      if (raw === 'split' || raw === 'scalar') return raw;
      throw new ArgumentError('LIGER_MHC_WEBGPU_COEFFS', `expected 'split' or 'scalar', got '${raw}'`);
    },
  },
  {
    name: 'trace',
    env: 'LIGER_MHC_WEBGPU_TRACE',
    default: false,
    meaning: 'log each compute pipeline as it is compiled, with its compile time',
    parse: bool('LIGER_MHC_WEBGPU_TRACE'),
  },
];

function envValue(name: string): string | undefined {
  // Browsers have no process: every flag keeps its default there.
  return typeof process !== 'undefined' ? process.env?.[name] : undefined;
}

/** The flags as the environment sets them now (unset variables give the defaults). */
export function webgpuFlags(): WebGpuFlags {
  const out: Record<string, unknown> = {};
  for (const f of WEBGPU_FLAGS) {
    const raw = envValue(f.env);
    out[f.name] = raw === undefined ? f.default : (f.parse as (r: string) => unknown)(raw);
  }
  return out as unknown as WebGpuFlags;
}
