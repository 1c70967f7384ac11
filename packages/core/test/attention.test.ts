import { describe, expect, it } from 'vitest';
import {
  CpuBackend,
  DTypeError,
  encode,
  fromStorage,
  getBackend,
  hasFusedAttention,
  matmul,
  mul,
  noGrad,
  Random,
  ShapeError,
  scale,
  scaledDotProductAttention,
  softmax,
  sum,
  type Tensor,
} from '../src/index.js';

function rand(
  shape: number[],
  seed: number,
  requiresGrad = false,
  backend: string | CpuBackend = 'cpu',
): Tensor {
  const rng = new Random(seed);
  const n = shape.reduce((a, d) => a * d, 1);
  const v = Float64Array.from({ length: n }, () => rng.normal());
  return fromStorage(encode('f32', v), shape, 'f32', { backend, requiresGrad });
}

const values = (t: Tensor) => Array.from(t.dataSync() as Float32Array);

function expectClose(a: number[], b: number[], tol: number): void {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  expect(worst).toBeLessThan(tol);
}

/** The same math from matmul and softmax, with autograd through each. */
function unfused(q: Tensor, k: Tensor, v: Tensor, causal: boolean, s: number): Tensor {
  return matmul(softmax(matmul(scale(q, s), k, { transB: true }), { causal }), v);
}

/** f64 attention of one [Tq, D] × [Tk, D] head, and its lse: the test's independent reference. */
function reference(
  q: number[],
  k: number[],
  v: number[],
  tq: number,
  tk: number,
  d: number,
  causal: boolean,
  s: number,
) {
  const out: number[] = [];
  const lse: number[] = [];
  for (let i = 0; i < tq; i++) {
    const len = causal ? Math.min(tk, i + 1) : tk;
    const sc: number[] = [];
    for (let j = 0; j < len; j++) {
      let dot = 0;
      for (let c = 0; c < d; c++) dot += q[i * d + c]! * k[j * d + c]!;
      sc.push(dot * s);
    }
    const m = Math.max(...sc);
    const e = sc.map((x) => Math.exp(x - m));
    const l = e.reduce((a, x) => a + x, 0);
    for (let c = 0; c < d; c++) out.push(e.reduce((a, w, j) => a + w * v[j * d + c]!, 0) / l);
    lse.push(m + Math.log(l));
  }
  return { out, lse };
}

