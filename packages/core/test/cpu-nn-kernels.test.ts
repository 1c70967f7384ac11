import { describe, expect, it } from 'vitest';
import { type DType, roundTo } from '../src/dtype.js';
import { ArgumentError, BackendError, DTypeError, ShapeError } from '../src/errors.js';
import { sizeOf } from '../src/tensor/shape.js';
import {
  cpu,
  dot,
  expectClose,
  expectExact,
  fdGrad,
  fround,
  ops,
  rand,
  randn,
  read,
  tensor,
} from './cpu-generic-helpers.js';

/*
 * The CPU network kernels (embedding, softmax, cross-entropy, RMSNorm, optimizers) against plain references written here (index by index, f64), backward
 * kernels against central finite differences of those f64 references, and the error contract.
 * Inputs are drawn exactly representable in their dtype, so an f32 kernel that computes in f64 and
 * rounds once must match `Math.fround(reference)` to the last bit where the summation order is the
 * same, and to a few ulps elsewhere.
 */

describe('embedding', () => {
  it('gathers rows for ids of any shape (raw bits)', () => {
    for (const dt of ['f32', 'bf16', 'f16'] as const) {
      const W = rand([7, 5], dt);
      const ids = [3, 0, 6, 3, 1, 6];
      const out = ops.embedding(W.t, tensor(ids, [2, 3], 'i32'));
      expect(out.shape).toEqual([2, 3, 5]);
      expectExact(
        read(out),
        ids.flatMap((id) => W.v.slice(id * 5, id * 5 + 5)),
      );
    }
  });

  it('backward scatters in token order, deterministically, and matches finite differences', () => {
    const ids = [2, 4, 2, 0, 2, 4];
    const idsT = tensor(ids, [3, 2], 'i32');
    const G = rand([3, 2, 4]);
    const out = ops.embeddingBackward(G.t, idsT, 6);
    expect(out.shape).toEqual([6, 4]);
    const acc = new Array<number>(24).fill(0);
    ids.forEach((id, t) => {
      for (let j = 0; j < 4; j++) acc[id * 4 + j] += G.v[t * 4 + j]!;
    });
    expectExact(read(out), fround(acc));
    expectExact(cpu.readSync(ops.embeddingBackward(G.t, idsT, 6).handle), cpu.readSync(out.handle));
    // L(W) = Σ g ⊙ W[ids]
    const W0 = randn(24);
    const L = (w: number[]) =>
      ids.reduce((s, id, t) => s + dot(G.v.slice(t * 4, t * 4 + 4), w.slice(id * 4, id * 4 + 4)), 0);
    expectClose(read(out), fdGrad(L, W0), 1e-6, 1e-7);
  });
});

// ---- softmax -----------------------------------------------------------------------------------

function refSoftmax(v: number[], shape: number[], causal: boolean): number[] {
  const n = shape[shape.length - 1]!;
  const tq = causal ? shape[shape.length - 2]! : 1;
  const out: number[] = [];
  for (let r = 0; r < v.length / n; r++) {
    const row = v.slice(r * n, r * n + n);
    const vis = row.map((_, k) => !causal || k <= r % tq);
    const m = Math.max(...row.filter((_, k) => vis[k]));
    const e = row.map((x, k) => (vis[k] ? Math.exp(x - m) : 0));
    const s = e.reduce((a, b) => a + b, 0);
    out.push(...e.map((x) => x / s));
  }
  return out;
}

describe('softmax', () => {
  for (const [shape, causal] of [
    [[3, 7], false],
    [[2, 3, 1], false],
    [[2, 5, 5], true],
    [[2, 2, 3, 4], true],
    [[4, 6], true],
  ] as [number[], boolean][])
    it(`[${shape}] causal=${causal} matches the reference`, () => {
      const { t, v } = rand(shape, 'f32', 3);
      const out = ops.softmax(t, causal);
      expectClose(read(out), refSoftmax(v, shape, causal), 2e-7, 0);
    });

  it('causal rows sum to 1 and are exactly 0 above the diagonal', () => {
    const T = 6;
    const { t } = rand([2, T, T], 'f32', 5);
    const y = read(ops.softmax(t, true));
    for (let b = 0; b < 2; b++)
      for (let q = 0; q < T; q++) {
        const row = y.slice((b * T + q) * T, (b * T + q + 1) * T);
        expect(row.reduce((a, c) => a + c, 0)).toBeCloseTo(1, 6);
        for (let k = q + 1; k < T; k++) expect(row[k]).toBe(0);
        for (let k = 0; k <= q; k++) expect(row[k]).toBeGreaterThan(0);
      }
  });

  it('does not overflow for large logits', () => {
    expectClose(read(ops.softmax(tensor([1000, 1000, -1000], [3]), false)), [0.5, 0.5, 0], 1e-7, 0);
  });

  for (const causal of [false, true])
    it(`backward matches finite differences (causal=${causal})`, () => {
      const shape = [2, 4, 4];
      const { t, v } = rand(shape);
      const g = randn(32);
      const y = ops.softmax(t, causal);
      const gx = ops.softmaxBackward(y, tensor(g, shape));
      const fd = fdGrad((x) => dot(g, refSoftmax(x, shape, causal)), v);
      expectClose(read(gx), fd, 1e-5, 1e-6);
    });
});

