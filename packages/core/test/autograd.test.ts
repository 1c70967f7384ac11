import { describe, expect, it } from 'vitest';
import {
  add,
  CpuBackend,
  getBackend,
  keep,
  matmul,
  mhcCoeffs,
  mhcPostRes,
  mhcPre,
  mul,
  noGrad,
  sum,
  tensor,
  tidy,
} from '../src/index.js';
import { coeffInputs, rnd } from './helpers.js';

describe('autograd', () => {
  it('accumulates gradients through a shared input (d/dx of x*x + x = 2x + 1)', () => {
    const x = tensor([1, -2, 3], [3], { requiresGrad: true });
    const y = sum(add(mul(x, x), x));
    y.backward();
    expect(Array.from(x.grad!.dataSync())).toEqual([3, -3, 7]);
    // A second backward accumulates into .grad, as in PyTorch.
    sum(mul(x, x)).backward();
    expect(Array.from(x.grad!.dataSync())).toEqual([5, -7, 13]);
  });

  it('reshape views carry gradients and share storage', () => {
    const a = tensor([1, 2, 3, 4, 5, 6], [2, 3], { requiresGrad: true });
    const w = tensor([1, 0, 0, 1, 1, 1], [3, 2]);
    const y = matmul(a.reshape([2, 3]), w);
    sum(y.reshape([-1])).backward();
    expect(Array.from(a.grad!.dataSync())).toEqual([1, 1, 2, 1, 1, 2]);
  });

  it('noGrad records nothing', () => {
    const x = tensor([1, 2], [2], { requiresGrad: true });
    const y = noGrad(() => mul(x, x));
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
  });

  it('backward works when only one coeffs output feeds the loss', () => {
    for (const used of ['hPre', 'hPost', 'hRes'] as const) {
      const i = coeffInputs(3, 2, 4, 7, true);
      const h = mhcCoeffs(i.x, i.phi, i.b, i.alphaPre, i.alphaPost, i.alphaRes);
      // A weighted sum: plain sum(hRes) is constant (columns sum to 1), so its gradient is 0.
      const out = h[used];
      const w = rnd(out.shape as number[], 11, 'f32');
      sum(mul(out, w)).backward();
      expect(i.phi.grad).not.toBeNull();
      expect(i.x.grad).not.toBeNull();
      const g = i.phi.grad!.dataSync();
      expect(g.some((v) => v !== 0)).toBe(true);
      // b's gradient is zero exactly on the slots of the unused outputs.
      const gb = i.b.grad!.dataSync();
      const slots = { hPre: [0, 2], hPost: [2, 4], hRes: [4, 8] }[used];
      gb.forEach((v, k) => {
        if (k >= slots[0]! && k < slots[1]!) expect(Math.abs(v)).toBeGreaterThan(0);
        else expect(v).toBe(0);
      });
    }
  });

  it('a second backward through a released graph says so', () => {
    const x = tensor([1, 2], [2], { requiresGrad: true });
    const y = sum(mul(x, x));
    y.backward();
    expect(() => y.backward()).toThrow(/a second time/);
    const z = sum(mul(x, x));
    z.backward(undefined, { retainGraph: true });
    expect(() => z.backward()).not.toThrow();
  });

  it('tidy disposes intermediates, keeps returned tensors and leaf gradients', () => {
    const be = getBackend('cpu');
    const x = tensor([1, 2, 3], [3], { requiresGrad: true });
    const before = be.memory().liveBuffers;
    const kept = tidy(() => {
      const y = sum(mul(x, x));
      y.backward();
      return mul(x, x);
    });
    // live now: kept, x.grad (new), everything else released
    expect(be.memory().liveBuffers).toBe(before + 2);
    expect(Array.from(kept.dataSync())).toEqual([1, 4, 9]);
    expect(Array.from(x.grad!.dataSync())).toEqual([2, 4, 6]);
    kept.dispose();
    x.grad!.dispose();
    x.grad = null;
    expect(be.memory().liveBuffers).toBe(before);
    const k = tidy(() => {
      const t = tensor([1], [1]);
      keep(t);
      return undefined;
    });
    expect(k).toBeUndefined();
    expect(be.memory().liveBuffers).toBe(before + 1);
  });

  it('a training step in tidy leaks nothing (mHC forward+backward)', () => {
    const be = getBackend('cpu');
    const i = coeffInputs(4, 4, 8, 3, true);
    const step = () =>
      tidy(() => {
        const h = mhcCoeffs(i.x, i.phi, i.b, i.alphaPre, i.alphaPost, i.alphaRes);
        sum(add(sum(h.hRes), sum(h.hPre))).backward();
        for (const t of Object.values(i)) {
          t.grad?.dispose();
          t.grad = null;
        }
      });
    step();
    const live = be.memory();
    for (let k = 0; k < 20; k++) step();
    expect(be.memory().liveBuffers).toBe(live.liveBuffers);
    expect(be.memory().liveBytes).toBe(live.liveBytes);
  });
});

