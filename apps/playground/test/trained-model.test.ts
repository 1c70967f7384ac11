import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdamW, MiniMhcLM, mhcCoeffs, noGrad, Random, tensor, tidy } from '@liger-mhc/core';
import { checkpointBytes, generate, Tokenizer } from '@liger-mhc/models';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs helper without types
import { startServer } from '../scripts/server.mjs';

/**
 * The playground loads a checkpoint the way `liger-mhc train` writes it (saveCheckpoint with the
 * vocabulary and config in the metadata), generates in the page and draws the trained model's own
 * h_res for the prompt: by URL on WebGPU, through the file picker on the CPU reference.
 */
const executable = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(executable);
const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const ckptDir = join(dist, 'test-checkpoints');
const TEXT = 'Fellow-Citizens of the Senate and of the House of Representatives. ';
const PROMPT = 'Fellow';

let browser: Browser;
let server: { url: string; close(): Promise<void> };
let model: MiniMhcLM;
let tok: Tokenizer;
let ckptPath = '';

/** A few AdamW steps of the mini LM on TEXT, as the CLI's train does on its corpus. */
async function trainTiny(): Promise<void> {
  const vocab = [...new Set(TEXT)].sort();
  tok = new Tokenizer(vocab);
  model = new MiniMhcLM({
    vocab: vocab.length,
    hc: 4,
    c: 8,
    layers: 2,
    tmax: 20,
    allowFp32: true,
    rng: new Random(3),
  });
  const ids = tok.encode(TEXT);
  const optim = new AdamW(model.parameters(), { lr: 0.02 });
  for (let s = 0; s < 20; s++) {
    tidy(() => {
      const x = tensor(ids.slice(0, -1), [1, ids.length - 1], { dtype: 'i32' });
      const y = tensor(ids.slice(1), [1, ids.length - 1], { dtype: 'i32' });
      model.loss(x, y).loss.backward();
      optim.step();
      optim.zeroGrad();
    });
  }
  mkdirSync(ckptDir, { recursive: true });
  ckptPath = join(ckptDir, 'model.safetensors');
  writeFileSync(ckptPath, await checkpointBytes(model, { vocabulary: vocab }));
}

/** The first layer's h_res for the prompt, straight from core's op on the embedding rows. */
async function firstLayerHRes(): Promise<number[]> {
  const ids = tok.encode(PROMPT);
  const block = model.blocks[0]!;
  const out = noGrad(() =>
    tidy(() => {
      const x = model.embedding
        .forward(tensor(ids, [1, ids.length], { dtype: 'i32' }))
        .reshape([1, ids.length, 4, 8]);
      return mhcCoeffs(x, block.phi, block.b, block.alphaPre, block.alphaPost, block.alphaRes, {
        ...block.options,
        allowFp32: true,
      }).hRes;
    }),
  );
  const v = Array.from(await out.data());
  out.dispose();
  return v;
}

async function pageResult(page: import('playwright-core').Page) {
  await page.waitForFunction(
    () => document.body.dataset.generated || document.body.dataset.modelError,
    null,
    {
      timeout: 180_000,
    },
  );
  const data = await page.evaluate(() => ({ ...document.body.dataset }));
  const text = (await page.textContent('#gen-out')) ?? '';
  const layers = JSON.parse((await page.textContent('#hres-json')) ?? '[]') as {
    layer: string;
    hc: number;
    hRes: number[];
  }[];
  return { data, text, layers };
}

describe.skipIf(!haveChromium)('playground: a trained checkpoint in the page', () => {
  beforeAll(async () => {
    await trainTiny();
    server = await startServer(0);
    browser = await chromium.launch({
      executablePath: executable,
      args: [
        '--no-sandbox',
        '--enable-unsafe-webgpu',
        '--disable-background-networking',
        '--no-first-run',
        '--disable-quic',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    rmSync(ckptDir, { recursive: true, force: true });
    model?.dispose();
  });

  it('loads it by URL on WebGPU, generates, and draws its h_res for the prompt', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(
      `${server.url}?backend=webgpu&checkpoint=test-checkpoints/model.safetensors&prompt=${PROMPT}&length=30&seed=4`,
    );
    const { data, text, layers } = await pageResult(page);
    expect(errors).toEqual([]);
    expect(data.modelError).toBeUndefined();
    expect(data.backend).toBe('webgpu');
    expect(data.generated).toBe('done');
    expect(data.model).toBe('mini-lm');
    expect(text.startsWith(PROMPT)).toBe(true);
    expect(text.length).toBe(PROMPT.length + 30);
    for (const ch of text) expect(TEXT).toContain(ch);
    // Two mHC layers, one 4x4 matrix per prompt token each, drawn; layer 0 is the model's own.
    expect(layers.map((l) => l.layer)).toEqual(['layers.0', 'layers.1']);
    expect(await page.locator('#model-hres canvas').count()).toBe(2 * PROMPT.length);
    const want = await firstLayerHRes();
    expect(layers[0]!.hRes.length).toBe(want.length);
    for (let i = 0; i < want.length; i++) expect(Math.abs(layers[0]!.hRes[i]! - want[i]!)).toBeLessThan(2e-5);
    await page.close();
  });

  it('loads it through the file picker on the CPU reference; greedy text equals Node', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}?backend=cpu`);
    await page.waitForFunction(() => document.body.dataset.run === 'done');
    await page.setInputFiles('#ckpt-file', ckptPath);
    await page.waitForFunction(() => document.body.dataset.model || document.body.dataset.modelError);
    await page.fill('#gen-prompt', PROMPT);
    await page.fill('#gen-length', '25');
    await page.fill('#gen-temperature', '0');
    await page.click('#gen-run');
    const { data, text, layers } = await pageResult(page);
    expect(data.modelError).toBeUndefined();
    const greedy = await generate(model, tok.encode(PROMPT), { maxNewTokens: 25, temperature: 0 });
    expect(text).toBe(tok.decode(greedy));
    const want = await firstLayerHRes();
    for (let i = 0; i < want.length; i++) expect(Math.abs(layers[0]!.hRes[i]! - want[i]!)).toBeLessThan(1e-6);
    await page.close();
  });
});
