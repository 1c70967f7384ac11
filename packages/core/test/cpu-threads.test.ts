import { afterAll, describe, expect, it } from 'vitest';
import type { TensorInfo } from '../src/backend/contract.js';
import { CpuBackend } from '../src/cpu/cpu-backend.js';
import { type DType, decode, encode, roundTo } from '../src/dtype.js';
import { ArgumentError } from '../src/errors.js';
import { CPU_THREADS_ENV, defaultCpuThreads } from '../src/flags.js';
import { sizeOf } from '../src/tensor/shape.js';
import { Random } from '../src/util/random.js';

// Backends with 1, 2 and 3 threads; sizes above the threaded-matmul threshold (2^18 multiply-adds).
const backends = [1, 2, 3].map((threads) => new CpuBackend({ threads }));
afterAll(() => {
  for (const b of backends) b.dispose();
});

function values(n: number, seed: number, dtype: DType): number[] {
  const rng = new Random(seed);
  return Array.from({ length: n }, () => roundTo(dtype, rng.normal()));
}

function upload(cpu: CpuBackend, v: number[], shape: number[], dtype: DType): TensorInfo {
  const h = cpu.alloc(dtype, sizeOf(shape));
  cpu.write(h, encode(dtype, v));
  return { handle: h, shape, dtype };
}

/** Naive f64 sum over k ascending: what every path must equal after one rounding. */
function reference(
  A: number[],
  B: number[],
  batch: number,
  M: number,
  K: number,
  N: number,
  o: { transA: boolean; transB: boolean; shared: boolean },
): number[] {
  const out: number[] = [];
  for (let p = 0; p < batch; p++) {
    const ao = p * M * K;
    const bo = o.shared ? 0 : p * K * N;
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++)
          s +=
            (o.transA ? A[ao + k * M + i]! : A[ao + i * K + k]!) *
            (o.transB ? B[bo + j * K + k]! : B[bo + k * N + j]!);
        out.push(s);
      }
  }
  return out;
}

describe('CPU backend on worker threads', () => {
  it('starts workers in Node for more than one thread', () => {
    expect(backends[0]!.pool()).toBeNull();
    expect(backends[1]!.pool()?.threads).toBe(2);
    expect(backends[2]!.pool()?.threads).toBe(3);
  });

  // [batch, M, K, N, shared b]: odd sizes so chunks end mid-tile; one batch larger than the pool's
  // first shared buffer so the workers are restarted on a grown one.
  const cases: [number, number, number, number, boolean][] = [
    [1, 67, 129, 45, true],
    [3, 61, 66, 73, true],
    [6, 33, 64, 37, false],
    [1, 160, 200, 150, true],
  ];
  for (const [batch, M, K, N, shared] of cases)
    for (const [transA, transB] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ] as const)
      for (const dtype of ['f32', 'bf16'] as const)
        it(`matmul batch ${batch} ${M}x${K}x${N}${shared ? ' shared b' : ''} transA=${transA} transB=${transB} ${dtype}: the same bits on 1, 2, 3 threads, equal to the f64 reference`, () => {
          const sa = [...(batch > 1 ? [batch] : []), ...(transA ? [K, M] : [M, K])];
          const sb = [...(shared || batch === 1 ? [] : [batch]), ...(transB ? [N, K] : [K, N])];
          const A = values(sizeOf(sa), M * 7 + K, dtype);
          const B = values(sizeOf(sb), N * 13 + K, dtype);
          const outs = backends.map((cpu) => {
            const c = cpu.ops.matmul(upload(cpu, A, sa, dtype), upload(cpu, B, sb, dtype), {
              transA,
              transB,
            });
            return cpu.readSync(c.handle);
          });
          expect(Buffer.from(outs[1]!.buffer)).toEqual(Buffer.from(outs[0]!.buffer));
          expect(Buffer.from(outs[2]!.buffer)).toEqual(Buffer.from(outs[0]!.buffer));
          const ref = reference(A, B, batch, M, K, N, { transA, transB, shared: shared || batch === 1 });
          const got = decode(dtype, outs[2]!);
          let bad = -1;
          for (let i = 0; i < ref.length && bad < 0; i++) if (got[i] !== roundTo(dtype, ref[i]!)) bad = i;
          expect(bad).toBe(-1);
        });

  it('changes thread count with setThreads and checks it', () => {
    const cpu = new CpuBackend({ threads: 2 });
    expect(cpu.threads).toBe(2);
    cpu.setThreads(1);
    expect(cpu.pool()).toBeNull();
    expect(() => cpu.setThreads(0)).toThrow(ArgumentError);
    expect(() => new CpuBackend({ threads: 1.5 })).toThrow(/threads: expected an integer >= 1/);
    cpu.dispose();
  });

  it(`reads ${CPU_THREADS_ENV} for the default and rejects a bad value`, () => {
    const old = process.env[CPU_THREADS_ENV];
    try {
      process.env[CPU_THREADS_ENV] = '3';
      expect(defaultCpuThreads()).toBe(3);
      expect(new CpuBackend().threads).toBe(3);
      process.env[CPU_THREADS_ENV] = 'many';
      expect(() => defaultCpuThreads()).toThrow(ArgumentError);
    } finally {
      if (old === undefined) delete process.env[CPU_THREADS_ENV];
      else process.env[CPU_THREADS_ENV] = old;
    }
  });
});
