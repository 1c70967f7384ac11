import { describe, expect, it } from 'vitest';
import type { TensorInfo } from '../src/backend/contract.js';
import type { UnaryOp } from '../src/backend/generic-kernels.js';
import { CpuBackend } from '../src/cpu/cpu-backend.js';
import { type DType, decode, encode, roundTo } from '../src/dtype.js';
import { ArgumentError, BackendError, DTypeError, ShapeError } from '../src/errors.js';
import { sizeOf, stridesOf } from '../src/tensor/shape.js';
import { Random } from '../src/util/random.js';

/*
 * The CPU generic kernels against plain references written here (index by index, f64), backward
 * kernels against central finite differences of those f64 references, and the error contract.
 * Inputs are drawn exactly representable in their dtype, so an f32 kernel that computes in f64 and
 * rounds once must match `Math.fround(reference)` to the last bit where the summation order is the
 * same, and to a few ulps elsewhere.
 */

const cpu = new CpuBackend();
const ops = cpu.ops;
const rng = new Random(20261126);

function tensor(values: ArrayLike<number>, shape: readonly number[], dtype: DType = 'f32'): TensorInfo {
  const h = cpu.alloc(dtype, sizeOf(shape));
  cpu.write(h, encode(dtype, values));
  return { handle: h, shape: [...shape], dtype };
}

/** Values of a tensor as f64 (decoded from its storage). */
function read(t: TensorInfo): Float64Array {
  return decode(t.dtype, cpu.readSync(t.handle));
}

/** Random normal values, rounded to what `dtype` holds. */
function randn(n: number, dtype: DType = 'f32', scale = 1): number[] {
  return Array.from({ length: n }, () => roundTo(dtype, rng.normal() * scale));
}

function rand(shape: readonly number[], dtype: DType = 'f32', scale = 1): { t: TensorInfo; v: number[] } {
  const v = randn(sizeOf(shape), dtype, scale);
  return { t: tensor(v, shape, dtype), v };
}

/** |a − e| <= atol·max|e| + rtol·|e| elementwise, reporting the first failing index. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol = rtol) {
  expect(actual.length).toBe(expected.length);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const a = actual[i]!;
    const bound = atol * scale + rtol * Math.abs(e);
    if (!(Math.abs(a - e) <= bound))
      expect.fail(`index ${i}: got ${a}, expected ${e} (|diff| ${Math.abs(a - e)} > ${bound})`);
  }
}

function expectExact(actual: ArrayLike<number>, expected: ArrayLike<number>) {
  expect(Array.from(actual)).toEqual(Array.from(expected));
}

const fround = (xs: ArrayLike<number>, dtype: DType = 'f32') => Array.from(xs, (x) => roundTo(dtype, x));

// ---- index helpers for the references ------------------------------------------------------------

function unravel(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = flat % shape[d]!;
    flat = Math.floor(flat / shape[d]!);
  }
  return idx;
}

function ravel(idx: readonly number[], shape: readonly number[]): number {
  const s = stridesOf(shape);
  return idx.reduce((acc, i, d) => acc + i * s[d]!, 0);
}

/** The flat index in `shape` that broadcasting reads for the output index `outIdx`. */
function bcastFlat(outIdx: readonly number[], shape: readonly number[]): number {
  const lead = outIdx.length - shape.length;
  return ravel(
    shape.map((d, i) => (d === 1 ? 0 : outIdx[lead + i]!)),
    shape,
  );
}

