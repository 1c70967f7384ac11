import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type {
  CoeffsBackwardArgs,
  CoeffsBackwardResult,
  CoeffsConfig,
  Orientation,
  TensorInfo,
} from '@liger-mhc/core';
import { CpuBackend, type DType, decode, encode, type FloatDType } from '@liger-mhc/core';
import { describe, expect, it } from 'vitest';
import { compare, REFERENCE_F32, TOLERANCES, type Tolerance } from '../src/tolerances.js';

// The golden fixtures are the spec: PyTorch float64 autograd. Each case runs the CPU kernels directly.

interface Flat {
  shape: number[];
  data: number[];
}
interface CoeffsCase {
  name: string;
  op: 'coeffs';
  config: Omit<CoeffsConfig, 'hc'>;
  dtypes: { x: FloatDType; phi: FloatDType };
  inputs: Record<'x' | 'phi' | 'b' | 'alphaPre' | 'alphaPost' | 'alphaRes', Flat>;
  cotangents: Record<'hPre' | 'hPost' | 'hRes', Flat>;
  outputs: Record<'hPre' | 'hPost' | 'hRes', Flat>;
  grads: Record<'x' | 'phi' | 'b' | 'alphaPre' | 'alphaPost' | 'alphaRes', Flat>;
}
interface ApplyCase {
  name: string;
  op: 'apply';
  config: { orientation: Orientation };
  dtypes: { x: FloatDType; f: FloatDType };
  inputs: Record<'x' | 'f' | 'hPre' | 'hPost' | 'hRes', Flat>;
  cotangents: Record<'xIn' | 'xOut', Flat>;
  outputs: Record<'xIn' | 'xOut', Flat>;
  grads: { pre: Record<'x' | 'hPre', Flat>; postRes: Record<'x' | 'f' | 'hPost' | 'hRes', Flat> };
}

const goldenDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'golden');
const index = JSON.parse(readFileSync(join(goldenDir, 'index.json'), 'utf8')) as {
  name: string;
  op: string;
  file: string;
}[];
const load = <T>(file: string): T => JSON.parse(readFileSync(join(goldenDir, file), 'utf8')) as T;
const coeffsCases = index.filter((c) => c.op === 'coeffs').map((c) => load<CoeffsCase>(c.file));
const applyCases = index.filter((c) => c.op === 'apply').map((c) => load<ApplyCase>(c.file));

function upload(cpu: CpuBackend, t: Flat, dtype: DType, shape: readonly number[] = t.shape): TensorInfo {
  const handle = cpu.alloc(dtype, t.data.length);
  cpu.write(handle, encode(dtype, t.data));
  return { handle, shape: [...shape], dtype };
}

function values(cpu: CpuBackend, t: TensorInfo): Float64Array {
  return decode(t.dtype, cpu.readSync(t.handle));
}

/** f32-stored results meet the reference bound; half-stored ones the bound of their dtype. */
function toleranceFor(dtype: DType): Tolerance {
  return dtype === 'f32' ? REFERENCE_F32 : TOLERANCES[dtype];
}

/** Compare a result (or the sum of two partial results, see `split`) with the fixture. */
function expectClose(
  cpu: CpuBackend,
  what: string,
  actual: TensorInfo | null,
  expected: Flat,
  lowPart: TensorInfo | null = null,
): void {
  expect(actual, `${what} missing`).not.toBeNull();
  const t = actual!;
  expect(
    t.shape.reduce((a, b) => a * b, 1),
    `${what} size`,
  ).toBe(expected.data.length);
  const got = values(cpu, t);
  if (lowPart) {
    const lo = values(cpu, lowPart);
    for (let i = 0; i < got.length; i++) got[i] += lo[i];
  }
  const r = compare(got, expected.data, toleranceFor(t.dtype));
  expect(r.pass, `${what}: ratio ${r.ratio} (max abs error ${r.maxAbsError} at ${r.worstIndex})`).toBe(true);
}

