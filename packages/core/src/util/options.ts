import { ArgumentError } from '../errors.js';

/** Edit distance (insert, delete, substitute; case differences count half) for suggestions. */
function distance(a: string, b: string): number {
  const al = a.toLowerCase();
  const bl = b.toLowerCase();
  if (al === bl) return 0.5;
  let prev = Array.from({ length: bl.length + 1 }, (_, j) => j);
  for (let i = 1; i <= al.length; i++) {
    const cur = [i];
    for (let j = 1; j <= bl.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (al[i - 1] === bl[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[bl.length]!;
}

/** The valid name nearest to `key`, when one is near enough to be what was meant. */
export function nearest(key: string, valid: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Number.POSITIVE_INFINITY;
  for (const v of valid) {
    const d = distance(key, v);
    if (d < bestD) {
      bestD = d;
      best = v;
    }
  }
  return best !== null && bestD <= Math.max(2, Math.floor(key.length / 3)) ? best : null;
}

/**
 * Refuse option objects that are not plain objects or that hold keys the callee does not know: a
 * misspelt option would otherwise be ignored and its default used without a word.
 */
export function checkOptionKeys(
  argument: string,
  options: unknown,
  valid: readonly string[],
  /** Names other libraries use for an option (e.g. sinkhornIters for tmax), suggested as such. */
  aliases: Readonly<Record<string, string>> = {},
): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw new ArgumentError(
      argument,
      `expected an options object, got ${options === null ? 'null' : typeof options}`,
    );
  for (const key of Object.keys(options)) {
    if (valid.includes(key)) continue;
    const near = Object.hasOwn(aliases, key) ? aliases[key]! : nearest(key, valid);
    throw new ArgumentError(
      `${argument}.${key}`,
      `unknown option${near ? `; did you mean '${near}'?` : ''} (valid: ${valid.join(', ')})`,
    );
  }
}

/** A finite number (optionally bounded), naming the option when it is not. */
export function checkNumber(
  argument: string,
  v: unknown,
  { min, max, integer }: { min?: number; max?: number; integer?: boolean } = {},
): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)))
    throw new ArgumentError(argument, `expected a finite ${integer ? 'integer' : 'number'}, got ${fmt(v)}`);
  if ((min !== undefined && v < min) || (max !== undefined && v > max))
    throw new ArgumentError(argument, `expected a value in [${min ?? '-inf'}, ${max ?? 'inf'}], got ${v}`);
  return v;
}

export function checkBoolean(argument: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new ArgumentError(argument, `expected true or false, got ${fmt(v)}`);
  return v;
}

export function fmt(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return String(v);
}
