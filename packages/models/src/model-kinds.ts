import {
  ArgumentError,
  type Backend,
  MiniMhcLM,
  type Module,
  type Random,
  type Tensor,
} from '@liger-mhc/core';
import { TinyDeepseekV4 } from './deepseek-v4.js';
import { GPT } from './gpt.js';

/** The models a checkpoint or a parity fixture can name, by the name it stores. */
export type ModelKind = 'mini-lm' | 'gpt' | 'tiny-deepseek-v4';

export const MODEL_KINDS: readonly ModelKind[] = ['mini-lm', 'gpt', 'tiny-deepseek-v4'];

/** A language model of ours: logits and a loss over [B, T] ids. */
export interface LanguageModel extends Module {
  forward(ids: Tensor): Tensor;
  loss(ids: Tensor, labels: Tensor): { loss: Tensor; logits: Tensor };
}

export function checkModelKind(value: string, argument = 'model'): ModelKind {
  if (!(MODEL_KINDS as readonly string[]).includes(value))
    throw new ArgumentError(argument, `one of ${MODEL_KINDS.join(', ')}, got '${value}'`);
  return value as ModelKind;
}

/** Build a model of `kind` from its (JSON) config on `backend`. */
export function buildModel(
  kind: ModelKind,
  config: Record<string, unknown>,
  backend?: string | Backend,
  rng?: Random,
): LanguageModel {
  if (config === null || typeof config !== 'object' || Array.isArray(config))
    throw new ArgumentError('config', 'an object of model options');
  const c = { ...config, backend, rng } as never;
  if (kind === 'mini-lm') return new MiniMhcLM({ allowFp32: true, ...(c as object) } as never);
  if (kind === 'tiny-deepseek-v4') return new TinyDeepseekV4(c);
  if (kind === 'gpt') return new GPT(c);
  throw new ArgumentError('model', `one of ${MODEL_KINDS.join(', ')}, got '${String(kind)}'`);
}

/** The kind of a model of ours, or null. */
export function modelKindOf(model: Module): ModelKind | null {
  if (model instanceof TinyDeepseekV4) return 'tiny-deepseek-v4';
  if (model instanceof GPT) return 'gpt';
  if (model instanceof MiniMhcLM) return 'mini-lm';
  return null;
}

/** A model's config as JSON can hold it: its constructor options without backend and rng. */
export function serializableConfig(model: Module): Record<string, unknown> {
  const config = (model as unknown as { config?: Record<string, unknown> }).config;
  if (!config) throw new ArgumentError('model', 'a model with a config (MiniMhcLM, GPT, TinyDeepseekV4)');
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config))
    if (k !== 'backend' && k !== 'rng' && v !== undefined && typeof v !== 'function') out[k] = v;
  return out;
}