describe('scaledDotProductAttention (CPU, fused)', () => {
  it('the CPU backend has fused attention', () => {
    expect(hasFusedAttention(getBackend('cpu'))).toBe(true);
  });

  it('forward and lse match an f64 reference, causal and not, Tq != Tk', () => {
    for (const [tq, tk, d, causal] of [
      [5, 5, 3, true],
      [4, 7, 5, false],
      [6, 3, 2, false],
    ] as const) {
      const q = rand([tq, d], 1);
      const k = rand([tk, d], 2);
      const v = rand([tk, d], 3);
      const s = 0.7;
      const ops = getBackend('cpu').ops;
      const r = ops.attention!(q, k, v, causal, s);
      const ref = reference(values(q), values(k), values(v), tq, tk, d, causal, s);
      const out = Array.from(getBackend('cpu').readSync!(r.out.handle) as Float32Array);
      const lse = Array.from(getBackend('cpu').readSync!(r.lse.handle) as Float32Array);
      expect(r.lse.shape).toEqual([tq]);
      expect(r.lse.dtype).toBe('f32');
      // One rounding to f32 of an f64 result.
      expectClose(out, ref.out, 2e-7);
      expectClose(lse, ref.lse, 2e-7);
      getBackend('cpu').disposeData(r.out.handle);
      getBackend('cpu').disposeData(r.lse.handle);
    }
  });

  it('forward and gradients equal the unfused composition', () => {
    for (const [shape, tk, causal] of [
      [[2, 3, 5, 16], 5, true],
      [[1, 2, 7, 8], 7, false],
      [[2, 1, 4, 6], 9, false],
    ] as const) {
      const [b, h, tq, d] = shape;
      const q = rand([b, h, tq, d], 10, true);
      const k = rand([b, h, tk, d], 11, true);
      const v = rand([b, h, tk, d], 12, true);
      const w = rand([b, h, tq, d], 13);
      const s = 1 / Math.sqrt(d);
      const fused = scaledDotProductAttention(q, k, v, { causal, scale: s });
      sum(mul(fused, w)).backward();
      const gf = [q, k, v].map((t) => values(t.grad!));
      for (const t of [q, k, v]) t.grad = null;
      const plain = unfused(q, k, v, causal, s);
      sum(mul(plain, w)).backward();
      expectClose(values(fused), values(plain), 1e-6);
      for (let i = 0; i < 3; i++) expectClose(gf[i]!, values([q, k, v][i]!.grad!), 2e-6);
    }
  });

  it('gradients match central finite differences', () => {
    const [tq, tk, d] = [4, 4, 3];
    const q = rand([1, tq, d], 20, true);
    const k = rand([1, tk, d], 21, true);
    const v = rand([1, tk, d], 22, true);
    const w = rand([1, tq, d], 23);
    const loss = () => sum(mul(scaledDotProductAttention(q, k, v, { causal: true }), w));
    loss().backward();
    const h = 1e-2;
    for (const t of [q, k, v]) {
      const g = values(t.grad!);
      const st = t.storage('t');
      const data = st.backend.readSync!(st.handle) as Float32Array;
      const put = () => st.backend.write(st.handle, data);
      const fd: number[] = [];
      for (let i = 0; i < data.length; i++) {
        const x0 = data[i]!;
        data[i] = x0 + h;
        put();
        const up = noGrad(() => loss().dataSync()[0]!);
        data[i] = x0 - h;
        put();
        const down = noGrad(() => loss().dataSync()[0]!);
        data[i] = x0;
        put();
        fd.push((up - down) / (2 * h));
      }
      expectClose(g, fd, 2e-3);
    }
  });

  it('bf16 inputs: f32 math, the output rounded once to bf16', () => {
    const [tq, d] = [6, 16];
    const mk = (seed: number) => {
      const f = rand([1, tq, d], seed);
      return fromStorage(encode('bf16', Float64Array.from(values(f))), [1, tq, d], 'bf16', {
        backend: 'cpu',
      });
    };
    const [q, k, v] = [mk(30), mk(31), mk(32)];
    const out = scaledDotProductAttention(q, k, v, { causal: true });
    expect(out.dtype).toBe('bf16');
    const dec = (t: Tensor) => Array.from(t.dataSync());
    const ref = reference(dec(q), dec(k), dec(v), tq, tq, d, true, 1 / Math.sqrt(d));
    expectClose(dec(out), ref.out, 2 ** -8);
  });

  it('keeps O(T) memory for the backward: no T×T scores are saved', () => {
    const be = new CpuBackend();
    const [b, h, t, d] = [1, 2, 64, 4];
    const q = rand([b, h, t, d], 40, true, be);
    const k = rand([b, h, t, d], 41, true, be);
    const v = rand([b, h, t, d], 42, true, be);
    const before = be.memory().liveBytes;
    const out = scaledDotProductAttention(q, k, v, { causal: true });
    const held = be.memory().liveBytes - before;
    // out (b·h·t·d f32) and the lse (b·h·t f32); saved q, k, v and out are views, not copies.
    expect(held).toBe(4 * b * h * t * d + 4 * b * h * t);
    expect(held).toBeLessThan(4 * b * h * t * t);
    sum(out).backward();
    expect(q.grad!.shape).toEqual([b, h, t, d]);
  });

  it('falls back to the unfused composition on a backend without fused attention', () => {
    const be = new CpuBackend();
    (be.ops as { attention?: unknown }).attention = undefined;
    expect(hasFusedAttention(be)).toBe(false);
    const q = rand([2, 5, 4], 50, true, be);
    const k = rand([2, 5, 4], 51, true, be);
    const v = rand([2, 5, 4], 52, true, be);
    const out = scaledDotProductAttention(q, k, v, { causal: true });
    sum(out).backward();
    const cq = rand([2, 5, 4], 50, true);
    const ck = rand([2, 5, 4], 51, true);
    const cv = rand([2, 5, 4], 52, true);
    const ref = scaledDotProductAttention(cq, ck, cv, { causal: true });
    sum(ref).backward();
    expectClose(values(out), values(ref), 1e-6);
    expectClose(values(q.grad!), values(cq.grad!), 2e-6);
  });

  it('rejects bad arguments with typed errors, naming the argument', () => {
    const q = rand([2, 5, 4], 60);
    expect(() => scaledDotProductAttention(q, rand([2, 5, 3], 61), rand([2, 5, 3], 62))).toThrow(ShapeError);
    expect(() => scaledDotProductAttention(q, rand([3, 5, 4], 61), rand([3, 5, 4], 62))).toThrow(/k/);
    expect(() => scaledDotProductAttention(q, rand([2, 5, 4], 61), rand([2, 6, 4], 62))).toThrow(/v/);
    expect(() =>
      scaledDotProductAttention(q, rand([2, 6, 4], 61), rand([2, 6, 4], 62), { causal: true }),
    ).toThrow(ShapeError);
    const half = fromStorage(encode('bf16', new Float64Array(40)), [2, 5, 4], 'bf16', { backend: 'cpu' });
    expect(() => scaledDotProductAttention(q, half, half)).toThrow(DTypeError);
    expect(() => scaledDotProductAttention(q, q, q, { scale: Number.NaN })).toThrow(/scale/);
    const flat = rand([2, 5, 0], 63);
    expect(() => scaledDotProductAttention(flat, flat, flat, { scale: 1 })).toThrow(ShapeError);
    expect(() => scaledDotProductAttention(q, q, q, { causal: 1 as never })).toThrow(/causal/);
  });
});
