import { describe, expect, it } from 'vitest';
import {
  add,
  type Backend,
  CpuBackend,
  cast,
  concat,
  DTypeError,
  encode,
  fromStorage,
  LigerMHC,
  Linear,
  MHC_PRESETS,
  Module,
  mhcCoeffs,
  mhcExpand,
  mhcHead,
  mhcPostRes,
  mhcPre,
  mhcPreNorm,
  mul,
  Random,
  resolveMhcOptions,
  ShapeError,
  sum,
  type Tensor,
  transpose,
  UnsupportedKernelError,
} from '../src/index.js';
import { rnd } from './helpers.js';

/** Seeded normal samples as a leaf on `be`. */
function leaf(be: Backend, shape: number[], seed: number, dtype: 'f32' | 'bf16' | 'f16', std = 1): Tensor {
  const rng = new Random(seed);
  const v = Float64Array.from({ length: shape.reduce((a, d) => a * d, 1) }, () => std * rng.normal());
  return fromStorage(encode(dtype, v), shape, dtype, { backend: be, requiresGrad: true });
}

async function vals(t: Tensor | null): Promise<number[]> {
  if (!t) throw new Error('missing tensor');
  return Array.from(await t.data());
}

async function expectClose(a: Tensor | null, b: Tensor | null, tol: number): Promise<void> {
  const [x, y] = [await vals(a), await vals(b)];
  expect(x.length).toBe(y.length);
  const scale = Math.max(1e-30, ...y.map(Math.abs));
  for (let i = 0; i < x.length; i++) expect(Math.abs(x[i]! - y[i]!)).toBeLessThanOrEqual(tol * scale);
}

/** A CPU backend that takes φ only in Liger's layout and post_res only with matching dtypes. */
function plainCpu(): Backend {
  const be = new CpuBackend();
  Object.defineProperty(be, 'name', { value: 'cpu-plain' });
  Object.defineProperty(be.mhc, 'phiLayouts', { value: ['liger'] });
  Object.defineProperty(be.mhc, 'mixedPostResDTypes', { value: false });
  return be;
}

const BACKENDS = [
  ['the CPU (native)', () => new CpuBackend() as Backend],
  ['a backend without it (core adapts)', plainCpu],
] as const;

describe('presets', () => {
  it("'deepseek-v4' carries V4's conventions and explicit options override it", () => {
    expect(resolveMhcOptions({ preset: 'deepseek-v4' })).toMatchObject({
      tmax: 20,
      rmsEps: 1e-6,
      preEps: 1e-6,
      sinkhornEps: 1e-6,
      postMult: 2,
      orientation: 'deepseek',
      phiLayout: 'deepseek',
      normEps: 1e-6,
    });
    expect(resolveMhcOptions({})).toMatchObject({ preEps: 0, orientation: 'liger', phiLayout: 'liger' });
    expect(resolveMhcOptions({ preset: 'deepseek-v4', tmax: 5, orientation: 'liger' })).toMatchObject({
      tmax: 5,
      orientation: 'liger',
      preEps: 1e-6,
    });
    expect(MHC_PRESETS.liger.preEps).toBe(0);
    expect(() => resolveMhcOptions({ preset: 'v3' as never })).toThrow(
      /^preset: expected 'liger' or 'deepseek-v4'/,
    );
  });
});

