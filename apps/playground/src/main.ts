/**
 * The playground: picks a backend (WebGPU when the browser has it, else the CPU reference), runs
 * mHC coefficients on random streams and draws them, and can run golden fixtures in the page.
 * Everything here goes through the same public API as Node code.
 */
import {
  type Backend,
  encode,
  fromStorage,
  mhcCoeffs,
  noGrad,
  Random,
  ready,
  setBackend,
  tidy,
} from '@liger-mhc/core';
import '@liger-mhc/webgpu-wgsl';
import { drawToken } from './draw.js';
import { selfCheck } from './self-check.js';
import {
  continuePrompt,
  describeModel,
  type LoadedModel,
  loadModelBytes,
  loadModelUrl,
  promptCoefficients,
} from './trained-model.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);

async function chooseBackend(name: string): Promise<Backend> {
  if (name === 'auto') return ready();
  return setBackend(name);
}

function num(id: string): number {
  return Number(($(id) as HTMLInputElement).value);
}

async function run(be: Backend): Promise<void> {
  const hc = num('hc');
  const c = num('c');
  const n = num('n');
  const tmax = num('tmax');
  const alpha = num('alpha');
  const rng = new Random(7);
  const m = hc * hc + 2 * hc;
  const randn = (shape: number[], std: number, dtype: 'bf16' | 'f32') => {
    const v = Float64Array.from({ length: shape.reduce((a, d) => a * d, 1) }, () => std * rng.normal());
    return fromStorage(encode(dtype, v), shape, dtype, { backend: be });
  };
  const scalar = (v: number) => fromStorage(new Float32Array([v]), [], 'f32', { backend: be });
  const inputs = [
    randn([n, hc, c], 1, 'bf16'),
    randn([hc * c, m], 0.3, 'f32'),
    randn([m], 0.5, 'f32'),
    scalar(1),
    scalar(1),
    scalar(alpha),
  ];
  const t0 = performance.now();
  const h = noGrad(() =>
    tidy(() => {
      const [x, phi, b, ap, apo, ar] = inputs as [never, never, never, never, never, never];
      return mhcCoeffs(x, phi, b, ap, apo, ar, { tmax });
    }),
  );
  const [pre, post, res] = await Promise.all([h.hPre.data(), h.hPost.data(), h.hRes.data()]);
  const ms = performance.now() - t0;
  let worst = 0;
  for (let t = 0; t < n; t++)
    for (let j = 0; j < hc; j++) {
      let col = 0;
      for (let i = 0; i < hc; i++) col += res[t * hc * hc + i * hc + j]!;
      worst = Math.max(worst, Math.abs(col - 1));
    }
  $('log').textContent =
    `${n} tokens, hc=${hc}, c=${c}, tmax=${tmax}: coefficients in ${ms.toFixed(1)} ms (incl. readback); largest |column sum - 1| = ${worst.toExponential(2)}`;
  const host = $('tokens');
  host.replaceChildren();
  for (let t = 0; t < Math.min(n, 12); t++) host.append(drawToken(t, hc, pre, post, res));
  for (const x of [...inputs, h.hPre, h.hPost, h.hRes]) x.dispose();
  document.body.dataset.run = 'done';
}

let loaded: LoadedModel | null = null;

async function useModel(load: () => Promise<LoadedModel>): Promise<void> {
  const info = $('ckpt-info');
  try {
    const next = await load();
    loaded?.model.dispose();
    loaded = next;
    info.textContent = describeModel(next);
    ($('gen-run') as HTMLButtonElement).disabled = false;
    document.body.dataset.model = next.info.model;
  } catch (err) {
    info.textContent = `error: ${(err as Error).message}`;
    document.body.dataset.modelError = (err as Error).message;
  }
}

/** Generate from the prompt and draw the trained model's h_res for the prompt's tokens. */
async function generateInPage(): Promise<void> {
  if (!loaded) return;
  const out = $('gen-out');
  const prompt = ($('gen-prompt') as HTMLInputElement).value;
  delete document.body.dataset.generated;
  try {
    out.textContent = prompt;
    const topK = num('gen-topk');
    const text = await continuePrompt(
      loaded,
      prompt,
      {
        length: num('gen-length'),
        temperature: num('gen-temperature'),
        topK: topK > 0 ? topK : undefined,
        seed: num('gen-seed'),
      },
      (piece) => {
        out.textContent += piece;
      },
    );
    out.textContent = text;
    const layers = await promptCoefficients(loaded, prompt);
    const host = $('model-hres');
    host.replaceChildren();
    for (const l of layers) {
      const row = document.createElement('div');
      row.className = 'layer';
      const h = document.createElement('h3');
      h.textContent = `${l.layer}: h_res for each prompt token`;
      const tokens = document.createElement('div');
      tokens.style.display = 'flex';
      tokens.style.flexWrap = 'wrap';
      tokens.style.gap = '8px';
      const chars = loaded.tokenizer.encode(prompt).map((id) => loaded!.tokenizer.decode([id]));
      for (let t = 0; t < Math.min(l.tokens, 24); t++)
        tokens.append(drawToken(t, l.hc, l.hPre, l.hPost, l.hRes, JSON.stringify(chars[t])));
      row.append(h, tokens);
      host.append(row);
    }
    $('hres-json').textContent = JSON.stringify(
      layers.map((l) => ({ layer: l.layer, hc: l.hc, hRes: Array.from(l.hRes) })),
    );
    document.body.dataset.generated = 'done';
  } catch (err) {
    out.textContent = `error: ${(err as Error).message}`;
    document.body.dataset.generated = 'error';
  }
}

async function main(): Promise<void> {
  const select = $('backend-select') as HTMLSelectElement;
  select.value = params.get('backend') ?? 'auto';
  let be: Backend;
  try {
    be = await chooseBackend(select.value);
  } catch (err) {
    $('backend').textContent = `error: ${(err as Error).message}`;
    document.body.dataset.error = (err as Error).message;
    return;
  }
  $('backend').textContent = `${be.name} (${be.capabilities.device})`;
  document.body.dataset.backend = be.name;
  select.onchange = () => {
    location.search = `?backend=${select.value}`;
  };
  $('run').onclick = () => void run(be);
  $('selfcheck-run').onclick = () => void selfCheck(be, $('selfcheck'));
  const file = $('ckpt-file') as HTMLInputElement;
  file.onchange = () => {
    const f = file.files?.[0];
    if (f) void useModel(async () => loadModelBytes(new Uint8Array(await f.arrayBuffer()), be));
  };
  $('ckpt-load').onclick = () => {
    const url = ($('ckpt-url') as HTMLInputElement).value.trim();
    if (url) void useModel(() => loadModelUrl(url, be));
  };
  $('gen-run').onclick = () => void generateInPage();
  // ?checkpoint=URL&prompt=TEXT loads a checkpoint and generates at once (links, tests).
  const ckpt = params.get('checkpoint');
  if (ckpt) {
    ($('ckpt-url') as HTMLInputElement).value = ckpt;
    for (const [key, id] of [
      ['prompt', 'gen-prompt'],
      ['length', 'gen-length'],
      ['temperature', 'gen-temperature'],
      ['seed', 'gen-seed'],
    ] as const) {
      const value = params.get(key);
      if (value !== null) ($(id) as HTMLInputElement).value = value;
    }
    await useModel(() => loadModelUrl(ckpt, be));
    await generateInPage();
  }
  await run(be);
  if (params.get('selfcheck')) await selfCheck(be, $('selfcheck'));
}

void main();