/** Central finite difference of a scalar f64 function, one coordinate at a time. */
function fdGrad(f: (x: number[]) => number, x0: readonly number[], h = 1e-5): number[] {
  const x = [...x0];
  return x0.map((v, i) => {
    x[i] = v + h;
    const fp = f(x);
    x[i] = v - h;
    const fm = f(x);
    x[i] = v;
    return (fp - fm) / (2 * h);
  });
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

// ---- fill / cast / affine ----------------------------------------------------------------------

describe('fill, cast, affine', () => {
  it('fills every dtype with the value rounded to it', () => {
    expectExact(read(ops.fill([2, 3], 'f32', 0.1)), new Array(6).fill(Math.fround(0.1)));
    expectExact(read(ops.fill([5], 'bf16', 0.1)), new Array(5).fill(roundTo('bf16', 0.1)));
    expectExact(read(ops.fill([1, 1, 3], 'f16', -7.3)), new Array(3).fill(roundTo('f16', -7.3)));
    expectExact(read(ops.fill([4], 'i32', -2.9)), [-2, -2, -2, -2]);
    const t = ops.fill([0, 3], 'f32', 1);
    expect(t.shape).toEqual([0, 3]);
    expect(read(t).length).toBe(0);
  });

  it('casts with rounding to nearest even (halves) and truncation toward zero (i32)', () => {
    const v = [1.2345678, -3.75, 1e-6, 70000, -2.7, 2.7, -0.5, 0];
    const x = tensor(v, [8]);
    const fv = fround(v);
    expectExact(read(ops.cast(x, 'bf16')), fround(fv, 'bf16'));
    expectExact(read(ops.cast(x, 'f16')), fround(fv, 'f16')); // 70000 overflows to Inf, 1e-6 is subnormal
    expect(read(ops.cast(x, 'f16'))[3]).toBe(Number.POSITIVE_INFINITY);
    expectExact(read(ops.cast(x, 'i32')), [1, -3, 0, 70000, -2, 2, 0, 0]);
    // i32 -> f32 -> same dtype copies
    const ids = tensor([3, -4, 2147483647], [3], 'i32');
    expectExact(read(ops.cast(ids, 'f32')), [3, -4, 2147483648]);
    const c = ops.cast(ids, 'i32');
    expect(c.handle).not.toBe(ids.handle);
    expectExact(read(c), [3, -4, 2147483647]);
  });

  it('round-trips half storage bit-exactly through f32', () => {
    for (const dt of ['f16', 'bf16'] as const) {
      const v = randn(37, dt, 3);
      const h = tensor(v, [37], dt);
      const back = ops.cast(ops.cast(h, 'f32'), dt);
      expectExact(cpu.readSync(back.handle), cpu.readSync(h.handle));
      expectExact(read(ops.cast(h, 'f32')), v);
    }
  });

  it('affine is a·x + b rounded once, in every dtype', () => {
    for (const dt of ['f32', 'f16', 'bf16'] as const) {
      const { t, v } = rand([3, 5], dt);
      expectExact(
        read(ops.affine(t, -1.5, 0.25)),
        v.map((x) => roundTo(dt, -1.5 * x + 0.25)),
      );
    }
    expectExact(read(ops.affine(tensor([7, -7], [2], 'i32'), 0.5, 0)), [3, -3]);
  });
});

// ---- binary ------------------------------------------------------------------------------------

function refBinary(op: string, a: number, b: number): number {
  return op === 'add' ? a + b : op === 'sub' ? a - b : op === 'mul' ? a * b : a / b;
}

describe('binary', () => {
  const cases: [number[], number[]][] = [
    [
      [3, 5],
      [3, 5],
    ],
    [[2, 3, 5], [5]],
    [
      [2, 3, 5],
      [3, 1],
    ],
    [
      [4, 1, 3],
      [1, 7, 1],
    ],
    [[1], [2, 3]],
    [[], [3, 2]],
    [[6, 1], [1]],
    [
      [2, 1, 3, 1],
      [5, 1, 4],
    ],
    [
      [0, 3],
      [1, 3],
    ],
  ];
  for (const op of ['add', 'sub', 'mul', 'div'] as const)
    for (const [sa, sb] of cases)
      it(`${op} [${sa}] ∘ [${sb}] matches the index-by-index reference`, () => {
        const A = rand(sa);
        const B = rand(sb);
        const out = ops.binary(op, A.t, B.t);
        const n = Math.max(sa.length, sb.length);
        const shape = Array.from({ length: n }, (_, i) => {
          const da = sa[sa.length - n + i] ?? 1;
          const db = sb[sb.length - n + i] ?? 1;
          return da === 1 ? db : da;
        });
        expect(out.shape).toEqual(shape);
        const expected = Array.from({ length: sizeOf(shape) }, (_, f) => {
          const idx = unravel(f, shape);
          return refBinary(op, A.v[bcastFlat(idx, sa)]!, B.v[bcastFlat(idx, sb)]!);
        });
        expectExact(read(out), fround(expected));
      });

  it('works in f16/bf16 (rounded once) and i32 (truncating division)', () => {
    for (const dt of ['f16', 'bf16'] as const) {
      const A = rand([4, 3], dt);
      const B = rand([3], dt);
      const out = ops.binary('mul', A.t, B.t);
      expect(out.dtype).toBe(dt);
      expectExact(
        read(out),
        A.v.map((a, i) => roundTo(dt, a * B.v[i % 3]!)),
      );
    }
    const q = ops.binary('div', tensor([7, -7, 9], [3], 'i32'), tensor([2], [1], 'i32'));
    expect(q.dtype).toBe('i32');
    expectExact(read(q), [3, -3, 4]);
  });
});

// ---- unary and its backward --------------------------------------------------------------------

const SQ2PI = Math.sqrt(2 / Math.PI);
const sig = (x: number) => 1 / (1 + Math.exp(-x));
const UNARY_REF: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  square: (x) => x * x,
  abs: Math.abs,
  relu: (x) => Math.max(x, 0),
  sigmoid: sig,
  tanh: Math.tanh,
  gelu: (x) => 0.5 * x * (1 + Math.tanh(SQ2PI * (x + 0.044715 * x ** 3))),
  silu: (x) => x * sig(x),
};
const POSITIVE_ONLY = new Set<UnaryOp>(['log', 'sqrt', 'rsqrt']);

