import { ArgumentError } from '../errors.js';
import { hostPlatform } from '../platform/platform.js';

/**
 * One registry for the environment variables every package reads. Each variable is declared once,
 * with its type, default and meaning, and parsed strictly: a flag is on for `1`/`true`/`on`/`yes`
 * and off for `0`/`false`/`off`/`no` (any case, surrounding spaces ignored), unset or empty means
 * the default, and anything else is an EnvError naming the variable. Values are read when asked for
 * (tests and tools change process.env between runs); where there is no process (browsers) every
 * variable has its default.
 */

export type EnvType = 'flag' | 'string' | 'int' | 'enum' | 'path';

/** A variable set to a value its declaration does not allow. */
export class EnvError extends ArgumentError {
  constructor(
    readonly variable: string,
    readonly value: string,
    expected: string,
  ) {
    super(variable, `expected ${expected}, got ${JSON.stringify(value)}`);
  }
}

interface SpecBase {
  /** The variable's name, e.g. LIGER_MHC_BACKEND. */
  readonly name: string;
  /** One sentence: what setting it does. */
  readonly meaning: string;
}
export interface FlagSpec extends SpecBase {
  readonly type: 'flag';
  readonly default: boolean;
}
export interface StringSpec extends SpecBase {
  readonly type: 'string' | 'path';
  readonly default: string | null;
}
export interface IntSpec extends SpecBase {
  readonly type: 'int';
  readonly default: number;
  readonly min?: number;
  readonly max?: number;
}
export interface EnumSpec<V extends string = string> extends SpecBase {
  readonly type: 'enum';
  readonly values: readonly V[];
  readonly default: V | null;
}
export type EnvSpec = FlagSpec | StringSpec | IntSpec | EnumSpec;

type ValueOf<S extends EnvSpec> = S extends FlagSpec
  ? boolean
  : S extends IntSpec
    ? number
    : S extends EnumSpec<infer V>
      ? V | S['default']
      : string | S['default'];

/** A declared variable: read it with get(); `raw()` is the trimmed text or null when unset. */
export interface EnvVar<T> {
  readonly spec: EnvSpec;
  readonly name: string;
  get(): T;
  raw(): string | null;
}

const registry = new Map<string, EnvVar<unknown>>();

const ON = new Set(['1', 'true', 'on', 'yes']);
const OFF = new Set(['0', 'false', 'off', 'no']);

/** Parse a flag's text strictly (exported for CLI flags that take the same words). */
export function parseFlag(name: string, text: string): boolean {
  const v = text.trim().toLowerCase();
  if (ON.has(v)) return true;
  if (OFF.has(v)) return false;
  throw new EnvError(name, text, '1/true/on/yes or 0/false/off/no');
}

function rawEnv(name: string): string | null {
  const v = hostPlatform().env(name);
  if (v === undefined) return null;
  const t = v.trim();
  return t === '' ? null : t;
}

function parse(spec: EnvSpec, text: string): unknown {
  switch (spec.type) {
    case 'flag':
      return parseFlag(spec.name, text);
    case 'int': {
      if (!/^[+-]?[0-9]+$/.test(text)) throw new EnvError(spec.name, text, 'an integer');
      const n = Number(text);
      const lo = spec.min ?? Number.MIN_SAFE_INTEGER;
      const hi = spec.max ?? Number.MAX_SAFE_INTEGER;
      if (!Number.isSafeInteger(n) || n < lo || n > hi)
        throw new EnvError(spec.name, text, `an integer in [${lo}, ${hi}]`);
      return n;
    }
    case 'enum':
      if (!spec.values.includes(text))
        throw new EnvError(spec.name, text, `one of ${spec.values.join(', ')}`);
      return text;
    default:
      return text;
  }
}

function sameSpec(a: EnvSpec, b: EnvSpec): boolean {
  return (
    a.type === b.type &&
    a.default === b.default &&
    (a.type !== 'enum' || (b.type === 'enum' && a.values.join() === b.values.join()))
  );
}

/**
 * Declare a variable. Declaring the same name twice with the same type and default returns the
 * first declaration (a package loaded twice); a conflicting declaration is an error.
 */
export function declareEnv<S extends EnvSpec>(spec: S): EnvVar<ValueOf<S>> {
  if (!/^[A-Z][A-Z0-9_]*$/.test(spec.name))
    throw new ArgumentError(
      'spec.name',
      `expected an upper-case variable name, got ${JSON.stringify(spec.name)}`,
    );
  const prev = registry.get(spec.name);
  if (prev) {
    if (!sameSpec(prev.spec, spec))
      throw new ArgumentError('spec', `${spec.name} is already declared with another type or default`);
    return prev as EnvVar<ValueOf<S>>;
  }
  const v: EnvVar<ValueOf<S>> = {
    spec,
    name: spec.name,
    raw: () => rawEnv(spec.name),
    get: () => {
      const text = rawEnv(spec.name);
      return (text === null ? spec.default : parse(spec, text)) as ValueOf<S>;
    },
  };
  registry.set(spec.name, v as EnvVar<unknown>);
  return v;
}

/** Declare an on/off variable (default off). */
export function envFlag(name: string, meaning: string, defaultValue = false): EnvVar<boolean> {
  return declareEnv({ name, type: 'flag', default: defaultValue, meaning });
}

/** Every declared variable, sorted by name (for `doctor` and the docs). */
export function declaredEnv(): EnvSpec[] {
  return [...registry.values()].map((v) => v.spec).sort((a, b) => (a.name < b.name ? -1 : 1));
}

/**
 * Check every declared variable that is set, returning the errors (empty when all parse). For
 * front ends (the CLI) that want to refuse a bad environment before doing any work.
 */
export function checkEnv(): EnvError[] {
  const errors: EnvError[] = [];
  for (const v of registry.values()) {
    try {
      v.get();
    } catch (e) {
      if (e instanceof EnvError) errors.push(e);
      else throw e;
    }
  }
  return errors;
}