/** Exact equality of two stored tensors (both null counts as equal). */
function expectSame(cpu: CpuBackend, what: string, a: TensorInfo | null, b: TensorInfo | null): void {
  if (a === null || b === null) {
    expect(a, what).toBe(b);
    return;
  }
  const va = values(cpu, a);
  const vb = values(cpu, b);
  expect(va.length, what).toBe(vb.length);
  let maxDiff = 0;
  for (let i = 0; i < va.length; i++) maxDiff = Math.max(maxDiff, Math.abs(va[i] - vb[i]));
  expect(maxDiff, what).toBe(0);
}

const GRAD_NAMES = ['gradX', 'gradPhi', 'gradB', 'gradAlphaPre', 'gradAlphaPost', 'gradAlphaRes'] as const;

/**
 * The fixture's cotangents are f64 and the contract stores them in f32. An alpha gradient is a sum
 * over every token with heavy cancellation, so the f32 rounding of its inputs alone can exceed
 * REFERENCE_F32 (coeffs-tmax1). Gradients are linear in the cotangents: split each into
 * hi = f32(v) and lo = f32(v - hi), run the backward on both and add, which checks the kernel's own
 * error at full precision without loosening the tolerance.
 */
function split(t: Flat): { hi: Flat; lo: Flat } {
  const hi = t.data.map((v) => Math.fround(v));
  return { hi: { shape: t.shape, data: hi }, lo: { shape: t.shape, data: t.data.map((v, i) => v - hi[i]) } };
}

function coeffsSetup(cpu: CpuBackend, c: CoeffsCase) {
  const xs = c.inputs.x.shape;
  const hc = xs[xs.length - 2];
  const k = hc * xs[xs.length - 1];
  const n = c.inputs.x.data.length / k;
  const config: CoeffsConfig = { ...c.config, hc };
  const ins = {
    x: upload(cpu, c.inputs.x, c.dtypes.x, [n, k]),
    phi: upload(cpu, c.inputs.phi, c.dtypes.phi),
    b: upload(cpu, c.inputs.b, 'f32'),
    alphaPre: upload(cpu, c.inputs.alphaPre, 'f32'),
    alphaPost: upload(cpu, c.inputs.alphaPost, 'f32'),
    alphaRes: upload(cpu, c.inputs.alphaRes, 'f32'),
  };
  const pre = split(c.cotangents.hPre);
  const post = split(c.cotangents.hPost);
  const res = split(c.cotangents.hRes);
  const cot = {
    hPre: upload(cpu, pre.hi, 'f32', [n, hc]),
    hPost: upload(cpu, post.hi, 'f32', [n, hc]),
    hRes: upload(cpu, res.hi, 'f32', [n, hc, hc]),
  };
  const cotLo = {
    hPre: upload(cpu, pre.lo, 'f32', [n, hc]),
    hPost: upload(cpu, post.lo, 'f32', [n, hc]),
    hRes: upload(cpu, res.lo, 'f32', [n, hc, hc]),
  };
  return { n, hc, k, config, ins, cot, cotLo };
}

function isZero(t: Flat): boolean {
  return t.data.every((v) => v === 0);
}