/** Inputs valid for the op and at least 1e-3 away from kinks (relu and abs at 0). */
function unaryInputs(op: UnaryOp, n: number): number[] {
  return randn(n, 'f32', 2).map((x) => {
    const y = POSITIVE_ONLY.has(op) ? Math.abs(x) + 0.1 : x;
    return Math.fround(Math.abs(y) < 1e-3 ? y + 0.01 : y);
  });
}

describe('unary', () => {
  for (const op of Object.keys(UNARY_REF) as UnaryOp[]) {
    it(`${op} forward matches Math`, () => {
      const v = [...unaryInputs(op, 23), ...(POSITIVE_ONLY.has(op) ? [] : [-30, 30, 0])];
      const out = ops.unary(op, tensor(v, [v.length]));
      expectClose(read(out), fround(v.map(UNARY_REF[op])), 1e-7, 0);
    });

    it(`${op} backward matches central differences of the f64 forward`, () => {
      const v = unaryInputs(op, 19);
      const g = randn(19);
      const out = ops.unaryBackward(op, tensor(v, [19]), tensor(g, [19]));
      // d/dx_i Σ g·op(x) = g_i·op'(x_i); h small enough for op''' but far above f64 noise.
      const fd = v.map((x, i) => (g[i]! * (UNARY_REF[op](x + 1e-6) - UNARY_REF[op](x - 1e-6))) / 2e-6);
      expectClose(read(out), fd, 1e-6, 1e-7);
    });
  }

  it('gelu is the tanh approximation, not exact erf', () => {
    // exact-erf GELU(1) = 0.841344746..., tanh form = 0.841191990...
    const y = read(ops.unary('gelu', tensor([1], [1])))[0]!;
    expect(y).toBeCloseTo(0.84119199, 7);
  });

  it('sigmoid and silu do not overflow for large |x|', () => {
    const y = read(ops.unary('sigmoid', tensor([-1000, 1000], [2])));
    expectExact(y, [0, 1]);
    // silu'(−1000) is −0 here (0·(1 − 1000)); compare by value, not by sign of zero.
    expectClose(
      read(ops.unaryBackward('silu', tensor([-1000, 1000], [2]), tensor([1, 1], [2]))),
      [0, 1],
      0,
      0,
    );
  });

  it('computes halves in f64 and rounds once', () => {
    const v = randn(16, 'bf16');
    const out = ops.unary('silu', tensor(v, [16], 'bf16'));
    expect(out.dtype).toBe('bf16');
    expectExact(
      read(out),
      v.map((x) => roundTo('bf16', UNARY_REF.silu(x))),
    );
  });
});

// ---- sum / broadcastTo -------------------------------------------------------------------------

