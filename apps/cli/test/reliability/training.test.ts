import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AdamW,
  type Backend,
  loadCheckpoint,
  MiniMhcLM,
  Random,
  type RandomState,
  saveCheckpoint,
  setBackend,
  type Tensor,
  tensor,
  tidy,
} from '@liger-mhc/core';
import { afterAll, describe, expect, it, vi } from 'vitest';

/*
 * Training-level guarantees: a resumed run equals the uninterrupted one, the same seed gives the
 * same bits run to run, and live backend buffers stay flat over 2,000 steps, in tidy() and in a
 * plain loop that disposes only what it keeps (the loss and the logits, which are the caller's), on
 * cpu and on webgpu (lavapipe in CI).
 */

const scratch = mkdtempSync(join(tmpdir(), 'lmhc-rel-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/*
 * Steps per loop (plain, then tidy). The step is kept cheap by the model (vocab 13, hc 2, c 8, one
 * layer), not by fewer steps: growth of one buffer every few hundred steps must still show. Every
 * step reads its loss back, as a training loop that logs it does; on lavapipe that readback is not
 * what the time goes to (reading every 10th step instead was no faster).
 */
const LEAK_STEPS = 2000;
const VOCAB = 13;

async function backend(name: string): Promise<Backend | null> {
  if (name === 'webgpu') {
    try {
      await import('@liger-mhc/webgpu-wgsl');
      return await setBackend('webgpu');
    } catch {
      return null;
    }
  }
  return setBackend(name);
}

const webgpu = await backend('webgpu');
const cpu = await backend('cpu');
const backends: [string, Backend | null][] = [
  ['cpu', cpu],
  ['webgpu', webgpu],
];

function model(be: Backend, rng: Random): MiniMhcLM {
  return new MiniMhcLM({ vocab: VOCAB, hc: 2, c: 8, layers: 1, tmax: 4, allowFp32: true, backend: be, rng });
}

/** A batch drawn from rng (the data position is the generator's state). */
function batch(be: Backend, rng: Random): { x: Tensor; y: Tensor } {
  const n = 2 * 6;
  const x = new Int32Array(n);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = rng.int(VOCAB);
    y[i] = (x[i]! * 3 + 1) % VOCAB;
  }
  return {
    x: tensor(x, [2, 6], { dtype: 'i32', backend: be }),
    y: tensor(y, [2, 6], { dtype: 'i32', backend: be }),
  };
}

/** One AdamW step in a plain loop: only the caller's tensors (batch, loss, logits) are disposed. */
async function step(m: MiniMhcLM, opt: AdamW, be: Backend, rng: Random): Promise<number> {
  const { x, y } = batch(be, rng);
  const { loss, logits } = m.loss(x, y);
  loss.backward();
  opt.step();
  opt.zeroGrad();
  const v = await loss.item();
  for (const t of [x, y, loss, logits]) t.dispose();
  return v;
}

async function weights(m: MiniMhcLM): Promise<number[][]> {
  return Promise.all(m.parameters().map(async (p) => [...(await p.data())]));
}

async function run(be: Backend, steps: number): Promise<{ losses: number[]; w: number[][] }> {
  const rng = new Random(42);
  const m = model(be, rng);
  const opt = new AdamW(m.parameters(), { lr: 1e-2 });
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) losses.push(await step(m, opt, be, rng));
  const w = await weights(m);
  opt.dispose();
  m.dispose();
  return { losses, w };
}