describe('CPU mHC coeffs kernels vs golden fixtures', () => {
  for (const c of coeffsCases) {
    it(c.name, () => {
      const cpu = new CpuBackend();
      const { n, hc, config, ins, cot, cotLo } = coeffsSetup(cpu, c);
      const fwd = (save: 'none' | 'history' | 'recompute') => cpu.mhc.coeffsForward({ ...ins, config, save });
      const run = (
        save: 'history' | 'recompute',
        grads: Pick<CoeffsBackwardArgs, 'gradHPre' | 'gradHPost' | 'gradHRes'>,
        needs: CoeffsBackwardArgs['needs'] = { x: true, phi: true, b: true, alphas: true },
      ): CoeffsBackwardResult => {
        const f = fwd(save);
        const out = cpu.mhc.coeffsBackward({
          ...ins,
          ...grads,
          hPre: f.hPre,
          hPost: f.hPost,
          hRes: f.hRes,
          saved: f.saved,
          config,
          save,
          needs,
        });
        for (const t of f.saved) cpu.disposeData(t.handle);
        return out;
      };

      const f = fwd('history');
      expect(f.saved.length).toBe(3);
      expectClose(cpu, 'hPre', f.hPre, c.outputs.hPre);
      expectClose(cpu, 'hPost', f.hPost, c.outputs.hPost);
      expectClose(cpu, 'hRes', f.hRes, c.outputs.hRes);
      for (const name of ['hPre', 'hPost', 'hRes'] as const) expect(f[name].dtype).toBe('f32');
      expect([f.hPre.shape, f.hPost.shape, f.hRes.shape]).toEqual([
        [n, hc],
        [n, hc],
        [n, hc, hc],
      ]);

      // 'none' and 'recompute' produce the same outputs, with nothing / mix+invr saved.
      const none = fwd('none');
      expect(none.saved).toEqual([]);
      const rec = fwd('recompute');
      expect(rec.saved.length).toBe(2);
      for (const name of ['hPre', 'hPost', 'hRes'] as const) {
        expectSame(cpu, `${name} (none)`, none[name], f[name]);
        expectSame(cpu, `${name} (recompute)`, rec[name], f[name]);
      }

      const full = { gradHPre: cot.hPre, gradHPost: cot.hPost, gradHRes: cot.hRes };
      const hist = run('history', full);
      const lo = run('history', { gradHPre: cotLo.hPre, gradHPost: cotLo.hPost, gradHRes: cotLo.hRes });
      expectClose(cpu, 'gradX', hist.gradX, c.grads.x, lo.gradX);
      expect(hist.gradX!.dtype).toBe(c.dtypes.x);
      expect(hist.gradX!.shape).toEqual(ins.x.shape);
      expectClose(cpu, 'gradPhi', hist.gradPhi, c.grads.phi, lo.gradPhi);
      expect(hist.gradPhi!.dtype).toBe('f32');
      expect(hist.gradPhi!.shape).toEqual(c.inputs.phi.shape);
      expectClose(cpu, 'gradB', hist.gradB, c.grads.b, lo.gradB);
      expectClose(cpu, 'gradAlphaPre', hist.gradAlphaPre, c.grads.alphaPre, lo.gradAlphaPre);
      expectClose(cpu, 'gradAlphaPost', hist.gradAlphaPost, c.grads.alphaPost, lo.gradAlphaPost);
      expectClose(cpu, 'gradAlphaRes', hist.gradAlphaRes, c.grads.alphaRes, lo.gradAlphaRes);
      expect(hist.gradAlphaRes!.shape).toEqual([]);

      // Both save modes replay the same f64 operations, so their stored gradients are identical.
      const recomputed = run('recompute', full);
      for (const g of GRAD_NAMES) expectSame(cpu, `${g} history vs recompute`, recomputed[g], hist[g]);

      // Gradients not asked for are null; the others do not change.
      const partA = run('history', full, { x: false, phi: true, b: false, alphas: true });
      const partB = run('recompute', full, { x: true, phi: false, b: true, alphas: false });
      for (const g of GRAD_NAMES) {
        const wantA = g === 'gradPhi' || g.startsWith('gradAlpha');
        expectSame(cpu, `${g} with needs A`, partA[g], wantA ? hist[g] : null);
        expectSame(cpu, `${g} with needs B`, partB[g], wantA ? null : hist[g]);
      }
      const nothing = run('history', full, { x: false, phi: false, b: false, alphas: false });
      for (const g of GRAD_NAMES) expect(nothing[g], g).toBeNull();

      // An output that does not feed the loss may come as null: same result as a zero cotangent.
      const zeroCot = c.name === 'coeffs-unused-pre-post' || c.name === 'coeffs-unused-res';
      if (zeroCot) {
        const nulled = {
          gradHPre: isZero(c.cotangents.hPre) ? null : cot.hPre,
          gradHPost: isZero(c.cotangents.hPost) ? null : cot.hPost,
          gradHRes: isZero(c.cotangents.hRes) ? null : cot.hRes,
        };
        expect(Object.values(nulled).some((v) => v === null)).toBe(true);
        for (const save of ['history', 'recompute'] as const) {
          const withNull = run(save, nulled);
          for (const g of GRAD_NAMES)
            expectSame(cpu, `${g} null vs zero cotangent (${save})`, withNull[g], hist[g]);
        }
      }
    });
  }

  it('all cotangents null gives zero gradients', () => {
    const cpu = new CpuBackend();
    const { config, ins } = coeffsSetup(cpu, coeffsCases[0]);
    const f = cpu.mhc.coeffsForward({ ...ins, config, save: 'recompute' });
    const g = cpu.mhc.coeffsBackward({
      ...ins,
      gradHPre: null,
      gradHPost: null,
      gradHRes: null,
      hPre: f.hPre,
      hPost: f.hPost,
      hRes: f.hRes,
      saved: f.saved,
      config,
      save: 'recompute',
      needs: { x: true, phi: true, b: true, alphas: true },
    });
    for (const name of GRAD_NAMES)
      expect(
        values(cpu, g[name]!).every((v) => v === 0),
        name,
      ).toBe(true);
  });

  it('rejects saved tensors that do not match the save mode', () => {
    const cpu = new CpuBackend();
    const { config, ins, cot } = coeffsSetup(cpu, coeffsCases[0]);
    const f = cpu.mhc.coeffsForward({ ...ins, config, save: 'recompute' });
    expect(() =>
      cpu.mhc.coeffsBackward({
        ...ins,
        gradHPre: cot.hPre,
        gradHPost: cot.hPost,
        gradHRes: cot.hRes,
        hPre: f.hPre,
        hPost: f.hPost,
        hRes: f.hRes,
        saved: f.saved,
        config,
        save: 'history',
        needs: { x: true, phi: true, b: true, alphas: true },
      }),
    ).toThrow(/saved/);
  });
});