// ---- cross-entropy -----------------------------------------------------------------------------

/** Mean over kept rows of −log_softmax(row)[label]; written out by hand. */
function refCrossEntropy(x: number[], N: number, V: number, labels: number[], ignore: number) {
  let total = 0;
  let count = 0;
  const lse: number[] = [];
  for (let r = 0; r < N; r++) {
    const row = x.slice(r * V, r * V + V);
    const m = Math.max(...row);
    const l = m + Math.log(row.reduce((s, z) => s + Math.exp(z - m), 0));
    lse.push(l);
    if (labels[r] === ignore) continue;
    total += -(row[labels[r]!]! - l); // −log_softmax at the label
    count++;
  }
  return { loss: count ? total / count : 0, lse };
}

describe('crossEntropy', () => {
  const N = 6;
  const V = 9;
  const labels = [3, -100, 0, 8, -100, 5];

  it('matches log-softmax by hand, skipping ignoreIndex rows', () => {
    const { t, v } = rand([N, V], 'f32', 2);
    const r = ops.crossEntropy(t, tensor(labels, [N], 'i32'), -100);
    expect(r.loss.shape).toEqual([]);
    expect(r.loss.dtype).toBe('f32');
    expect(r.lse.shape).toEqual([N]);
    const ref = refCrossEntropy(v, N, V, labels, -100);
    expectClose(read(r.loss), [ref.loss], 1e-7, 0);
    expectClose(read(r.lse), ref.lse, 1e-7, 0);
    // a tiny explicit case: logits [0, ln 3] with label 1 → −log(3/4)
    const tiny = ops.crossEntropy(tensor([0, Math.log(3)], [1, 2]), tensor([1], [1], 'i32'), -1);
    expect(read(tiny.loss)[0]).toBeCloseTo(-Math.log(0.75), 7);
  });

  it('gives loss 0 and gradient 0 when every row is ignored', () => {
    const { t } = rand([2, 3]);
    const y = tensor([7, 7], [2], 'i32');
    const r = ops.crossEntropy(t, y, 7);
    expectExact(read(r.loss), [0]);
    expectExact(read(ops.crossEntropyBackward(tensor([1], []), t, y, r.lse, 7)), [0, 0, 0, 0, 0, 0]);
  });

  for (const dt of ['f32', 'bf16'] as const)
    it(`backward (${dt} logits) matches finite differences, scaled by gradLoss`, () => {
      const { t, v } = rand([N, V], dt, 2);
      const y = tensor(labels, [N], 'i32');
      const r = ops.crossEntropy(t, y, -100);
      const gradLoss = 0.75;
      const gx = ops.crossEntropyBackward(tensor([gradLoss], []), t, y, r.lse, -100);
      expect(gx.dtype).toBe(dt);
      const fd = fdGrad((x) => gradLoss * refCrossEntropy(x, N, V, labels, -100).loss, v);
      // Ignored rows are exactly zero.
      for (const row of [1, 4]) expectExact(read(gx).slice(row * V, row * V + V), new Array(V).fill(0));
      expectClose(read(gx), fd, dt === 'f32' ? 1e-5 : 8e-3, dt === 'f32' ? 1e-6 : 4e-3);
    });
});

// ---- rmsNorm -----------------------------------------------------------------------------------

function refRmsNorm(x: number[], w: number[], D: number, eps: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < x.length / D; r++) {
    const row = x.slice(r * D, r * D + D);
    const ir = 1 / Math.sqrt(row.reduce((s, z) => s + z * z, 0) / D + eps);
    out.push(...row.map((z, j) => z * ir * w[j]!));
  }
  return out;
}

