import { type Backend, keep, LigerMHC, noGrad, type Tensor, tensor, tidy } from '@liger-mhc/core';
import {
  generate,
  type LoadedCheckpoint,
  modelFromCheckpoint,
  TinyDeepseekV4,
  Tokenizer,
  V4Block,
} from '@liger-mhc/models';

/**
 * A checkpoint trained by `liger-mhc train` (or any self-describing liger-mhc checkpoint) in the
 * page: load it from a file or a URL, continue a prompt, and read the model's own H_res matrices for
 * the prompt's tokens.
 */

export interface LoadedModel extends LoadedCheckpoint {
  tokenizer: Tokenizer;
}

export async function loadModelBytes(bytes: Uint8Array, backend: Backend): Promise<LoadedModel> {
  const loaded = await modelFromCheckpoint(bytes, { backend });
  if (!loaded.info.vocabulary) {
    loaded.model.dispose();
    throw new Error('this checkpoint stores no vocabulary: train it with liger-mhc train');
  }
  return { ...loaded, tokenizer: new Tokenizer(loaded.info.vocabulary) };
}

export async function loadModelUrl(url: string, backend: Backend): Promise<LoadedModel> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return loadModelBytes(new Uint8Array(await res.arrayBuffer()), backend);
}

/** One mHC layer's coefficients for every prompt token (row-major [T, hc, hc] for hRes). */
export interface LayerCoefficients {
  layer: string;
  hc: number;
  tokens: number;
  /** [T, hc] or null where the layer does not expose it */
  hPre: Float32Array | null;
  /** [T, hc] */
  hPost: Float32Array;
  /** [T, hc, hc] (for DeepSeek-V4 layers: comb as stored, applied transposed) */
  hRes: Float32Array;
}

/**
 * Run the model once over the prompt and collect each mHC layer's coefficients: LigerMHC layers
 * report them through their onCoefficients hook, V4 blocks through a wrapper around hc_pre.
 */
export async function promptCoefficients(loaded: LoadedModel, prompt: string): Promise<LayerCoefficients[]> {
  const { model } = loaded;
  const ids = loaded.tokenizer.encode(prompt);
  const captured: { layer: string; hPre: Tensor | null; hPost: Tensor; hRes: Tensor }[] = [];
  const restore: (() => void)[] = [];
  for (const [path, m] of model.namedModules()) {
    if (m instanceof LigerMHC) {
      m.onCoefficients = (h) => {
        captured.push({ layer: path, hPre: keep(h.hPre), hPost: keep(h.hPost), hRes: keep(h.hRes) });
      };
      restore.push(() => {
        m.onCoefficients = null;
      });
    } else if (m instanceof V4Block) {
      let part = 0;
      m.hcPre = (x, fn, scale, base) => {
        const r = V4Block.prototype.hcPre.call(m, x, fn, scale, base);
        captured.push({
          layer: `${path}.${part++ % 2 ? 'ffn' : 'attn'}`,
          hPre: null,
          hPost: keep(r.post),
          hRes: keep(r.comb),
        });
        return r;
      };
      restore.push(() => {
        delete (m as Partial<Pick<V4Block, 'hcPre'>>).hcPre;
      });
    }
  }
  try {
    noGrad(() =>
      tidy(() => {
        model.forward(
          tensor(ids, [1, ids.length], { dtype: 'i32', backend: model.parameters()[0]!.backend }),
        );
      }),
    );
  } finally {
    for (const r of restore) r();
  }
  const out: LayerCoefficients[] = [];
  for (const c of captured) {
    const hc = c.hRes.shape[c.hRes.rank - 1]!;
    out.push({
      layer: c.layer,
      hc,
      tokens: ids.length,
      hPre: c.hPre ? Float32Array.from(await c.hPre.data()) : null,
      hPost: Float32Array.from(await c.hPost.data()),
      hRes: Float32Array.from(await c.hRes.data()),
    });
    c.hPre?.dispose();
    c.hPost.dispose();
    c.hRes.dispose();
  }
  return out;
}

export interface GenerateSettings {
  length: number;
  temperature: number;
  topK?: number;
  seed: number;
}

/** Continue the prompt; returns the whole text (prompt + generated). */
export async function continuePrompt(
  loaded: LoadedModel,
  prompt: string,
  s: GenerateSettings,
  onText?: (piece: string) => void,
): Promise<string> {
  const ids = await generate(loaded.model, loaded.tokenizer.encode(prompt), {
    maxNewTokens: s.length,
    temperature: s.temperature,
    topK: s.topK,
    seed: s.seed,
    onToken: (id) => onText?.(loaded.tokenizer.decode([id])),
  });
  return loaded.tokenizer.decode(ids);
}

export function describeModel(loaded: LoadedModel): string {
  const { info } = loaded;
  const params = loaded.model.parameters().reduce((n, p) => n + p.size, 0);
  const kind = loaded.model instanceof TinyDeepseekV4 ? 'tiny DeepSeek-V4' : info.model;
  return `${kind}, ${params} parameters, vocabulary of ${info.vocabulary?.length ?? 0} tokens, config ${JSON.stringify(info.config)}`;
}