describe('CPU mHC pre / post_res kernels vs golden fixtures', () => {
  for (const c of applyCases) {
    it(c.name, () => {
      const cpu = new CpuBackend();
      const x = upload(cpu, c.inputs.x, c.dtypes.x);
      const f = upload(cpu, c.inputs.f, c.dtypes.f);
      const hPre = upload(cpu, c.inputs.hPre, 'f32');
      const hPost = upload(cpu, c.inputs.hPost, 'f32');
      const hRes = upload(cpu, c.inputs.hRes, 'f32');
      // Cotangents go in as f32, the finest storage, so the check measures the kernels' own error
      // rather than the rounding of the fixture's f64 cotangents to a half dtype.
      const gIn = upload(cpu, c.cotangents.xIn, 'f32');
      const gOut = upload(cpu, c.cotangents.xOut, 'f32');
      const orientation = c.config.orientation;

      const xIn = cpu.mhc.preForward(x, hPre);
      expect(xIn.dtype).toBe(c.dtypes.x);
      expect(xIn.shape).toEqual(c.outputs.xIn.shape);
      expectClose(cpu, 'xIn', xIn, c.outputs.xIn);
      const xOut = cpu.mhc.postResForward(x, f, hPost, hRes, orientation);
      expect(xOut.dtype).toBe(c.dtypes.x);
      expect(xOut.shape).toEqual(c.outputs.xOut.shape);
      expectClose(cpu, 'xOut', xOut, c.outputs.xOut);

      const pre = cpu.mhc.preBackward(gIn, x, hPre);
      expect(pre.gradX.dtype).toBe(c.dtypes.x);
      expect(pre.gradHPre.dtype).toBe('f32');
      expectClose(cpu, 'pre gradX', pre.gradX, c.grads.pre.x);
      expectClose(cpu, 'pre gradHPre', pre.gradHPre, c.grads.pre.hPre);

      const post = cpu.mhc.postResBackward(gOut, x, f, hPost, hRes, orientation);
      expect(post.gradX.dtype).toBe(c.dtypes.x);
      expect(post.gradF.dtype).toBe(c.dtypes.f);
      expect(post.gradHPost.dtype).toBe('f32');
      expect(post.gradHRes.dtype).toBe('f32');
      expectClose(cpu, 'postRes gradX', post.gradX, c.grads.postRes.x);
      expectClose(cpu, 'postRes gradF', post.gradF, c.grads.postRes.f);
      expectClose(cpu, 'postRes gradHPost', post.gradHPost, c.grads.postRes.hPost);
      expectClose(cpu, 'postRes gradHRes', post.gradHRes, c.grads.postRes.hRes);
    });
  }

  it('the two orientations differ exactly by transposing hRes', () => {
    const cpu = new CpuBackend();
    const c = applyCases.find((a) => a.config.orientation === 'liger' && a.dtypes.x === 'f32')!;
    const shape = c.inputs.hRes.shape;
    const hc = shape[shape.length - 1];
    const t = { shape, data: [...c.inputs.hRes.data] };
    for (let b = 0; b < t.data.length; b += hc * hc)
      for (let o = 0; o < hc; o++)
        for (let i = 0; i < hc; i++) t.data[b + o * hc + i] = c.inputs.hRes.data[b + i * hc + o];
    const x = upload(cpu, c.inputs.x, 'f32');
    const f = upload(cpu, c.inputs.f, 'f32');
    const hPost = upload(cpu, c.inputs.hPost, 'f32');
    const hRes = upload(cpu, c.inputs.hRes, 'f32');
    const hResT = upload(cpu, t, 'f32');
    const g = upload(cpu, c.cotangents.xOut, 'f32');
    expectSame(
      cpu,
      'xOut',
      cpu.mhc.postResForward(x, f, hPost, hRes, 'liger'),
      cpu.mhc.postResForward(x, f, hPost, hResT, 'deepseek'),
    );
    const a = cpu.mhc.postResBackward(g, x, f, hPost, hRes, 'liger');
    const d = cpu.mhc.postResBackward(g, x, f, hPost, hResT, 'deepseek');
    expectSame(cpu, 'gradX', a.gradX, d.gradX);
    const ga = values(cpu, a.gradHRes);
    const gd = values(cpu, d.gradHRes);
    for (let b = 0; b < ga.length; b += hc * hc)
      for (let o = 0; o < hc; o++)
        for (let i = 0; i < hc; i++) expect(gd[b + i * hc + o]).toBe(ga[b + o * hc + i]);
  });
});

