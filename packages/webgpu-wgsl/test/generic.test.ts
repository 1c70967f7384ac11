import { compare, TOLERANCES } from '@liger-mhc/conformance';
import {
  type Backend,
  CpuBackend,
  type DType,
  decode,
  encode,
  Random,
  sizeOf,
  type TensorInfo,
  type UnaryOp,
} from '@liger-mhc/core';
import { afterAll, describe, expect, it } from 'vitest';
import { gpu, skipReason } from './helpers.js';

/** Generic kernels against the CPU backend, on random data. */
const b = await gpu();
const d = b ? describe : describe.skip;
const cpu = new CpuBackend();
afterAll(() => b?.dispose());

const rng = new Random(1234);
function rand(n: number, lo = -2, hi = 2): number[] {
  return Array.from({ length: n }, () => lo + (hi - lo) * rng.uniform());
}

function put(be: Backend, values: number[], shape: readonly number[], dtype: DType): TensorInfo {
  const h = be.alloc(dtype, sizeOf(shape));
  be.write(h, encode(dtype, values));
  return { handle: h, shape: [...shape], dtype };
}

/** The same values on both backends. */
function pair(shape: readonly number[], dtype: DType = 'f32', values?: number[]) {
  const v = values ?? rand(sizeOf(shape));
  return { g: put(b!, v, shape, dtype), c: put(cpu, v, shape, dtype) };
}

async function same(gt: TensorInfo, ct: TensorInfo, tol = TOLERANCES[ct.dtype]) {
  expect(gt.shape).toEqual(ct.shape);
  expect(gt.dtype).toBe(ct.dtype);
  const a = decode(gt.dtype, await b!.read(gt.handle));
  const e = decode(ct.dtype, cpu.readSync(ct.handle));
  expect(compare(a, e, tol).ratio).toBeLessThanOrEqual(1);
}