for (const [name, be] of backends) {
  const d = be ? describe : describe.skip;
  d(`training on ${name}`, () => {
    it('the same seed gives bit-identical losses and weights run to run', async () => {
      const a = await run(be!, 5);
      const b = await run(be!, 5);
      expect(b.losses).toEqual(a.losses);
      expect(b.w).toEqual(a.w);
    });

    it('interrupted at step 3 and resumed from its checkpoint equals the uninterrupted run', async () => {
      const straight = await run(be!, 6);
      const rng = new Random(42);
      const m = model(be!, rng);
      const opt = new AdamW(m.parameters(), { lr: 1e-2 });
      const losses: number[] = [];
      for (let i = 0; i < 3; i++) losses.push(await step(m, opt, be!, rng));
      const path = join(scratch, `${name}.safetensors`);
      await saveCheckpoint(path, { model: m, optimizer: opt, state: { rng: rng.getState(), losses } });
      opt.dispose();
      m.dispose();

      // A new process would build the model from another generator: the checkpoint sets everything.
      const m2 = model(be!, new Random(999));
      const opt2 = new AdamW(m2.parameters(), { lr: 1e-2 });
      const { state } = await loadCheckpoint(path, { model: m2, optimizer: opt2 });
      const s = state as { rng: RandomState; losses: number[] };
      const rng2 = new Random(0).setState(s.rng);
      const resumed = [...s.losses];
      for (let i = 0; i < 3; i++) resumed.push(await step(m2, opt2, be!, rng2));
      expect(resumed).toEqual(straight.losses);
      expect(await weights(m2)).toEqual(straight.w);
      opt2.dispose();
      m2.dispose();
    });

    const steps = LEAK_STEPS;
    const loops = be?.readSync
      ? 'in a plain loop, in tidy and fully synchronous'
      : 'in a plain loop and in tidy';
    it(`${steps} fwd+bwd+AdamW steps hold live buffers flat, ${loops}`, async () => {
      const rng = new Random(5);
      const m = model(be!, rng);
      const opt = new AdamW(m.parameters(), { lr: 1e-3 });
      const warn = vi.spyOn(console, 'warn');
      const live = () => be!.memory().liveBuffers;
      // Warm up: the optimizer's moments are created at the first step.
      await step(m, opt, be!, rng);
      const base = live();
      for (let i = 0; i < steps; i++) {
        await step(m, opt, be!, rng);
        if (i % 100 === 99) expect(live(), `plain loop, step ${i + 1}`).toBe(base);
      }
      for (let i = 0; i < steps; i++) {
        const loss = tidy(() => {
          const { x, y } = batch(be!, rng);
          const out = m.loss(x, y);
          out.loss.backward();
          opt.step();
          opt.zeroGrad();
          return out.loss;
        });
        await loss.item();
        loss.dispose();
        if (i % 100 === 99) expect(live(), `tidy, step ${i + 1}`).toBe(base);
      }
      if (be!.readSync) {
        // Fully synchronous, as a CPU user may write it: no await anywhere, so finalizers never get
        // a turn and only backward() and the optimizer releasing what they own keeps this flat.
        for (let i = 0; i < steps; i++) {
          const { x, y } = batch(be!, rng);
          const { loss, logits } = m.loss(x, y);
          loss.backward();
          opt.step();
          opt.zeroGrad();
          loss.dataSync();
          for (const t of [x, y, loss, logits]) t.dispose();
          if (i % 100 === 99) expect(live(), `synchronous loop, step ${i + 1}`).toBe(base);
        }
      }
      expect(warn).not.toHaveBeenCalled();
      warn.mockRestore();
      opt.dispose();
      m.dispose();
    }, 120_000);
  });
}

describe('a loop that keeps its tensors', () => {
  it('gets one warning naming tidy() when live buffers keep rising', async () => {
    const be = cpu!;
    const rng = new Random(6);
    const m = model(be, rng);
    const opt = new AdamW(m.parameters(), { lr: 1e-3 });
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const kept: Tensor[] = [];
    for (let i = 0; i < 500; i++) {
      const { x, y } = batch(be, rng);
      const { loss, logits } = m.loss(x, y);
      loss.backward();
      opt.step();
      opt.zeroGrad();
      kept.push(x, y, loss, logits);
    }
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toMatch(
      /^liger-mhc: live cpu buffers rose from \d+ to \d+ over the last 300 backward\(\) calls made outside any scope\. .*dispose\(\) them after use, or run each step in tidy\(/,
    );
    warn.mockRestore();
    for (const t of kept) t.dispose();
    opt.dispose();
    m.dispose();
  });
});
