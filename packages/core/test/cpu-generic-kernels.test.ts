import { describe, expect, it } from 'vitest';
import type { UnaryOp } from '../src/backend/generic-kernels.js';
import { roundTo } from '../src/dtype.js';
import { sizeOf } from '../src/tensor/shape.js';
import {
  bcastFlat,
  cpu,
  expectClose,
  expectExact,
  fround,
  ops,
  rand,
  randn,
  ravel,
  read,
  tensor,
  unravel,
} from './cpu-generic-helpers.js';

/*
 * The CPU generic kernels against plain references written here (index by index, f64), backward
 * kernels against central finite differences of those f64 references, and the error contract.
 * Inputs are drawn exactly representable in their dtype, so an f32 kernel that computes in f64 and
 * rounds once must match `Math.fround(reference)` to the last bit where the summation order is the
 * same, and to a few ulps elsewhere.
 */

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