d(`generic kernels vs CPU${b ? '' : ` (skipped: ${skipReason()})`}`, () => {
  it('fill and cast', async () => {
    for (const dt of ['f32', 'bf16', 'f16', 'i32'] as DType[])
      await same(b!.ops.fill([3, 5], dt, 1.7), cpu.ops.fill([3, 5], dt, 1.7));
    const x = pair([7, 3]);
    for (const dt of ['bf16', 'f16', 'i32', 'f32'] as DType[])
      await same(b!.ops.cast(x.g, dt), cpu.ops.cast(x.c, dt));
    const h = pair([5], 'bf16');
    await same(b!.ops.cast(h.g, 'f32'), cpu.ops.cast(h.c, 'f32'));
  });

  it('binary with broadcasting', async () => {
    for (const dt of ['f32', 'bf16'] as DType[]) {
      const a = pair([2, 3, 4], dt);
      const c = pair([3, 1], dt);
      const s = pair([2, 3, 4], dt);
      for (const op of ['add', 'sub', 'mul', 'div'] as const) {
        await same(b!.ops.binary(op, a.g, c.g), cpu.ops.binary(op, a.c, c.c));
        await same(b!.ops.binary(op, a.g, s.g), cpu.ops.binary(op, a.c, s.c));
      }
    }
  });

  it('unary, unaryBackward, affine', async () => {
    const x = pair([37], 'f32', rand(37, 0.1, 3));
    const g = pair([37]);
    const ops: UnaryOp[] = [
      'neg',
      'exp',
      'log',
      'sqrt',
      'rsqrt',
      'square',
      'abs',
      'relu',
      'sigmoid',
      'tanh',
      'gelu',
      'silu',
    ];
    for (const op of ops) {
      await same(b!.ops.unary(op, x.g), cpu.ops.unary(op, x.c));
      await same(b!.ops.unaryBackward(op, x.g, g.g), cpu.ops.unaryBackward(op, x.c, g.c));
    }
    const y = pair([9], 'bf16');
    await same(b!.ops.unary('gelu', y.g), cpu.ops.unary('gelu', y.c));
    await same(b!.ops.affine(x.g, 0.5, -1), cpu.ops.affine(x.c, 0.5, -1));
  });

  it('sum, broadcastTo, transpose, slice, concat', async () => {
    for (const dt of ['f32', 'bf16'] as DType[]) {
      const x = pair([3, 4, 70], dt);
      await same(b!.ops.sum(x.g, [2], false), cpu.ops.sum(x.c, [2], false));
      await same(b!.ops.sum(x.g, [0, 2], true), cpu.ops.sum(x.c, [0, 2], true));
      await same(b!.ops.sum(x.g, [1], false), cpu.ops.sum(x.c, [1], false));
      await same(b!.ops.transpose(x.g, [2, 0, 1]), cpu.ops.transpose(x.c, [2, 0, 1]));
      await same(b!.ops.slice(x.g, 2, 3, 40), cpu.ops.slice(x.c, 2, 3, 40));
      const y = pair([3, 1, 5], dt);
      await same(b!.ops.broadcastTo(y.g, [2, 3, 4, 5]), cpu.ops.broadcastTo(y.c, [2, 3, 4, 5]));
      const z = pair([3, 3, 70], dt);
      await same(b!.ops.concat([x.g, z.g], 1), cpu.ops.concat([x.c, z.c], 1));
    }
  });

  it('matmul (batched, transposed, shared b)', async () => {
    for (const dt of ['f32', 'bf16'] as DType[]) {
      const a = pair([2, 33, 20], dt);
      const m = pair([20, 17], dt);
      await same(b!.ops.matmul(a.g, m.g), cpu.ops.matmul(a.c, m.c));
      const bb = pair([2, 18, 20], dt);
      await same(b!.ops.matmul(a.g, bb.g, { transB: true }), cpu.ops.matmul(a.c, bb.c, { transB: true }));
      const at = pair([20, 9], dt);
      const m2 = pair([20, 40], dt);
      await same(b!.ops.matmul(at.g, m2.g, { transA: true }), cpu.ops.matmul(at.c, m2.c, { transA: true }));
    }
  });

  it('embedding and its backward', async () => {
    const ids = pair([2, 5], 'i32', [0, 3, 7, 3, 1, 2, 7, 0, 0, 5]);
    for (const dt of ['f32', 'bf16'] as DType[]) {
      const w = pair([8, 6], dt);
      await same(b!.ops.embedding(w.g, ids.g), cpu.ops.embedding(w.c, ids.c));
      const g = pair([2, 5, 6], dt);
      await same(b!.ops.embeddingBackward(g.g, ids.g, 8), cpu.ops.embeddingBackward(g.c, ids.c, 8));
    }
  });

  it('cross-entropy and its backward (with ignoreIndex)', async () => {
    const logits = pair([6, 11]);
    const labels = pair([6], 'i32', [1, 10, -100, 0, 4, 4]);
    const gr = b!.ops.crossEntropy(logits.g, labels.g, -100);
    const cr = cpu.ops.crossEntropy(logits.c, labels.c, -100);
    await same(gr.loss, cr.loss);
    await same(gr.lse, cr.lse);
    const gl = pair([], 'f32', [0.7]);
    await same(
      b!.ops.crossEntropyBackward(gl.g, logits.g, labels.g, gr.lse, -100),
      cpu.ops.crossEntropyBackward(gl.c, logits.c, labels.c, cr.lse, -100),
    );
  });

  it('softmax (causal) and rmsNorm, with backwards', async () => {
    for (const dt of ['f32', 'bf16'] as DType[]) {
      const x = pair([2, 5, 5], dt);
      for (const causal of [false, true]) {
        const y = b!.ops.softmax(x.g, causal);
        const yc = cpu.ops.softmax(x.c, causal);
        await same(y, yc);
        const g = pair([2, 5, 5], dt);
        // Same y on both sides so only the backward is compared.
        const yv = Array.from(decode(dt, cpu.readSync(yc.handle)));
        const ys = pair([2, 5, 5], dt, yv);
        await same(b!.ops.softmaxBackward(ys.g, g.g), cpu.ops.softmaxBackward(ys.c, g.c));
      }
      const h = pair([3, 8], dt);
      const w = pair([8], dt);
      const r = b!.ops.rmsNorm(h.g, w.g, 1e-6);
      const rc = cpu.ops.rmsNorm(h.c, w.c, 1e-6);
      await same(r.y, rc.y);
      await same(r.invr, rc.invr);
      const g = pair([3, 8], dt);
      const rb = b!.ops.rmsNormBackward(g.g, h.g, w.g, r.invr);
      const rbc = cpu.ops.rmsNormBackward(g.c, h.c, w.c, rc.invr);
      await same(rb.gradX, rbc.gradX);
      await same(rb.gradWeight, rbc.gradWeight);
    }
  });

  it('adamw and sgd steps (in place)', async () => {
    for (const dt of ['f32', 'bf16'] as DType[]) {
      const p = pair([5, 3], dt);
      const g = pair([5, 3], dt);
      const m = pair([5, 3], 'f32', new Array(15).fill(0));
      const v = pair([5, 3], 'f32', new Array(15).fill(0));
      for (let step = 1; step <= 3; step++) {
        const prm = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, step };
        b!.ops.adamwStep(p.g, g.g, m.g, v.g, prm);
        cpu.ops.adamwStep(p.c, g.c, m.c, v.c, prm);
      }
      await same(p.g, p.c);
      await same(m.g, m.c);
      await same(v.g, v.c);
      const buf = pair([5, 3], 'f32', new Array(15).fill(0));
      for (let step = 0; step < 3; step++) {
        b!.ops.sgdStep(p.g, g.g, buf.g, { lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true });
        cpu.ops.sgdStep(p.c, g.c, buf.c, { lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true });
      }
      await same(p.g, p.c);
    }
  });
});