describe('sum and broadcastTo', () => {
  const cases: [number[], number[]][] = [
    [[3, 5], [1]],
    [[3, 5], [0]],
    [
      [3, 5],
      [0, 1],
    ],
    [
      [2, 3, 4],
      [0, 2],
    ],
    [[2, 3, 4], [-2]],
    [
      [4, 1, 3, 5],
      [0, 1, 3],
    ],
    [[7], [0]],
    [[2, 3], []],
    [[0, 3], [0]],
  ];
  for (const [shape, axes] of cases)
    for (const keepDims of [false, true])
      it(`sum [${shape}] over [${axes}] keepDims=${keepDims}: sequential f64 sum in flat order`, () => {
        const { t, v } = rand(shape);
        const out = ops.sum(t, axes, keepDims);
        const ax = axes.map((a) => (a < 0 ? a + shape.length : a));
        const kept = shape.map((d, i) => (ax.includes(i) ? 1 : d));
        expect(out.shape).toEqual(keepDims ? kept : shape.filter((_, i) => !ax.includes(i)));
        const acc = new Array<number>(sizeOf(kept)).fill(0);
        v.forEach((x, f) => {
          const idx = unravel(f, shape).map((i, d) => (ax.includes(d) ? 0 : i));
          acc[ravel(idx, kept)] += x;
        });
        expectExact(read(out), fround(acc));
      });

  it('sums halves and i32', () => {
    const { t, v } = rand([4, 6], 'f16');
    const expected = [0, 1, 2, 3].map((r) => v.slice(r * 6, r * 6 + 6).reduce((a, b) => a + b, 0));
    expectExact(read(ops.sum(t, [1], false)), fround(expected, 'f16'));
    expectExact(read(ops.sum(tensor([1, 2, 3, 4], [2, 2], 'i32'), [0], false)), [4, 6]);
  });

  const bcases: [number[], number[]][] = [
    [[3], [2, 3]],
    [
      [2, 1],
      [2, 5],
    ],
    [
      [1, 3, 1],
      [4, 3, 2],
    ],
    [[], [2, 2]],
    [
      [2, 3],
      [2, 3],
    ],
    [[1], [0, 4]],
  ];
  for (const [from, to] of bcases)
    it(`broadcastTo [${from}] -> [${to}] copies bit patterns`, () => {
      for (const dt of ['f32', 'bf16'] as const) {
        const { t, v } = rand(from, dt);
        const out = ops.broadcastTo(t, to);
        expect(out.shape).toEqual(to);
        expect(out.dtype).toBe(dt);
        expectExact(
          read(out),
          Array.from({ length: sizeOf(to) }, (_, f) => v[bcastFlat(unravel(f, to), from)]!),
        );
      }
    });
});

// ---- matmul ------------------------------------------------------------------------------------

/** Naive triple loop in f64 with k ascending: the order the kernel promises. */
function refMatmul(
  A: number[],
  sa: number[],
  B: number[],
  sb: number[],
  transA: boolean,
  transB: boolean,
): { out: number[]; shape: number[] } {
  const ra = sa.length;
  const rb = sb.length;
  const M = transA ? sa[ra - 1]! : sa[ra - 2]!;
  const K = transA ? sa[ra - 2]! : sa[ra - 1]!;
  const N = transB ? sb[rb - 2]! : sb[rb - 1]!;
  const batch = sizeOf(sa.slice(0, -2));
  const out: number[] = [];
  for (let p = 0; p < batch; p++) {
    const ao = p * M * K;
    const bo = rb === 2 ? 0 : p * K * N;
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const a = transA ? A[ao + k * M + i]! : A[ao + i * K + k]!;
          const b = transB ? B[bo + j * K + k]! : B[bo + k * N + j]!;
          s += a * b;
        }
        out.push(s);
      }
  }
  return { out, shape: [...sa.slice(0, -2), M, N] };
}

