import {
  ArgumentError,
  checkOptionKeys,
  noGrad,
  Random,
  slice,
  type Tensor,
  tensor,
  tidy,
} from '@liger-mhc/core';

/** What generation needs of a model: next-token logits [B, T, vocab] for ids [B, T]. */
export interface CausalLM {
  forward(ids: Tensor): Tensor;
  parameters(): Tensor[];
}

export interface GenerateOptions {
  /** Tokens to generate after the prompt (generation stops there). */
  maxNewTokens: number;
  /**
   * Softmax temperature; 0 is greedy (the most likely token, ties to the lowest id). Default 1.
   */
  temperature?: number;
  /** Sample only among the k most likely tokens (default: all). */
  topK?: number;
  /** Seed of the sampler (default 0); the same seed, prompt and weights give the same text. */
  seed?: number;
  /**
   * The longest window the model sees (the last tokens). Default: the model's `maxContext` if it
   * has one, else 128. Each step runs the model over at most this many tokens, so generation is
   * O(length · context) model positions, not quadratic in the length.
   */
  context?: number;
  /** Stop early after any of these ids (it is included in the result). */
  stopTokens?: readonly number[];
  /** Called with each new token as it is chosen. */
  onToken?: (id: number, index: number) => void;
}

/** Draw the next id from logits (a vocab-length row) as the options say. */
export function sampleNext(
  logits: ArrayLike<number>,
  temperature: number,
  topK: number,
  rng: Random,
): number {
  const n = logits.length;
  if (temperature === 0) {
    let best = 0;
    for (let i = 1; i < n; i++) if (logits[i]! > logits[best]!) best = i;
    return best;
  }
  // Candidate ids by descending logit, keeping the first k (ties by id, so the choice is stable).
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => logits[b]! - logits[a]! || a - b);
  const keep = order.slice(0, Math.min(topK, n));
  const max = logits[keep[0]!]!;
  const weights = keep.map((i) => Math.exp((logits[i]! - max) / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let u = rng.uniform() * total;
  for (let j = 0; j < keep.length; j++) {
    u -= weights[j]!;
    if (u < 0) return keep[j]!;
  }
  return keep[keep.length - 1]!;
}

function checkOptions(
  o: GenerateOptions,
  vocab: number | undefined,
): Required<Omit<GenerateOptions, 'onToken' | 'stopTokens'>> {
  checkOptionKeys('options', o, [
    'maxNewTokens',
    'temperature',
    'topK',
    'seed',
    'context',
    'stopTokens',
    'onToken',
  ]);
  if (!Number.isInteger(o.maxNewTokens) || o.maxNewTokens < 0)
    throw new ArgumentError('maxNewTokens', `expected an integer >= 0, got ${o.maxNewTokens}`);
  const temperature = o.temperature ?? 1;
  if (!(Number.isFinite(temperature) && temperature >= 0))
    throw new ArgumentError('temperature', `expected a finite number >= 0, got ${temperature}`);
  const topK = o.topK ?? vocab ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isInteger(topK) || topK < 1)
    throw new ArgumentError('topK', `expected an integer >= 1, got ${topK}`);
  const seed = o.seed ?? 0;
  if (!Number.isInteger(seed)) throw new ArgumentError('seed', `expected an integer, got ${seed}`);
  const context = o.context ?? 128;
  if (!Number.isInteger(context) || context < 1)
    throw new ArgumentError('context', `expected an integer >= 1, got ${context}`);
  return { maxNewTokens: o.maxNewTokens, temperature, topK, seed, context };
}

/**
 * Continue `prompt` (token ids) by sampling from the model one token at a time. Returns the prompt
 * followed by the new tokens. Runs without gradients; every step reads one row of logits.
 */
export async function generate(
  model: CausalLM,
  prompt: readonly number[],
  options: GenerateOptions,
): Promise<number[]> {
  const vocabOf = (model as { config?: { vocab?: number } }).config?.vocab;
  const maxContext = (model as { maxContext?: number }).maxContext;
  const o = checkOptions({ ...options, context: options.context ?? maxContext }, vocabOf);
  if (prompt.length === 0) throw new ArgumentError('prompt', 'at least one token');
  for (const id of prompt)
    if (!Number.isInteger(id) || id < 0 || (vocabOf !== undefined && id >= vocabOf))
      throw new ArgumentError('prompt', `token ids in [0, ${vocabOf ?? '∞'}), got ${id}`);
  const backend = model.parameters()[0]?.backend;
  const rng = new Random(o.seed);
  const stop = new Set(options.stopTokens ?? []);
  const out = [...prompt];
  for (let i = 0; i < o.maxNewTokens; i++) {
    const window = out.slice(-o.context);
    const row = noGrad(() =>
      tidy(() => {
        const ids = tensor(window, [1, window.length], { dtype: 'i32', backend });
        const logits = model.forward(ids);
        // Only the last position's logits leave the device.
        return slice(logits, 1, window.length - 1, window.length);
      }),
    );
    const values = await row.data();
    row.dispose();
    const next = sampleNext(values, o.temperature, o.topK, rng);
    out.push(next);
    options.onToken?.(next, i);
    if (stop.has(next)) break;
  }
  return out;
}