describe('CPU mHC coeffs kernels: blocked loops and their tails', () => {
  // The projection works on token pairs and 4-wide tiles; odd N, K and M exercise the clamped tails.
  // Each token's results must not depend on its neighbours: a batch must equal its tokens run alone
  // (bit for bit per token; sums over tokens to f32 rounding).
  const shapes = [
    { n: 5, hc: 4, c: 5 },
    { n: 3, hc: 3, c: 7 },
    { n: 7, hc: 5, c: 3 },
    { n: 1, hc: 2, c: 9 },
  ];
  for (const { n, hc, c } of shapes) {
    it(`N=${n} hc=${hc} c=${c}`, () => {
      const cpu = new CpuBackend();
      const k = hc * c;
      const m = hc * hc + 2 * hc;
      let seed = 12345 + n * 97 + hc * 13 + c;
      const rand = (size: number, scale: number): Flat => {
        const data: number[] = [];
        for (let i = 0; i < size; i++) {
          seed = (seed * 1103515245 + 12345) % 2147483648;
          data.push(Math.fround((seed / 2147483648 - 0.5) * scale));
        }
        return { shape: [size], data };
      };
      const f32 = (t: Flat, shape: number[]) => upload(cpu, t, 'f32', shape);
      const x = rand(n * k, 4);
      const gPre = rand(n * hc, 2);
      const gPost = rand(n * hc, 2);
      const gRes = rand(n * hc * hc, 2);
      const params = {
        phi: f32(rand(k * m, 0.5), [k, m]),
        b: f32(rand(m, 1), [m]),
        alphaPre: f32({ shape: [1], data: [0.7] }, []),
        alphaPost: f32({ shape: [1], data: [1.3] }, []),
        alphaRes: f32({ shape: [1], data: [0.9] }, []),
      };
      const config: CoeffsConfig = {
        hc,
        tmax: 5,
        rmsEps: 1e-6,
        preEps: 1e-4,
        sinkhornEps: 1e-6,
        postMult: 2,
      };
      const needs = { x: true, phi: true, b: true, alphas: true };
      const run = (from: number, count: number) => {
        const rows = (t: Flat, width: number): Flat => ({
          shape: [count * width],
          data: t.data.slice(from * width, (from + count) * width),
        });
        const xs = f32(rows(x, k), [count, k]);
        const fw = cpu.mhc.coeffsForward({ x: xs, ...params, config, save: 'history' });
        const bw = cpu.mhc.coeffsBackward({
          x: xs,
          ...params,
          gradHPre: f32(rows(gPre, hc), [count, hc]),
          gradHPost: f32(rows(gPost, hc), [count, hc]),
          gradHRes: f32(rows(gRes, hc * hc), [count, hc, hc]),
          hPre: fw.hPre,
          hPost: fw.hPost,
          hRes: fw.hRes,
          saved: fw.saved,
          config,
          save: 'history',
          needs,
        });
        return { fw, bw };
      };
      const batch = run(0, n);
      const perToken = Array.from({ length: n }, (_, t) => run(t, 1));
      const join = (pick: (r: (typeof perToken)[number]) => TensorInfo) =>
        perToken.flatMap((r) => [...values(cpu, pick(r))]);
      const same = (what: string, a: TensorInfo, b: number[]) => expect([...values(cpu, a)], what).toEqual(b);
      same(
        'hPre',
        batch.fw.hPre,
        join((r) => r.fw.hPre),
      );
      same(
        'hPost',
        batch.fw.hPost,
        join((r) => r.fw.hPost),
      );
      same(
        'hRes',
        batch.fw.hRes,
        join((r) => r.fw.hRes),
      );
      same(
        'gradX',
        batch.bw.gradX!,
        join((r) => r.bw.gradX!),
      );
      const summed = (pick: (r: (typeof perToken)[number]) => TensorInfo | null) => {
        const total = new Float64Array(values(cpu, pick(perToken[0])!).length);
        for (const r of perToken) {
          const v = values(cpu, pick(r)!);
          for (let i = 0; i < v.length; i++) total[i] += v[i];
        }
        return total;
      };
      for (const g of ['gradPhi', 'gradB', 'gradAlphaPre', 'gradAlphaPost', 'gradAlphaRes'] as const) {
        const r = compare(
          values(cpu, batch.bw[g]!),
          summed((p) => p.bw[g]),
          REFERENCE_F32,
        );
        expect(r.pass, `${g}: ratio ${r.ratio}`).toBe(true);
      }
    });
  }
});