describe("DeepSeek-V4's parameter layout in mhcCoeffs", () => {
  for (const [label, make] of BACKENDS) {
    it(`φ [M, K] with scale [3] equals φᵀ with three α, values and gradients, on ${label}`, async () => {
      const be = make();
      const hc = 4;
      const m = hc * hc + 2 * hc;
      const x = leaf(be, [5, hc, 6], 1, 'bf16');
      const phi = leaf(be, [hc * 6, m], 2, 'f32', 0.1);
      const b = leaf(be, [m], 3, 'f32', 0.3);
      const alphas = [4, 5, 6].map((s) => leaf(be, [], s, 'f32'));
      const [aPre, aPost, aRes] = alphas as [Tensor, Tensor, Tensor];
      const x2 = leaf(be, [5, hc, 6], 1, 'bf16');
      const fn = leaf(be, [m, hc * 6], 0, 'f32');
      be.write(fn.storage('fn').handle, (await transpose(phi).data()) as Float32Array);
      const b2 = leaf(be, [m], 3, 'f32', 0.3);
      const scale = leaf(be, [3], 0, 'f32');
      be.write(
        scale.storage('scale').handle,
        Float32Array.from(await Promise.all(alphas.map(async (a) => (await vals(a))[0]!))),
      );
      const ref = mhcCoeffs(x, phi, b, aPre, aPost, aRes, { preEps: 1e-6 });
      const v4 = mhcCoeffs(x2, fn, b2, scale, { preset: 'deepseek-v4' });
      for (const k of ['hPre', 'hPost', 'hRes'] as const) await expectClose(v4[k], ref[k], 1e-7);
      const w = leaf(be, [5, hc, hc], 9, 'f32');
      const loss = (h: typeof ref) => add(add(sum(mul(h.hRes, w)), sum(mul(h.hPre, h.hPre))), sum(h.hPost));
      loss(ref).backward();
      loss(v4).backward();
      await expectClose(x2.grad, x.grad, 1e-2);
      await expectClose(fn.grad, transpose(phi.grad!), 1e-6);
      await expectClose(b2.grad, b.grad, 1e-6);
      const ag = concat(
        alphas.map((a) => a.grad!.reshape([1])),
        0,
      );
      await expectClose(scale.grad, ag, 1e-6);
    });
  }

  it('φ that does not fit the layout names the option; a scale that is not [3] is refused', () => {
    const be = new CpuBackend();
    const x = leaf(be, [2, 2, 4], 1, 'bf16');
    const phi = leaf(be, [8, 8], 2, 'f32');
    const b = leaf(be, [8], 3, 'f32');
    const a = leaf(be, [], 4, 'f32');
    expect(() => mhcCoeffs(x, leaf(be, [8, 9], 2, 'f32'), b, a, a, a, { phiLayout: 'deepseek' })).toThrow(
      new ShapeError("phi (phiLayout 'deepseek')", '[8, 8]', [8, 9]),
    );
    expect(() => mhcCoeffs(x, phi, b, leaf(be, [2], 5, 'f32'))).toThrow(/^scale: expected shape \[3\]/);
  });
});

describe("Liger's dtype rules", () => {
  it('b and the α in bf16 are read as f32; their gradients come back in bf16', async () => {
    const be = new CpuBackend();
    const x = leaf(be, [3, 2, 4], 1, 'bf16');
    const phi = leaf(be, [8, 8], 2, 'f32', 0.2);
    const b16 = leaf(be, [8], 3, 'bf16', 0.5);
    const a16 = leaf(be, [], 4, 'bf16');
    const a = leaf(be, [], 5, 'f32');
    const got = mhcCoeffs(x, phi, b16, a, a, a16);
    const ref = mhcCoeffs(x, phi, cast(b16, 'f32'), a, a, cast(a16, 'f32'));
    await expectClose(got.hRes, ref.hRes, 0);
    sum(mul(got.hRes, got.hRes)).backward();
    expect(b16.grad?.dtype).toBe('bf16');
    expect(a16.grad?.dtype).toBe('bf16');
    expect(Math.abs((await vals(a16.grad))[0]!)).toBeGreaterThan(0);
  });

  it('pre takes f32 streams without allowFp32, and bf16 coefficients as f32', async () => {
    const x = rnd([3, 2, 4], 1, 'f32');
    const h = rnd([3, 2], 2, 'bf16');
    const y = mhcPre(x, h);
    expect(y.dtype).toBe('f32');
    await expectClose(y, mhcPre(x, cast(h, 'f32')), 0);
  });

  for (const [label, make] of BACKENDS) {
    it(`post_res with bf16 streams and an f32 layer output on ${label}`, async () => {
      const be = make();
      const x = leaf(be, [4, 2, 8], 1, 'bf16');
      const f = leaf(be, [4, 8], 2, 'f32');
      const hPost = leaf(be, [4, 2], 3, 'f32');
      const hRes = leaf(be, [4, 2, 2], 4, 'f32');
      const out = mhcPostRes(x, f, hPost, hRes);
      expect(out.dtype).toBe('bf16');
      // f read at f32 natively and by core's fallback (which runs the op in f32).
      const fUsed = await vals(f);
      const [xv, pv, rv, ov] = await Promise.all([x, hPost, hRes, out].map(vals));
      const exact: number[] = [];
      for (let n = 0; n < 4; n++)
        for (let o = 0; o < 2; o++)
          for (let ch = 0; ch < 8; ch++) {
            let e = pv[n * 2 + o]! * fUsed[n * 8 + ch]!;
            for (let i = 0; i < 2; i++) e += rv[n * 4 + o * 2 + i]! * xv[(n * 2 + i) * 8 + ch]!;
            exact.push(e);
          }
      // One bf16 rounding of the exact result: within half an ulp (2^-9 relative).
      for (let i = 0; i < exact.length; i++)
        expect(Math.abs(ov[i]! - exact[i]!)).toBeLessThanOrEqual(Math.abs(exact[i]!) * 2 ** -8 + 1e-30);
      sum(mul(out, out)).backward();
      expect(f.grad?.dtype).toBe('f32');
      expect(x.grad?.dtype).toBe('bf16');
      // f's gradient Σ_o hPost[o]·2·out[o] in f32, not rounded through bf16.
      const gf = await vals(f.grad!);
      for (let n = 0; n < 4; n++)
        for (let ch = 0; ch < 8; ch++) {
          let e = 0;
          for (let o = 0; o < 2; o++) e += pv[n * 2 + o]! * 2 * ov[(n * 2 + o) * 8 + ch]!;
          expect(Math.abs(gf[n * 8 + ch]! - e)).toBeLessThanOrEqual(Math.abs(e) * 1e-6 + 1e-7);
        }
    });
  }

  it('LigerMHC casts the layer input to the dtype of the layer parameters (none: no cast)', () => {
    const seen: string[] = [];
    class Spy extends Module {
      inner = new Linear(8, 8);
      constructor() {
        super();
        this.registerModule('inner', this.inner);
      }
      forward(t: Tensor): Tensor {
        seen.push(t.dtype);
        return this.inner.forward(t);
      }
    }
    const m = new LigerMHC(new Spy(), { hc: 2, c: 8 });
    expect(m.forward(rnd([3, 2, 8], 1, 'bf16')).dtype).toBe('bf16');
    expect(seen).toEqual(['f32']);
    const plain = new LigerMHC(
      (t: Tensor) => {
        seen.push(t.dtype);
        return t;
      },
      { hc: 2, c: 8 },
    );
    plain.forward(rnd([3, 2, 8], 1, 'bf16'));
    expect(seen).toEqual(['f32', 'bf16']);
  });
});

