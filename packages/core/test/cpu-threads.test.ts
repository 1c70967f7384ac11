import { afterAll, describe, expect, it } from 'vitest';
import type { TensorInfo } from '../src/backend/contract.js';
import type { CoeffsConfig } from '../src/backend/mhc-kernels.js';
import { CpuBackend } from '../src/cpu/cpu-backend.js';
import { setGemmWasmEnabled } from '../src/cpu/mhc/wasm/gemm.js';
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

  it('runs the wasm coeffs kernels on the workers (one shared memory)', () => {
    expect(backends[1]!.pool()?.wasmKernels).not.toBeNull();
    expect(backends[2]!.pool()?.wasmKernels).not.toBeNull();
  });

  // Tokens and K chosen so the token chunks (64) and gradPhi row chunks (32) end mid-way, with an
  // odd token count and an odd K; all above the threaded threshold (2^20 multiply-adds).
  for (const [n, hc, c, save] of [
    [301, 4, 64, 'history'],
    [300, 4, 64, 'recompute'],
    [130, 3, 1001, 'history'],
  ] as const)
    it(`coeffs forward+backward ${n}x${hc}x${c} (${save}): the same bits on 1, 2, 3 threads and on the JS loops`, () => {
      const k = hc * c;
      const m = hc * hc + 2 * hc;
      const config: CoeffsConfig = {
        hc,
        tmax: 7,
        rmsEps: 1e-6,
        preEps: 1e-4,
        sinkhornEps: 1e-6,
        postMult: 2,
      };
      const run = (cpu: CpuBackend) => {
        const t = (v: number[], shape: number[]) => upload(cpu, v, shape, 'f32');
        const scalar = (v: number) => t([v], []);
        const params = {
          x: t(values(n * k, 1, 'f32'), [n, k]),
          phi: t(
            values(k * m, 2, 'f32').map((v) => 0.05 * v),
            [k, m],
          ),
          b: t(values(m, 3, 'f32'), [m]),
          alphaPre: scalar(0.7),
          alphaPost: scalar(1.3),
          alphaRes: scalar(0.9),
          config,
        };
        const fw = cpu.mhc.coeffsForward({ ...params, save });
        const bw = cpu.mhc.coeffsBackward({
          ...params,
          gradHPre: t(values(n * hc, 4, 'f32'), [n, hc]),
          gradHPost: t(values(n * hc, 5, 'f32'), [n, hc]),
          gradHRes: t(values(n * hc * hc, 6, 'f32'), [n, hc, hc]),
          hPre: fw.hPre,
          hPost: fw.hPost,
          hRes: fw.hRes,
          saved: fw.saved,
          save,
          needs: { x: true, phi: true, b: true, alphas: true },
        });
        const alphas = [bw.gradAlphaPre!, bw.gradAlphaPost!, bw.gradAlphaRes!];
        return [fw.hPre, fw.hPost, fw.hRes, ...fw.saved, bw.gradX!, bw.gradPhi!, bw.gradB!, ...alphas].map(
          (o) => Buffer.from(cpu.readSync(o.handle).buffer),
        );
      };
      const outs = backends.map(run);
      setGemmWasmEnabled(false);
      try {
        outs.push(run(backends[1]!));
      } finally {
        setGemmWasmEnabled(true);
      }
      const saved = save === 'history' ? ['mix', 'invr', 'history'] : ['mix', 'invr'];
      const grads = ['gradX', 'gradPhi', 'gradB', 'gradAlphaPre', 'gradAlphaPost', 'gradAlphaRes'];
      const names = ['hPre', 'hPost', 'hRes', ...saved, ...grads];
      expect(outs[0]!.length).toBe(names.length);
      const paths = ['2 threads', '3 threads', 'the JS loops'];
      // Buffer.equals: a deep equality over megabytes of bytes is far too slow for this check.
      for (const [p, o] of outs.slice(1).entries())
        for (const [i, name] of names.entries())
          expect(o[i]!.equals(outs[0]![i]!), `${name} on ${paths[p]} vs 1 thread`).toBe(true);
    });

  // hc = 4 runs on the workers above 2^18 stream elements; 601 tokens end mid-chunk.
  for (const orientation of ['liger', 'deepseek'] as const)
    it(`pre and post_res backward 601x4x130 (${orientation}): the same bits on 1, 2, 3 threads`, () => {
      const [n, hc, c] = [601, 4, 130];
      const run = (cpu: CpuBackend) => {
        const t = (seed: number, shape: number[]) =>
          upload(cpu, values(sizeOf(shape), seed, 'f32'), shape, 'f32');
        const x = t(11, [n, hc, c]);
        const pre = cpu.mhc.preBackward(t(12, [n, c]), x, t(13, [n, hc]));
        const post = cpu.mhc.postResBackward(
          t(14, [n, hc, c]),
          x,
          t(15, [n, c]),
          t(16, [n, hc]),
          t(17, [n, hc, hc]),
          orientation,
        );
        return [pre.gradX, pre.gradHPre, post.gradX, post.gradF, post.gradHPost, post.gradHRes].map((o) =>
          Buffer.from(cpu.readSync(o.handle).buffer),
        );
      };
      const outs = backends.map(run);
      const names = ['pre gradX', 'gradHPre', 'post_res gradX', 'gradF', 'gradHPost', 'gradHRes'];
      for (const [p, o] of outs.slice(1).entries())
        for (const [i, name] of names.entries())
          expect(o[i]!.equals(outs[0]![i]!), `${name} on ${p + 2} threads vs 1 thread`).toBe(true);
    });
});