describe('matmul', () => {
  // [batch..., M, K, N, shared b]
  const sizes: [number[], number, number, number, boolean][] = [
    [[], 1, 1, 1, true],
    [[], 3, 5, 2, true],
    [[], 9, 13, 6, true],
    [[], 8, 16, 12, true],
    [[], 17, 3, 9, true],
    [[3], 5, 7, 4, false],
    [[2, 3], 4, 5, 7, false],
    [[3], 6, 4, 5, true],
    [[2, 2], 5, 9, 3, true],
    [[2], 4, 0, 3, false],
    [[], 0, 4, 3, true],
  ];
  for (const [batch, M, K, N, shared] of sizes)
    for (const transA of [false, true])
      for (const transB of [false, true])
        it(`[${batch}] M=${M} K=${K} N=${N}${shared ? ' shared b' : ''} transA=${transA} transB=${transB}`, () => {
          const sa = [...batch, ...(transA ? [K, M] : [M, K])];
          const sb = [...(shared ? [] : batch), ...(transB ? [N, K] : [K, N])];
          const A = rand(sa);
          const B = rand(sb);
          const out = ops.matmul(A.t, B.t, { transA, transB });
          const ref = refMatmul(A.v, sa, B.v, sb, transA, transB);
          expect(out.shape).toEqual(ref.shape);
          expectExact(read(out), fround(ref.out)); // same k order, f64 accumulation: bit-identical
        });

  it('multiplies halves in f64 and rounds once', () => {
    for (const dt of ['f16', 'bf16'] as const) {
      const A = rand([2, 5, 6], dt);
      const B = rand([6, 7], dt);
      const out = ops.matmul(A.t, B.t, { transB: false });
      expect(out.dtype).toBe(dt);
      expectExact(read(out), fround(refMatmul(A.v, [2, 5, 6], B.v, [6, 7], false, false).out, dt));
    }
  });

  it('is deterministic across calls', () => {
    const A = rand([33, 70]);
    const B = rand([21, 70]);
    const r1 = cpu.readSync(ops.matmul(A.t, B.t, { transB: true }).handle);
    const r2 = cpu.readSync(ops.matmul(A.t, B.t, { transB: true }).handle);
    expectExact(r1, r2);
  });
});

// ---- layout ------------------------------------------------------------------------------------

describe('transpose, slice, concat', () => {
  const perms: [number[], number[]][] = [
    [
      [3, 5],
      [1, 0],
    ],
    [
      [2, 3, 4],
      [2, 0, 1],
    ],
    [
      [2, 3, 4, 5],
      [0, 2, 1, 3],
    ],
    [
      [2, 3, 4, 5],
      [3, 2, 1, 0],
    ],
    [
      [1, 4, 1],
      [2, 1, 0],
    ],
    [[6], [0]],
  ];
  for (const [shape, perm] of perms)
    it(`transpose [${shape}] by [${perm}] (f32 and bf16 bits)`, () => {
      for (const dt of ['f32', 'bf16', 'i32'] as const) {
        const v =
          dt === 'i32' ? Array.from({ length: sizeOf(shape) }, (_, i) => i - 7) : randn(sizeOf(shape), dt);
        const out = ops.transpose(tensor(v, shape, dt), perm);
        const os = perm.map((p) => shape[p]!);
        expect(out.shape).toEqual(os);
        expectExact(
          read(out),
          Array.from({ length: sizeOf(os) }, (_, f) => {
            const oi = unravel(f, os);
            const ii = new Array<number>(shape.length);
            perm.forEach((p, d) => {
              ii[p] = oi[d]!;
            });
            return v[ravel(ii, shape)]!;
          }),
        );
      }
    });

  it('slices any axis, including empty and full ranges', () => {
    const shape = [3, 4, 5];
    const { t, v } = rand(shape, 'f16');
    for (const [axis, s, e] of [
      [0, 1, 3],
      [1, 0, 4],
      [2, 2, 5],
      [-1, 1, 2],
      [1, 2, 2],
    ] as const) {
      const out = ops.slice(t, axis, s, e);
      const ax = axis < 0 ? axis + 3 : axis;
      const os = shape.map((d, i) => (i === ax ? e - s : d));
      expect(out.shape).toEqual(os);
      expectExact(
        read(out),
        Array.from({ length: sizeOf(os) }, (_, f) => {
          const idx = unravel(f, os);
          idx[ax]! += s;
          return v[ravel(idx, shape)]!;
        }),
      );
    }
  });

  it('concatenates along any axis and inverts slice', () => {
    const x = rand([2, 7, 3], 'bf16');
    for (const axis of [0, 1, 2]) {
      const d = x.t.shape[axis]!;
      const cut = Math.floor(d / 2);
      const parts = [
        ops.slice(x.t, axis, 0, cut),
        ops.slice(x.t, axis, cut, cut),
        ops.slice(x.t, axis, cut, d),
      ];
      const back = ops.concat(parts, axis);
      expect(back.shape).toEqual(x.t.shape);
      expectExact(cpu.readSync(back.handle), cpu.readSync(x.t.handle));
    }
    const a = tensor([1, 2, 3, 4], [2, 2]);
    const b = tensor([5, 6], [2, 1]);
    expectExact(read(ops.concat([a, b], -1)), [1, 2, 5, 3, 4, 6]);
  });
});

// ---- embedding ---------------------------------------------------------------------------------

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