describe('V4 ops: bad input', () => {
  it('head, expand and pre-norm name the bad argument', () => {
    const x = rnd([3, 2, 4], 1);
    const f32 = (shape: number[], seed: number) => rnd(shape, seed, 'f32');
    expect(() => mhcHead(x, f32([2, 9], 2), f32([2], 3), f32([1], 4))).toThrow(
      new ShapeError('phi', '[2, 8]', [2, 9]),
    );
    expect(() => mhcHead(x, f32([2, 8], 2), f32([3], 3), f32([1], 4))).toThrow(
      new ShapeError('base', '[2]', [3]),
    );
    expect(() => mhcHead(x, f32([2, 8], 2), f32([2], 3), f32([2], 4))).toThrow(/^scale: expected shape/);
    expect(() => mhcHead(f32([3, 2, 4], 1), f32([2, 8], 2), f32([2], 3), f32([1], 4))).toThrow(DTypeError);
    expect(() => mhcExpand(rnd([3, 4], 1), 0)).toThrow(/^hc: /);
    expect(() => mhcPreNorm(x, f32([3, 2], 2), f32([5], 3))).toThrow(new ShapeError('weight', '[4]', [5]));
    expect(() => mhcPreNorm(x, f32([3, 3], 2), f32([4], 3))).toThrow(
      new ShapeError('hPre', '[3, 2]', [3, 3]),
    );
  });

  it('a backend without the kernel gets an error naming kernel and backend', () => {
    const be = new CpuBackend();
    Object.defineProperty(be.mhc, 'headForward', { value: undefined });
    const x = leaf(be, [3, 2, 4], 1, 'bf16');
    expect(() =>
      mhcHead(x, leaf(be, [2, 8], 2, 'f32'), leaf(be, [2], 3, 'f32'), leaf(be, [1], 4, 'f32')),
    ).toThrow(new UnsupportedKernelError('headForward', 'cpu'));
  });
});

describe("LigerMHC with preset 'deepseek-v4'", () => {
  it("stores φ in V4's layout and applies V4's conventions", async () => {
    const m = new LigerMHC(new Linear(8, 8), { hc: 2, c: 8, preset: 'deepseek-v4' });
    expect(m.phi.shape).toEqual([8, 16]);
    const x = rnd([3, 2, 8], 1, 'bf16');
    const out = m.forward(x);
    expect(out.shape).toEqual([3, 2, 8]);
    const c = m.coefficients(x);
    // preEps 1e-6 and the same φ seen transposed by the Liger preset give the same coefficients.
    const ref = mhcCoeffs(x, transpose(m.phi), m.b, m.alphaPre, m.alphaPost, m.alphaRes, { preEps: 1e-6 });
    await expectClose(c.hRes, ref.hRes, 1e-7);
    await expectClose(c.hPre, ref.hPre, 1e-7);
  });
});
