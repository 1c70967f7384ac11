import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compare, TOLERANCES } from '@liger-mhc/conformance';
import {
  ArgumentError,
  entryToStorage,
  MiniMhcLM,
  noGrad,
  Random,
  readSafetensors,
  SafetensorsError,
  tensor,
  writeSafetensors,
} from '@liger-mhc/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkpointBytes,
  fromOurNames,
  loadCheckpoint,
  modelFromCheckpoint,
  readCheckpointInfo,
  renameEntries,
  saveCheckpoint,
  TinyDeepseekV4,
  toOurNames,
} from '../src/index.js';
import type { ParityExpected } from '../src/parity-fixtures.js';

const FIXTURES = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'parity');
let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'liger-mhc-ckpt-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function logitsOf(model: { forward: TinyDeepseekV4['forward'] }, ids: number[][]): Promise<number[]> {
  const t = tensor(ids.flat(), [ids.length, ids[0]!.length], { dtype: 'i32' });
  const out = noGrad(() => model.forward(t));
  const v = Array.from(await out.data());
  out.dispose();
  t.dispose();
  return v;
}

describe('name maps', () => {
  it("map Liger's and DeepSeek-V4's names to ours and back", () => {
    const liger = {
      'layers.0.alpha_pre': 1,
      'layers.0.layer.weight': 2,
      'layers.1.phi': 3,
      'embedding.weight': 4,
    };
    const ours = toOurNames(liger, 'liger');
    expect(Object.keys(ours)).toEqual([
      'layers.0.alphaPre',
      'layers.0.layer.weight',
      'layers.1.phi',
      'embedding.weight',
    ]);
    expect(fromOurNames(ours, 'liger')).toEqual(liger);
    // Liger's mini-LM test model keeps one mHC layer's parameters at the top level.
    const test = {
      'embed.weight': 1,
      'inner.weight': 2,
      'head.weight': 3,
      phi: 4,
      b: 5,
      alpha_pre: 6,
      alpha_post: 7,
      alpha_res: 8,
    };
    const mapped = toOurNames(test, 'liger');
    expect(mapped['layers.0.layer.weight']).toBe(2);
    expect(mapped['layers.0.alphaRes']).toBe(8);
    expect(mapped['embedding.weight']).toBe(1);
    expect(fromOurNames(mapped, 'liger', 'liger-test')).toEqual(test);
    const v4 = {
      'layers.1.hc_attn_fn': 1,
      'layers.0.attn_norm.weight': 2,
      hc_head_scale: 3,
      'layers.0.ffn.w2.weight': 4,
    };
    expect(Object.keys(toOurNames(v4, 'deepseek-v4'))).toEqual([
      'layers.1.hcAttnFn',
      'layers.0.attnNorm.weight',
      'hcHeadScale',
      'layers.0.ffn.w2.weight',
    ]);
    expect(fromOurNames(toOurNames(v4, 'deepseek-v4'), 'deepseek-v4')).toEqual(v4);
    expect(() => toOurNames({ phi: 1, extra: 2 }, 'liger')).toThrow(ArgumentError);
  });

  it("every parameter of the tiny V4 model has V4's name", () => {
    const model = new TinyDeepseekV4({ vocab: 5, dim: 4, heads: 2, layers: 1, hc: 2 });
    const names = Object.keys(fromOurNames(model.stateDict(), 'deepseek-v4')).sort();
    expect(names).toEqual(
      [
        'embed.weight',
        'head.weight',
        'hc_head_base',
        'hc_head_fn',
        'hc_head_scale',
        'layers.0.attn.wk.weight',
        'layers.0.attn.wo.weight',
        'layers.0.attn.wq.weight',
        'layers.0.attn.wv.weight',
        'layers.0.attn_norm.weight',
        'layers.0.ffn.w1.weight',
        'layers.0.ffn.w2.weight',
        'layers.0.ffn.w3.weight',
        'layers.0.ffn_norm.weight',
        'layers.0.hc_attn_base',
        'layers.0.hc_attn_fn',
        'layers.0.hc_attn_scale',
        'layers.0.hc_ffn_base',
        'layers.0.hc_ffn_fn',
        'layers.0.hc_ffn_scale',
        'norm.weight',
      ].sort(),
    );
    model.dispose();
  });
});