describe('rmsNorm', () => {
  const eps = 1e-5;
  it('forward matches the reference, invr is f32 per row', () => {
    const X = rand([2, 3, 7]);
    const W = rand([7]);
    const r = ops.rmsNorm(X.t, W.t, eps);
    expect(r.y.shape).toEqual([2, 3, 7]);
    expect(r.invr.shape).toEqual([6]);
    expect(r.invr.dtype).toBe('f32');
    expectClose(read(r.y), refRmsNorm(X.v, W.v, 7, eps), 2e-7, 0);
    const invr = Array.from(
      { length: 6 },
      (_, q) => 1 / Math.sqrt(dot(X.v.slice(q * 7, q * 7 + 7), X.v.slice(q * 7, q * 7 + 7)) / 7 + eps),
    );
    expectExact(read(r.invr), fround(invr));
  });

  it('takes a weight of another float dtype; y keeps x dtype', () => {
    const X = rand([3, 4], 'bf16');
    const W = rand([4], 'f32');
    const r = ops.rmsNorm(X.t, W.t, eps);
    expect(r.y.dtype).toBe('bf16');
    expectExact(read(r.y), fround(refRmsNorm(X.v, W.v, 4, eps), 'bf16'));
  });

  it('backward matches finite differences for x and weight', () => {
    const D = 5;
    const X = rand([3, D]);
    const W = rand([D]);
    const g = randn(3 * D);
    const r = ops.rmsNorm(X.t, W.t, eps);
    const { gradX, gradWeight } = ops.rmsNormBackward(tensor(g, [3, D]), X.t, W.t, r.invr);
    expect(gradWeight.shape).toEqual([D]);
    const fdX = fdGrad((x) => dot(g, refRmsNorm(x, W.v, D, eps)), X.v);
    const fdW = fdGrad((w) => dot(g, refRmsNorm(X.v, w, D, eps)), W.v);
    // invr is stored as f32 (relative error ≤ 6e-8) and the backward uses it: rtol 1e-5 has room.
    expectClose(read(gradX), fdX, 1e-5, 1e-6);
    expectClose(read(gradWeight), fdW, 1e-5, 1e-6);
  });
});

// ---- optimizers --------------------------------------------------------------------------------

describe('adamwStep', () => {
  it('step 1 from zero state, by hand', () => {
    // p=1, g=0.5, lr=0.1, β1=0.9, β2=0.999, eps=1e-8, wd=0.01:
    //   decay: 1·(1 − 0.1·0.01) = 0.999
    //   m = 0.1·0.5 = 0.05, v = 0.001·0.25 = 0.00025
    //   m̂ = 0.05/0.1 = 0.5, v̂ = 0.00025/0.001 = 0.25, update = 0.5/(0.5 + 1e-8)
    //   p = 0.999 − 0.1·0.99999998 = 0.899000002
    // second element g = −2, p = −3: decay −2.997; m̂ = −2, v̂ = 4: p = −2.997 + 0.1·(2/(2+1e-8))
    const param = tensor([1, -3], [2]);
    const m = tensor([0, 0], [2]);
    const v = tensor([0, 0], [2]);
    ops.adamwStep(param, tensor([0.5, -2], [2]), m, v, {
      lr: 0.1,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0.01,
      step: 1,
    });
    expectExact(read(m), fround([0.05, -0.2]));
    expectExact(read(v), fround([0.00025, 0.004]));
    expectExact(read(param), fround([0.999 - 0.1 * (0.5 / (0.5 + 1e-8)), -2.997 + 0.1 * (2 / (2 + 1e-8))]));
  });

  it('step 3 with state, no decay, bf16 param', () => {
    // p=0.5 (bf16-exact), g=0.25, m=0.125, v=0.0625, β1=0.5, β2=0.75, lr=0.0625, eps=0, t=3:
    //   m = 0.5·0.125 + 0.5·0.25 = 0.1875;  v = 0.75·0.0625 + 0.25·0.0625 = 0.0625
    //   m̂ = 0.1875/(1 − 0.125) = 0.2142857…;  v̂ = 0.0625/(1 − 0.421875) = 0.1081081…
    //   p = 0.5 − 0.0625·0.2142857/0.3287980 = 0.4592672…, stored as bf16 235·2⁻⁹ = 0.458984375
    const param = tensor([0.5], [1], 'bf16');
    const m = tensor([0.125], [1]);
    const v = tensor([0.0625], [1]);
    ops.adamwStep(param, tensor([0.25], [1]), m, v, {
      lr: 0.0625,
      beta1: 0.5,
      beta2: 0.75,
      eps: 0,
      weightDecay: 0,
      step: 3,
    });
    expectExact(read(m), [0.1875]);
    expectExact(read(v), [0.0625]);
    const expected = 0.5 - (0.0625 * (0.1875 / 0.875)) / Math.sqrt(0.0625 / 0.578125);
    expect(expected).toBeCloseTo(0.4592672, 7);
    expectExact(read(param), [roundTo('bf16', expected)]);
    expect(read(param)[0]).toBe(0.458984375);
  });
});

