import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AdamW,
  ArgumentError,
  loadCheckpoint,
  MiniMhcLM,
  type Optimizer,
  Random,
  type RandomState,
  SafetensorsError,
  SGD,
  saveCheckpoint,
  tensor,
  tidy,
} from '../src/index.js';

const dir = await mkdtemp(join(tmpdir(), 'lmhc-ckpt-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

const VOCAB = 13;
function makeModel(seed: number) {
  return new MiniMhcLM({
    vocab: VOCAB,
    hc: 2,
    c: 8,
    layers: 2,
    tmax: 4,
    rng: new Random(seed),
    backend: 'cpu',
  });
}

/** One training step on a batch drawn from rng; returns the loss. */
async function step(model: MiniMhcLM, optim: Optimizer, rng: Random): Promise<number> {
  const x = Int32Array.from({ length: 2 * 6 }, () => rng.int(VOCAB));
  const y = Int32Array.from({ length: 2 * 6 }, () => rng.int(VOCAB));
  const loss = tidy(() => {
    const out = model.loss(tensor(x, [2, 6], { dtype: 'i32' }), tensor(y, [2, 6], { dtype: 'i32' }));
    out.loss.backward();
    optim.step();
    optim.zeroGrad();
    return out.loss;
  });
  const v = await loss.item();
  loss.dispose();
  return v;
}

async function weights(model: MiniMhcLM): Promise<number[][]> {
  return Promise.all(
    model.parameters().map(async (p) => Array.from(new Uint8Array((await p.dataRaw()).buffer))),
  );
}

for (const kind of ['adamw', 'sgd'] as const) {
  const makeOptim = (m: MiniMhcLM) =>
    kind === 'adamw'
      ? new AdamW(m.parameters(), { lr: 3e-3 })
      : new SGD(m.parameters(), { lr: 0.05, momentum: 0.9, nesterov: true });

  describe(`resume (${kind})`, () => {
    it('a run stopped at step k and resumed from its checkpoint equals an uninterrupted run bit for bit', async () => {
      const total = 8;
      const k = 3;
      const ref = makeModel(1);
      const refOpt = makeOptim(ref);
      const refRng = new Random(42);
      const refLosses: number[] = [];
      for (let s = 0; s < total; s++) refLosses.push(await step(ref, refOpt, refRng));

      const a = makeModel(1);
      const aOpt = makeOptim(a);
      const aRng = new Random(42);
      const losses: number[] = [];
      for (let s = 0; s < k; s++) losses.push(await step(a, aOpt, aRng));
      const path = join(dir, `${kind}.safetensors`);
      await saveCheckpoint(path, { model: a, optimizer: aOpt, state: { rng: aRng.getState(), losses } });
      a.dispose();
      aOpt.dispose();

      // A fresh process would build the model from another seed: the checkpoint must overwrite it all.
      const b = makeModel(999);
      const bOpt = makeOptim(b);
      const { state } = await loadCheckpoint(path, { model: b, optimizer: bOpt });
      const st = state as { rng: RandomState; losses: number[] };
      expect(bOpt.stepCount).toBe(k);
      const bRng = new Random(0).setState(st.rng);
      const resumed = [...st.losses];
      for (let s = k; s < total; s++) resumed.push(await step(b, bOpt, bRng));

      expect(resumed).toEqual(refLosses);
      expect(await weights(b)).toEqual(await weights(ref));
      const refSd = refOpt.stateDict();
      const bSd = bOpt.stateDict();
      expect(bSd.step).toBe(refSd.step);
      expect(bSd.hyper).toEqual(refSd.hyper);
      for (const [name, t] of Object.entries(refSd.tensors))
        expect(Array.from(await bSd.tensors[name]!.data())).toEqual(Array.from(await t.data()));
      for (const m of [ref, b]) m.dispose();
      refOpt.dispose();
      bOpt.dispose();
    });
  });
}

describe('checkpoint errors', () => {
  it('refuses a damaged checkpoint, a wrong model and a wrong optimizer, leaving the model as it was', async () => {
    const m = makeModel(1);
    const opt = new AdamW(m.parameters());
    await step(m, opt, new Random(1));
    const path = join(dir, 'e.safetensors');
    await saveCheckpoint(path, { model: m, optimizer: opt, state: { step: 1 } });

    const other = makeModel(2);
    const before = await weights(other);
    // Wrong optimizer kind: checked before the model is written.
    await expect(
      loadCheckpoint(path, { model: other, optimizer: new SGD(other.parameters()) }),
    ).rejects.toThrow(/state.kind: expected 'sgd', got "adamw"/);
    expect(await weights(other)).toEqual(before);
    // Wrong model shape.
    const wide = new MiniMhcLM({ vocab: VOCAB + 1, hc: 2, c: 8, layers: 2, backend: 'cpu' });
    await expect(loadCheckpoint(path, { model: wide })).rejects.toThrow(/expected shape/);
    // A flipped data byte.
    const bytes = new Uint8Array(await readFile(path));
    bytes[bytes.length - 3]! ^= 1;
    const bad = join(dir, 'bad.safetensors');
    await writeFile(bad, bytes);
    await expect(loadCheckpoint(bad, { model: other })).rejects.toBeInstanceOf(SafetensorsError);
    expect(await weights(other)).toEqual(before);
    for (const x of [m, other, wide]) x.dispose();
    opt.dispose();
  });

  it('optimizer state dicts are checked: index, slot, shape, dtype, hyperparameters', async () => {
    const m = makeModel(1);
    const opt = new AdamW(m.parameters());
    await step(m, opt, new Random(1));
    const sd = opt.stateDict();
    const t0 = sd.tensors['0.exp_avg']!;
    const bad = (patch: Partial<typeof sd>) => opt.loadStateDict({ ...sd, ...patch });
    await expect(bad({ kind: 'sgd' })).rejects.toBeInstanceOf(ArgumentError);
    await expect(bad({ step: -1 })).rejects.toThrow(/state.step/);
    await expect(bad({ tensors: { ...sd.tensors, '99.exp_avg': t0 } })).rejects.toThrow(/99.exp_avg/);
    await expect(bad({ tensors: { ...sd.tensors, '0.momentum': t0 } })).rejects.toThrow(/0.momentum/);
    await expect(bad({ tensors: { ...sd.tensors, '1.exp_avg': t0 } })).rejects.toThrow(/expected shape/);
    await expect(bad({ hyper: { ...sd.hyper, lr: -1 } })).rejects.toThrow(/state.hyper.lr/);
    await expect(bad({ hyper: { ...sd.hyper, betas1: 0.5 } })).rejects.toThrow(/did you mean 'beta1'/);
    expect(opt.lr).toBe(1e-3);
    m.dispose();
    opt.dispose();
  });

  it('optimizer options are checked by name', () => {
    const m = makeModel(1);
    expect(() => new AdamW(m.parameters(), { lR: 1 } as never)).toThrow(
      /options.lR: unknown option; did you mean 'lr'/,
    );
    expect(() => new AdamW(m.parameters(), { lr: '0.1' } as never)).toThrow(
      /options.lr: expected a finite number/,
    );
    expect(() => new SGD(m.parameters(), { nesterov: 'yes' } as never)).toThrow(/options.nesterov/);
    expect(() => new SGD(m.parameters(), null as never)).toThrow(/options: expected an options object/);
    expect(() => new SGD([1, 2] as never)).toThrow(/params\[0\]: expected a Tensor/);
    m.dispose();
  });
});