describe('checkpoints', () => {
  it("a PyTorch state dict with Liger's mini-LM names loads and gives PyTorch's logits", async () => {
    const manifest = JSON.parse(await readFile(join(FIXTURES, 'manifest.json'), 'utf8'));
    for (const name of ['liger-mini-lm-hc2', 'liger-mini-lm-hc4']) {
      const c = manifest.cases.find((k: { name: string }) => k.name === name);
      const bytes = new Uint8Array(await readFile(join(FIXTURES, c.checkpoint)));
      // phi is BF16 and the alphas 0-dim, as Liger stores them.
      expect(readSafetensors(bytes).tensors.get('phi')?.dtype).toBe('BF16');
      expect(readSafetensors(bytes).tensors.get('alpha_pre')?.shape).toEqual([]);
      await expect(modelFromCheckpoint(bytes)).rejects.toThrow(/options.model/);
      const { model, info } = await modelFromCheckpoint(bytes, {
        model: 'mini-lm',
        config: c.config,
        names: 'liger',
      });
      expect(info.names).toBe('liger');
      const expected = JSON.parse(await readFile(join(FIXTURES, c.expected), 'utf8')) as ParityExpected;
      const r = compare(await logitsOf(model, expected.ids), expected.logits.data, TOLERANCES.f32);
      expect(r.pass, `ratio ${r.ratio}`).toBe(true);
      model.dispose();
    }
  });

  it('are self-describing: model, config, vocabulary and names come back from the file alone', async () => {
    const model = new TinyDeepseekV4({
      vocab: 6,
      dim: 8,
      heads: 2,
      layers: 2,
      hc: 4,
      sinkhornIters: 7,
      rng: new Random(4),
    });
    const vocabulary = ['a', 'b', ' ', '\n', 'é', '"'];
    const path = join(dir, 'v4.safetensors');
    await saveCheckpoint(model, path, { vocabulary, names: 'deepseek-v4', metadata: { note: 'kept' } });
    const file = readSafetensors(new Uint8Array(await readFile(path)));
    expect(file.tensors.has('layers.1.hc_ffn_fn')).toBe(true);
    expect(file.metadata.note).toBe('kept');
    expect(file.metadata['liger_mhc.sha256']).toMatch(/^[0-9a-f]{64}$/);
    const loaded = await loadCheckpoint(path);
    expect(loaded.info).toMatchObject({
      model: 'tiny-deepseek-v4',
      names: 'deepseek-v4',
      vocabulary,
      formatVersion: 1,
    });
    expect(loaded.info.config).toMatchObject({
      vocab: 6,
      dim: 8,
      heads: 2,
      layers: 2,
      hc: 4,
      sinkhornIters: 7,
    });
    const ids = [[0, 1, 2, 3, 4]];
    expect(await logitsOf(loaded.model, ids)).toEqual(await logitsOf(model, ids));
    model.dispose();
    loaded.model.dispose();
  });

  it('a mini LM saved under Liger test-model names reads back; a damaged file is refused', async () => {
    const model = new MiniMhcLM({ vocab: 5, hc: 2, c: 4, layers: 1, allowFp32: true, rng: new Random(2) });
    const bytes = await checkpointBytes(model, { names: 'liger', nesting: 'liger-test' });
    const file = readSafetensors(bytes);
    expect([...file.tensors.keys()].sort()).toEqual(
      [
        'alpha_post',
        'alpha_pre',
        'alpha_res',
        'b',
        'embed.weight',
        'head.weight',
        'inner.weight',
        'phi',
      ].sort(),
    );
    expect(readCheckpointInfo(file.metadata)?.model).toBe('mini-lm');
    const back = await modelFromCheckpoint(bytes);
    expect(await logitsOf(back.model, [[1, 2]])).toEqual(await logitsOf(model, [[1, 2]]));
    await expect(
      checkpointBytes(new MiniMhcLM({ vocab: 5, hc: 2, c: 4, layers: 2, allowFp32: true }), {
        names: 'liger',
        nesting: 'liger-test',
      }),
    ).rejects.toThrow(/one-layer/);
    const path = join(dir, 'damaged.safetensors');
    await saveCheckpoint(model, path);
    const raw = new Uint8Array(await readFile(path));
    raw[raw.length - 1]! ^= 0x40;
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path, raw);
    await expect(loadCheckpoint(path)).rejects.toBeInstanceOf(SafetensorsError);
    model.dispose();
    back.model.dispose();
  });

  it('a PyTorch file with I64 tensors and metadata round-trips through reading, renaming and writing', async () => {
    const bytes = new Uint8Array(await readFile(join(FIXTURES, 'torch-i64-metadata.safetensors')));
    const file = readSafetensors(bytes);
    expect(file.metadata).toEqual({ format: 'pt', written_by: 'generate_parity_fixtures.py' });
    expect(file.tensors.get('token_ids')?.dtype).toBe('I64');
    const renamed = renameEntries(file, 'liger', 'liger-mhc');
    expect([...renamed.keys()]).toEqual(
      ['token_ids', 'global_step', 'offsets', 'loss_scale', 'alpha_pre'].map((n) =>
        n.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
      ),
    );
    const again = readSafetensors(
      writeSafetensors(
        renameEntries(readSafetensors(writeSafetensors(renamed, file.metadata)), 'liger-mhc', 'liger'),
        file.metadata,
      ),
    );
    expect(again.metadata).toEqual(file.metadata);
    for (const [name, e] of file.tensors) {
      const r = again.tensors.get(name)!;
      expect(r.dtype).toBe(e.dtype);
      expect(r.shape).toEqual(e.shape);
      expect(Array.from(r.data)).toEqual(Array.from(e.data));
    }
    // The 64-bit values themselves, past 2^31 and negative.
    const view = (n: string) => {
      const d = again.tensors.get(n)!.data;
      return Array.from(new BigInt64Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength)));
    };
    expect(view('global_step')).toEqual([2n ** 40n + 7n]);
    expect(view('offsets')).toEqual([-(2n ** 33n), 0n, 2n ** 35n]);
    expect(Array.from(entryToStorage('token_ids', again.tensors.get('token_ids')!, 'i32'))).toEqual([
      3, 1, 4, 1, 5, 9,
    ]);
  });
});

