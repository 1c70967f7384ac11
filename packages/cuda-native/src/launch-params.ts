// Typed writer for the launch parameters declared in launch-params-decl.ts: a named object in, the
// positional doubles the addon reads out.
import { ArgumentError } from '@liger-mhc/core';
import { LAUNCH_PARAMS, type LaunchParamType } from './launch-params-decl.js';

export { LAUNCH_PARAMS, renderLaunchParamsHeader } from './launch-params-decl.js';

export type LaunchName = keyof typeof LAUNCH_PARAMS;
type JsType<T extends LaunchParamType> = T extends 'bool'
  ? boolean
  : T extends 'i64[]'
    ? readonly number[]
    : number;
export type LaunchParams<K extends LaunchName> = {
  readonly [F in keyof (typeof LAUNCH_PARAMS)[K]]: JsType<(typeof LAUNCH_PARAMS)[K][F] & LaunchParamType>;
};

const FIELDS = new Map<string, readonly (readonly [string, LaunchParamType])[]>(
  Object.entries(LAUNCH_PARAMS).map(([k, decl]) => [k, Object.entries(decl) as [string, LaunchParamType][]]),
);
const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;

function integer(launch: string, field: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi)
    throw new ArgumentError(
      `params.${field}`,
      `expected an integer in [${lo}, ${hi}] for ${launch}, got ${String(v)}`,
    );
  return v;
}

// Checks every field before anything is written, so a bad value fails here with its name rather
// than as a wrapped integer inside a kernel.
export function packLaunchParams<K extends LaunchName>(launch: K, params: LaunchParams<K>): Float64Array {
  const fields = FIELDS.get(launch);
  if (!fields) throw new ArgumentError('kernel', `expected a declared launch, got '${String(launch)}'`);
  const values = params as unknown as Record<string, unknown>;
  for (const key in values) {
    if (!fields.some(([f]) => f === key))
      throw new ArgumentError(`params.${key}`, `is not a parameter of ${launch}`);
  }
  const out: number[] = [];
  for (const [field, type] of fields) {
    const v = values[field];
    switch (type) {
      case 'i32':
        out.push(integer(launch, field, v, I32_MIN, I32_MAX));
        break;
      case 'i64':
        out.push(integer(launch, field, v, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER));
        break;
      case 'f32':
        if (typeof v !== 'number')
          throw new ArgumentError(`params.${field}`, `expected a number for ${launch}, got ${String(v)}`);
        out.push(v);
        break;
      case 'bool':
        if (typeof v !== 'boolean')
          throw new ArgumentError(`params.${field}`, `expected a boolean for ${launch}, got ${String(v)}`);
        out.push(v ? 1 : 0);
        break;
      case 'i64[]':
        if (!Array.isArray(v))
          throw new ArgumentError(`params.${field}`, `expected an array for ${launch}, got ${String(v)}`);
        for (const x of v)
          out.push(integer(launch, field, x, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER));
        break;
    }
  }
  return Float64Array.from(out);
}
