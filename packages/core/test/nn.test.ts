import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import {
  AdamW,
  LigerMHC,
  Linear,
  loadStateDict,
  MiniMhcLM,
  Random,
  SGD,
  saveStateDict,
  sum,
  tensor,
  tidy,
} from '../src/index.js';
import { rnd } from './helpers.js';

describe('nn modules', () => {
  it('LigerMHC has the documented parameters, shapes, dtypes and init', async () => {
    const m = new LigerMHC(new Linear(16, 16, { rng: new Random(1) }), { hc: 4, c: 16, rng: new Random(2) });
    const names = [...m.namedParameters()].map(([n, p]) => `${n}:${p.dtype}:[${p.shape.join(',')}]`);
    expect(names).toEqual([
      'phi:f32:[64,24]',
      'b:f32:[24]',
      'alphaPre:f32:[]',
      'alphaPost:f32:[]',
      'alphaRes:f32:[]',
      'layer.weight:f32:[16,16]',
    ]);
    const phi = await m.phi.data();
    const std = Math.sqrt(Array.from(phi).reduce((a, v) => a + v * v, 0) / phi.length);
    expect(std).toBeGreaterThan(0.015);
    expect(std).toBeLessThan(0.025);
    expect(Array.from(await m.b.data()).every((v) => v === 0)).toBe(true);
    const y = m.forward(rnd([2, 3, 4, 16], 5));
    expect(y.shape).toEqual([2, 3, 4, 16]);
    expect(y.dtype).toBe('bf16');
  });

  it('casts the layer input to the layer dtype (Liger) or keeps the streams dtype (layerInputDtype)', () => {
    const seen: string[] = [];
    class SpyLinear extends Linear {
      override forward(t: Parameters<Linear['forward']>[0]) {
        seen.push(t.dtype);
        return super.forward(t);
      }
    }
    const x = rnd([2, 3, 4, 16], 5);
    const liger = new LigerMHC(new SpyLinear(16, 16, { rng: new Random(1) }), { hc: 4, c: 16 });
    const streams = new LigerMHC(new SpyLinear(16, 16, { rng: new Random(1) }), {
      hc: 4,
      c: 16,
      layerInputDtype: 'streams',
    });
    const a = liger.forward(x);
    const b = streams.forward(x);
    expect(seen).toEqual(['f32', 'bf16']);
    expect([a.dtype, b.dtype]).toEqual(['bf16', 'bf16']);
    expect(() => new LigerMHC(new Linear(16, 16), { hc: 4, c: 16, layerInputDtype: 'f32' as never })).toThrow(
      /layerInputDtype: expected 'layer' or 'streams'/,
    );
  });

  it('warns once per module for hc > 16 and not below', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      new LigerMHC(new Linear(2, 2), { hc: 16, c: 2 });
      expect(warn).not.toHaveBeenCalled();
      new LigerMHC(new Linear(2, 2), { hc: 17, c: 2 });
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toMatch(/hc=17 > 16/);
    } finally {
      warn.mockRestore();
    }
  });

  it('state dict saves to a safetensors file and loads back exactly', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lmhc-'));
    try {
      const a = new MiniMhcLM({ vocab: 11, hc: 2, c: 8, layers: 2, phiDtype: 'bf16', rng: new Random(1) });
      const b = new MiniMhcLM({ vocab: 11, hc: 2, c: 8, layers: 2, phiDtype: 'bf16', rng: new Random(2) });
      await saveStateDict(a, join(dir, 'm.safetensors'));
      await loadStateDict(b, join(dir, 'm.safetensors'));
      for (const [name, p] of a.namedParameters()) {
        const q = b.stateDict()[name]!;
        expect(q.dtype).toBe(p.dtype);
        expect(Array.from(await q.dataRaw())).toEqual(Array.from(await p.dataRaw()));
      }
      const wrong = new MiniMhcLM({ vocab: 12, hc: 2, c: 8, layers: 2 });
      await expect(loadStateDict(wrong, join(dir, 'm.safetensors'))).rejects.toThrow(
        /state\['embedding.weight'\]: expected shape \[12, 16\]/,
      );
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('SGD and AdamW take the documented first steps', async () => {
    const p = tensor([1, -2], [2], { requiresGrad: true });
    const sgd = new SGD([p], { lr: 0.1, momentum: 0.9 });
    const loss = sum(p.reshape([2]));
    loss.backward();
    sgd.step();
    expect(Array.from(await p.data())).toEqual([Math.fround(0.9), Math.fround(-2.1)]);
    const q = tensor([1, -2], [2], { requiresGrad: true });
    const adam = new AdamW([q], { lr: 0.1, weightDecay: 0.5 });
    sum(q.reshape([2])).backward();
    adam.step();
    // first step: m̂ = g, v̂ = g², update = lr·g/(|g|+eps) = 0.1; decay lr·wd·p first.
    const got = Array.from(await q.data());
    expect(got[0]).toBeCloseTo(1 - 0.1 * 0.5 * 1 - 0.1, 6);
    expect(got[1]).toBeCloseTo(-2 - 0.1 * 0.5 * -2 - 0.1, 6);
  });

  it('the mini mHC LM learns a repeating sequence (loss falls well below uniform)', async () => {
    const vocab = 7;
    const model = new MiniMhcLM({ vocab, hc: 2, c: 8, layers: 1, rng: new Random(3) });
    const opt = new AdamW(model.parameters(), { lr: 3e-2, weightDecay: 0 });
    const seq = Array.from({ length: 16 }, (_, i) => i % vocab);
    const ids = tensor(seq.slice(0, 15), [1, 15], { dtype: 'i32' });
    const labels = tensor(seq.slice(1), [1, 15], { dtype: 'i32' });
    let first = 0;
    let last = 0;
    for (let s = 0; s < 60; s++) {
      const l = tidy(() => {
        const { loss } = model.loss(ids, labels);
        loss.backward();
        opt.step();
        opt.zeroGrad();
        return loss;
      });
      const v = await l.item();
      l.dispose();
      if (s === 0) first = v;
      last = v;
    }
    expect(first).toBeGreaterThan(Math.log(vocab) * 0.7);
    expect(last).toBeLessThan(0.2);
  });
});