describe('CPU mHC kernels: half-precision storage', () => {
  // Kernels widen bf16/f16 to f32 and narrow results with their own fast loops; they must agree
  // with dtype.ts on every bit pattern. pre with hc = 1 and hPre = 1 is an identity on values.
  for (const dtype of ['bf16', 'f16'] as const) {
    it(`${dtype}: every bit pattern round-trips through a kernel`, () => {
      const cpu = new CpuBackend();
      const n = 65536;
      const bits = new Uint16Array(n);
      for (let i = 0; i < n; i++) bits[i] = i;
      const x = { handle: cpu.alloc(dtype, n), shape: [n, 1, 1], dtype };
      cpu.write(x.handle, bits);
      const h = { handle: cpu.alloc('f32', n), shape: [n, 1], dtype: 'f32' as const };
      cpu.write(h.handle, new Float32Array(n).fill(1));
      const want = decode(dtype, bits);
      const got = values(cpu, cpu.mhc.preForward(x, h));
      const wrong = (i: number) => !(got[i] === want[i] || (Number.isNaN(got[i]) && Number.isNaN(want[i])));
      expect([...Array(n).keys()].filter(wrong)).toEqual([]);
      // Narrowing rounds like encode(): halve every value (exact unless it underflows) and compare.
      const half = { handle: cpu.alloc('f32', n), shape: [n, 1], dtype: 'f32' as const };
      cpu.write(half.handle, new Float32Array(n).fill(0.5));
      const halved = cpu.readSync(cpu.mhc.preForward(x, half).handle);
      const expected = encode(
        dtype,
        Float64Array.from(want, (v) => v * 0.5),
      );
      // The sums start from +0, so -0 may come back as +0; every other pattern must match exactly.
      const differs = (i: number) => halved[i] !== expected[i] && (halved[i] | expected[i]) !== 0x8000;
      expect([...Array(n).keys()].filter(differs)).toEqual([]);
    });
  }
});