describe('matmul gradients for every transpose combination, batched and shared operands', () => {
  it('match central finite differences', async () => {
    const { rnd } = await import('./helpers.js');
    for (const [ta, tb, shared] of [
      [false, false, false],
      [true, false, false],
      [false, true, false],
      [true, true, false],
      [false, false, true],
      [true, false, true],
      [false, true, true],
      [true, true, true],
    ] as const) {
      const a = rnd(ta ? [2, 3, 4] : [2, 4, 3], 1, 'f32', true);
      const b = rnd(shared ? (tb ? [5, 3] : [3, 5]) : tb ? [2, 5, 3] : [2, 3, 5], 2, 'f32', true);
      const w = rnd([2, 4, 5], 3, 'f32');
      const loss = () => sum(mul(matmul(a, b, { transA: ta, transB: tb }), w));
      loss().backward();
      for (const t of [a, b]) {
        const raw = Float32Array.from(t.dataSync());
        const g = t.grad!.dataSync();
        for (const i of [0, raw.length - 1]) {
          const at = (e: number) => {
            const m = raw.slice();
            m[i]! += e;
            t.backend.write(t.handle, m);
            return noGrad(() => loss().dataSync()[0]!);
          };
          const fd = (at(1e-2) - at(-1e-2)) / 2e-2;
          t.backend.write(t.handle, raw);
          expect(g[i]).toBeCloseTo(fd, 2);
        }
      }
    }
  });
});

describe('x-gradient accumulation folded into the mHC backward kernels', () => {
  const layer = (i: ReturnType<typeof coeffInputs>, w: ReturnType<typeof rnd>) => {
    const h = mhcCoeffs(i.x, i.phi, i.b, i.alphaPre, i.alphaPost, i.alphaRes);
    const xIn = mhcPre(i.x, h.hPre);
    return sum(mul(mhcPostRes(i.x, xIn, h.hPost, h.hRes), w));
  };

  it('is bit-identical to core adding the three pieces', async () => {
    const be = getBackend('cpu');
    const plain = new CpuBackend();
    Object.defineProperty(plain.mhc, 'accumulatesGradX', { value: false });
    const grads: Float32Array[] = [];
    for (const backend of [be, plain]) {
      const i = coeffInputs(5, 3, 7, 21, true);
      const moved = Object.fromEntries(
        await Promise.all(
          Object.entries(i).map(async ([k, t]) => [
            k,
            Object.assign(await t.to(backend), { requiresGrad: true }),
          ]),
        ),
      ) as typeof i;
      const w = await rnd([5, 3, 7], 4, 'bf16').to(backend);
      layer(moved, w).backward();
      grads.push(Float32Array.from(await moved.x.grad!.data()));
    }
    expect(grads[0]!.some((v) => v !== 0)).toBe(true);
    expect(Array.from(grads[0]!)).toEqual(Array.from(grads[1]!));
  });

  it('adds onto a leaf gradient left by an earlier backward pass', () => {
    const i = coeffInputs(4, 2, 6, 5, true);
    const w = rnd([4, 2, 6], 6, 'bf16');
    layer(i, w).backward();
    const once = Array.from(i.x.grad!.dataSync());
    layer(i, w).backward();
    const twice = Array.from(i.x.grad!.dataSync());
    // bf16 storage: every partial sum is rounded (2^-9 of the running sum, whose pieces can be
    // larger than the total), so bound by the tensor's scale.
    const scale = Math.max(...once.map(Math.abs));
    for (let k = 0; k < twice.length; k++)
      expect(Math.abs(twice[k]! - 2 * once[k]!)).toBeLessThanOrEqual(2 ** -6 * scale);
  });
});