describe('sgdStep', () => {
  it('plain SGD with weight decay, no buffer', () => {
    // p = 2 − 0.1·(0.5 + 0.1·2) = 1.93
    const param = tensor([2], [1]);
    ops.sgdStep(param, tensor([0.5], [1]), null, { lr: 0.1, momentum: 0, weightDecay: 0.1, nesterov: false });
    expectExact(read(param), [Math.fround(1.93)]);
  });

  it('momentum: two steps, by hand', () => {
    // μ=0.9, lr=0.5, g=1 then g=2, p=0:
    //   step 1: buf = 1,   p = −0.5
    //   step 2: buf = 0.9 + 2 = 2.9,  p = −0.5 − 1.45 = −1.95
    const param = tensor([0], [1]);
    const buf = tensor([0], [1]);
    const p = { lr: 0.5, momentum: 0.9, weightDecay: 0, nesterov: false };
    ops.sgdStep(param, tensor([1], [1]), buf, p);
    expectExact(read(buf), [1]);
    expectExact(read(param), [-0.5]);
    ops.sgdStep(param, tensor([2], [1]), buf, p);
    expectExact(read(buf), [Math.fround(2.9)]);
    expectExact(read(param), [Math.fround(-0.5 - 0.5 * Math.fround(2.9))]);
  });

  it('nesterov: the step uses g + μ·buf', () => {
    // μ=0.5, lr=1, g=1, buf=2, p=10 (f16): buf = 1 + 1 = 2, d = 1 + 0.5·2 = 2, p = 8
    const param = tensor([10], [1], 'f16');
    const buf = tensor([2], [1]);
    ops.sgdStep(param, tensor([1], [1], 'f16'), buf, {
      lr: 1,
      momentum: 0.5,
      weightDecay: 0,
      nesterov: true,
    });
    expectExact(read(buf), [2]);
    expectExact(read(param), [8]);
  });
});

// ---- errors ------------------------------------------------------------------------------------