describe('convertCheckpoint', () => {
  it("renames Liger's PyTorch mini LM to ours and V4's file to ours and back, describing the output", async () => {
    const { convertCheckpoint } = await import('../src/index.js');
    const manifest = JSON.parse(await readFile(join(FIXTURES, 'manifest.json'), 'utf8'));
    const c = manifest.cases.find((k: { name: string }) => k.name === 'liger-mini-lm-hc2');
    const bytes = new Uint8Array(await readFile(join(FIXTURES, c.checkpoint)));
    const ours = await convertCheckpoint(bytes, {
      from: 'liger',
      to: 'liger-mhc',
      model: 'mini-lm',
      config: c.config,
    });
    const file = readSafetensors(ours);
    expect(file.tensors.get('layers.0.phi')?.dtype).toBe('BF16');
    expect(readCheckpointInfo(file.metadata)?.names).toBe('liger-mhc');
    // Described, so it loads on its own and gives PyTorch's logits.
    const { model } = await modelFromCheckpoint(ours);
    const expected = JSON.parse(await readFile(join(FIXTURES, c.expected), 'utf8')) as ParityExpected;
    expect(compare(await logitsOf(model, expected.ids), expected.logits.data, TOLERANCES.f32).pass).toBe(
      true,
    );
    model.dispose();
    // And back to Liger's test-model nesting, byte for byte the same tensors.
    const back = readSafetensors(await convertCheckpoint(ours, { to: 'liger', nesting: 'liger-test' }));
    for (const [name, e] of readSafetensors(bytes).tensors)
      expect(Array.from(back.tensors.get(name)!.data)).toEqual(Array.from(e.data));
    // A description that does not fit the tensors is refused.
    await expect(
      convertCheckpoint(bytes, {
        from: 'liger',
        to: 'liger-mhc',
        model: 'mini-lm',
        config: { ...c.config, c: 8 },
      }),
    ).rejects.toThrow();
    // I64 tensors pass through untouched.
    const i64 = new Uint8Array(await readFile(join(FIXTURES, 'torch-i64-metadata.safetensors')));
    const converted = readSafetensors(await convertCheckpoint(i64, { from: 'liger', to: 'liger-mhc' }));
    expect(converted.tensors.get('globalStep')?.dtype).toBe('I64');
    expect(converted.metadata).toEqual({ format: 'pt', written_by: 'generate_parity_fixtures.py' });
  });
});
