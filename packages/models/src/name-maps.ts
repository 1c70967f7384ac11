import { ArgumentError } from '@liger-mhc/core';

/**
 * Parameter names of the checkpoints we read and write, and the one map between them.
 *
 * - 'liger-mhc': ours, the dotted module paths of our models (camelCase: `layers.0.alphaPre`,
 *   `layers.1.hcAttnFn`).
 * - 'liger': Liger-Kernel's PyTorch names. LigerMHC's parameters are `phi`, `b`, `alpha_pre`,
 *   `alpha_post`, `alpha_res` and the wrapped module `layer`, so our `layers.{i}.alphaPre` is
 *   Liger's `layers.{i}.alpha_pre`. Liger's mHC mini-LM test model (one mHC layer) nests
 *   differently: `embed.weight`, `inner.weight`, `head.weight` and the mHC parameters at the top
 *   level; a one-layer MiniMhcLM reads and writes that nesting too ('liger-test').
 * - 'deepseek-v4': DeepSeek-V4's names (`embed.weight`, `layers.{i}.attn_norm.weight`,
 *   `layers.{i}.hc_attn_fn`, `hc_head_scale`, ...). Our TinyDeepseekV4 keeps V4's module tree,
 *   so the map is the snake_case spelling of each path segment.
 *
 * Shapes and layouts are never changed by the map: V4's `hc_attn_fn` [(2+n)·n, n·dim] is our
 * `hcAttnFn` as stored (the fused kernels take that layout), Liger's 0-dim alphas are our 0-dim
 * alphas.
 */
export type NameConvention = 'liger-mhc' | 'liger' | 'deepseek-v4';

/** How a 'liger' checkpoint nests the mini LM: LigerMHC modules in a list, or Liger's test model. */
export type LigerNesting = 'modules' | 'liger-test';

export const NAME_CONVENTIONS: readonly NameConvention[] = ['liger-mhc', 'liger', 'deepseek-v4'];

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const mapSegments = (name: string, f: (s: string) => string) => name.split('.').map(f).join('.');

/** Liger's mini-LM test model <-> our one-layer MiniMhcLM. */
const LIGER_TEST: Readonly<Record<string, string>> = {
  'embed.weight': 'embedding.weight',
  'inner.weight': 'layers.0.layer.weight',
  'head.weight': 'head.weight',
  phi: 'layers.0.phi',
  b: 'layers.0.b',
  alpha_pre: 'layers.0.alphaPre',
  alpha_post: 'layers.0.alphaPost',
  alpha_res: 'layers.0.alphaRes',
};
const LIGER_TEST_BACK = Object.fromEntries(Object.entries(LIGER_TEST).map(([k, v]) => [v, k]));

export function checkConvention(value: string, argument = 'names'): NameConvention {
  if (!(NAME_CONVENTIONS as readonly string[]).includes(value))
    throw new ArgumentError(argument, `expected one of ${NAME_CONVENTIONS.join(', ')}, got '${value}'`);
  return value as NameConvention;
}

/** Which nesting a 'liger' state dict uses: Liger's test model keeps `phi` at the top level. */
export function detectLigerNesting(names: Iterable<string>): LigerNesting {
  for (const n of names) if (n === 'phi' || n === 'inner.weight') return 'liger-test';
  return 'modules';
}

/** One name from `convention` to ours. */
export function toOurName(
  name: string,
  convention: NameConvention,
  nesting: LigerNesting = 'modules',
): string {
  if (convention === 'liger-mhc') return name;
  if (convention === 'liger' && nesting === 'liger-test') {
    const ours = LIGER_TEST[name];
    if (ours === undefined)
      throw new ArgumentError(
        `state['${name}']`,
        `a name of Liger's mini-LM test model (${Object.keys(LIGER_TEST).join(', ')})`,
      );
    return ours;
  }
  return mapSegments(name, camel);
}

/** One of our names in `convention`. */
export function fromOurName(
  name: string,
  convention: NameConvention,
  nesting: LigerNesting = 'modules',
): string {
  if (convention === 'liger-mhc') return name;
  if (convention === 'liger' && nesting === 'liger-test') {
    const theirs = LIGER_TEST_BACK[name];
    if (theirs === undefined)
      throw new ArgumentError(
        'model',
        `Liger's mini-LM test nesting holds a one-layer mini LM; '${name}' has no name there`,
      );
    return theirs;
  }
  return mapSegments(name, snake);
}

/** A whole state dict renamed to ours (values shared, not copied). */
export function toOurNames<T>(
  state: Record<string, T>,
  convention: NameConvention,
  nesting?: LigerNesting,
): Record<string, T> {
  const nest = nesting ?? (convention === 'liger' ? detectLigerNesting(Object.keys(state)) : 'modules');
  const out: Record<string, T> = {};
  for (const [k, v] of Object.entries(state)) {
    const ours = toOurName(k, convention, nest);
    if (ours in out) throw new ArgumentError(`state['${k}']`, `a name not already mapped to '${ours}'`);
    out[ours] = v;
  }
  return out;
}

/** A whole state dict of ours renamed to `convention` (values shared, not copied). */
export function fromOurNames<T>(
  state: Record<string, T>,
  convention: NameConvention,
  nesting: LigerNesting = 'modules',
): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [k, v] of Object.entries(state)) out[fromOurName(k, convention, nesting)] = v;
  return out;
}