describe('errors are typed and thrown before anything is written', () => {
  const f = (shape: number[], dtype: DType = 'f32') => tensor(new Array(sizeOf(shape)).fill(1), shape, dtype);

  it('throws the typed error naming the argument', () => {
    const cases: [() => unknown, new (...a: never[]) => Error, string][] = [
      [() => ops.binary('add', f([2]), f([2], 'bf16')), DTypeError, 'b'],
      [() => ops.binary('mul', f([2, 3]), f([4])), ShapeError, 'b'],
      [() => ops.unary('exp', f([2], 'i32')), DTypeError, 'x'],
      [() => ops.unaryBackward('exp', f([2]), f([3])), ShapeError, 'grad'],
      [() => ops.fill([2, -1], 'f32', 0), ArgumentError, 'shape'],
      [() => ops.sum(f([2, 3]), [1, -1], false), ArgumentError, 'axes'],
      [() => ops.sum(f([2, 3]), [2], false), ArgumentError, 'axes'],
      [() => ops.broadcastTo(f([2, 3]), [3, 3]), ShapeError, 'shape'],
      [() => ops.broadcastTo(f([2, 3]), [3]), ShapeError, 'shape'],
      [() => ops.matmul(f([2, 3]), f([4, 5])), ShapeError, 'b'],
      [() => ops.matmul(f([2, 3]), f([3, 4]), { transB: true }), ShapeError, 'b'],
      [() => ops.matmul(f([2, 2, 3]), f([3, 3, 4])), ShapeError, 'b'],
      [() => ops.matmul(f([2, 3]), f([2, 3, 4])), ShapeError, 'b'],
      [() => ops.matmul(f([3]), f([3, 4])), ShapeError, 'a'],
      [() => ops.matmul(f([2, 3]), f([3, 4], 'f16')), DTypeError, 'b'],
      [() => ops.matmul(f([2, 3], 'i32'), f([3, 4], 'i32')), DTypeError, 'a'],
      [() => ops.transpose(f([2, 3]), [0, 0]), ArgumentError, 'perm'],
      [() => ops.slice(f([2, 3]), 1, 2, 4), ArgumentError, 'start/end'],
      [() => ops.slice(f([2, 3]), 2, 0, 1), ArgumentError, 'axis'],
      [() => ops.concat([f([2, 3]), f([3, 3])], 1), ShapeError, 'xs[1]'],
      [() => ops.concat([f([2, 3]), f([2, 3], 'bf16')], 0), DTypeError, 'xs[1]'],
      [() => ops.concat([], 0), ArgumentError, 'xs'],
      [() => ops.embedding(f([4, 2]), tensor([1, 4], [2], 'i32')), ArgumentError, 'ids'],
      [() => ops.embedding(f([4, 2]), f([2])), DTypeError, 'ids'],
      [() => ops.embeddingBackward(f([2, 3]), tensor([0, 1], [2], 'i32'), 1), ArgumentError, 'ids'],
      [() => ops.embeddingBackward(f([3, 3]), tensor([0, 1], [2], 'i32'), 4), ShapeError, 'grad'],
      [() => ops.crossEntropy(f([2, 3]), f([2]), -100), DTypeError, 'labels'],
      [() => ops.crossEntropy(f([2, 3]), tensor([0, 3], [2], 'i32'), -100), ArgumentError, 'labels'],
      [() => ops.crossEntropy(f([2, 3]), tensor([0], [1], 'i32'), -100), ShapeError, 'labels'],
      [
        () => ops.crossEntropyBackward(f([2]), f([2, 3]), tensor([0, 1], [2], 'i32'), f([2]), -1),
        ShapeError,
        'gradLoss',
      ],
      [() => ops.softmax(f([4]), true), ShapeError, 'x'],
      [() => ops.softmaxBackward(f([2, 3]), f([2, 3], 'bf16')), DTypeError, 'grad'],
      [() => ops.rmsNorm(f([2, 3]), f([2]), 1e-5), ShapeError, 'weight'],
      [() => ops.rmsNorm(f([2, 3]), f([3]), -1), ArgumentError, 'eps'],
      [() => ops.rmsNormBackward(f([2, 3]), f([2, 3]), f([3]), f([3])), ShapeError, 'invr'],
      [() => ops.adamwStep(f([2]), f([2]), f([2], 'bf16'), f([2]), adamP(1)), DTypeError, 'm'],
      [() => ops.adamwStep(f([2]), f([2]), f([2]), f([3]), adamP(1)), ShapeError, 'v'],
      [() => ops.adamwStep(f([2]), f([3]), f([2]), f([2]), adamP(1)), ShapeError, 'grad'],
      [() => ops.adamwStep(f([2]), f([2]), f([2]), f([2]), adamP(0)), ArgumentError, 'step'],
      [
        () => ops.sgdStep(f([2]), f([2]), null, { lr: 1, momentum: 0.9, weightDecay: 0, nesterov: false }),
        ArgumentError,
        'momentumBuf',
      ],
      [
        () => ops.sgdStep(f([2]), f([2]), null, { lr: 1, momentum: 0, weightDecay: 0, nesterov: true }),
        ArgumentError,
        'nesterov',
      ],
      [() => ops.cast(f([2]), 'f64' as DType), DTypeError, 'dtype'],
      [() => ops.unary('exp', { handle: f([3]).handle, shape: [4], dtype: 'f32' }), ShapeError, 'x'],
      [() => ops.unary('exp', { handle: {}, shape: [1], dtype: 'f32' }), BackendError, 'x'],
    ];
    for (const [call, type, arg] of cases) {
      let err: unknown;
      try {
        call();
      } catch (e) {
        err = e;
      }
      expect(err, `${call}`).toBeInstanceOf(type);
      expect((err as { argument: string }).argument, `${call}`).toBe(arg);
    }
  });

  it('a failing call allocates nothing and leaves in-place state untouched', () => {
    const param = tensor([1, 2], [2]);
    const m = tensor([0.5, 0.5], [2]);
    const v = tensor([0.25, 0.25], [2], 'bf16'); // wrong dtype, checked after m
    const before = cpu.memory().liveBuffers;
    expect(() => ops.adamwStep(param, tensor([1, 1], [2]), m, v, adamP(1))).toThrow(DTypeError);
    expectExact(read(param), [1, 2]);
    expectExact(read(m), [0.5, 0.5]);
    expect(cpu.memory().liveBuffers).toBe(before + 1); // only the grad tensor made above
    const n = cpu.memory().liveBuffers;
    expect(() => ops.matmul(f([2, 3]), f([4, 5]))).toThrow(ShapeError);
    expect(cpu.memory().liveBuffers).toBe(n + 2); // the two inputs, no output
  });
});

function adamP(step: number) {
  return { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step };
}
