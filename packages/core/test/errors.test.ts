import { describe, expect, it } from 'vitest';
import {
  type Backend,
  BackendError,
  CpuBackend,
  DisposedTensorError,
  DTypeError,
  LigerMHC,
  Linear,
  mhcCoeffs,
  mhcPostRes,
  mhcPre,
  NonFiniteError,
  ShapeError,
  tensor,
  zeros,
} from '../src/index.js';
import { coeffInputs, rnd } from './helpers.js';

const coeffs = (i: ReturnType<typeof coeffInputs>, o = {}) =>
  mhcCoeffs(i.x, i.phi, i.b, i.alphaPre, i.alphaPost, i.alphaRes, o);

describe('bad input to the mHC ops gets a typed error naming the argument', () => {
  it('x not [..., hc, c]', () => {
    const i = coeffInputs(2, 2, 4);
    const x1 = rnd([8], 1);
    expect(() => mhcCoeffs(x1, i.phi, i.b, i.alphaPre, i.alphaPost, i.alphaRes)).toThrow(ShapeError);
    expect(() => mhcCoeffs(x1, i.phi, i.b, i.alphaPre, i.alphaPost, i.alphaRes)).toThrow(
      /^x: expected shape \[\.\.\., hc, c\]/,
    );
  });

  it('phi not [hc*c, M]', () => {
    const i = coeffInputs(2, 2, 4);
    const phi = rnd([8, 7], 3, 'f32');
    expect(() => coeffs({ ...i, phi })).toThrow(new ShapeError('phi', '[8, 8]', [8, 7]));
  });

  it('b not [M], alphas not scalars', () => {
    const i = coeffInputs(2, 2, 4);
    expect(() => coeffs({ ...i, b: rnd([9], 1, 'f32') })).toThrow(new ShapeError('b', '[8]', [9]));
    expect(() => coeffs({ ...i, alphaRes: rnd([2], 1, 'f32') })).toThrow(
      /^alphaRes: expected shape \[\] or \[1\]/,
    );
  });

  it('disallowed dtypes: f32 x without allowFp32, integer b, alphas and phi', () => {
    const i = coeffInputs(2, 2, 4);
    const x32 = rnd([2, 2, 4], 1, 'f32');
    expect(() => coeffs({ ...i, x: x32 })).toThrow(DTypeError);
    expect(() => coeffs({ ...i, x: x32 })).toThrow(
      'x: expected dtype bf16 or f16 (f32 needs allowFp32: true), got f32',
    );
    expect(() => coeffs({ ...i, x: x32 }, { allowFp32: true })).not.toThrow();
    // Liger reads b and the α in f32 whatever float dtype they have; integers are still refused.
    expect(() => coeffs({ ...i, b: zeros([8], { dtype: 'i32' }) })).toThrow(
      /^b: expected dtype f32, f16 or bf16/,
    );
    expect(() => coeffs({ ...i, alphaPre: zeros([], { dtype: 'i32' }) })).toThrow(
      /^alphaPre: expected dtype f32, f16 or bf16, got i32/,
    );
    expect(() => coeffs({ ...i, phi: zeros([8, 8], { dtype: 'i32' }) })).toThrow(/^phi: expected dtype/);
  });

  it('NaN / Inf in coeffs inputs', () => {
    const i = coeffInputs(2, 2, 4);
    const bad = tensor([1, 2, Number.NaN, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 4], {
      dtype: 'bf16',
    });
    expect(() => coeffs({ ...i, x: bad })).toThrow(NonFiniteError);
    expect(() => coeffs({ ...i, x: bad })).toThrow('x: expected finite values, got NaN at flat index 2');
    const inf = tensor(
      Array(8)
        .fill(0)
        .map((_, k) => (k === 5 ? Number.POSITIVE_INFINITY : 0)),
      [8],
      { dtype: 'f32' },
    );
    expect(() => coeffs({ ...i, b: inf })).toThrow('b: expected finite values, got Infinity at flat index 5');
  });

  it('hPre / hPost / hRes / f not matching x', () => {
    const x = rnd([3, 2, 4], 1);
    expect(() => mhcPre(x, rnd([3, 3], 2, 'f32'))).toThrow(new ShapeError('hPre', '[3, 2]', [3, 3]));
    expect(() => mhcPre(x, zeros([3, 2], { dtype: 'i32' }))).toThrow(
      /^hPre: expected dtype f32, f16 or bf16/,
    );
    const f = rnd([3, 4], 3);
    const hPost = rnd([3, 2], 4, 'f32');
    const hRes = rnd([3, 2, 2], 5, 'f32');
    expect(() => mhcPostRes(x, rnd([3, 5], 3), hPost, hRes)).toThrow(new ShapeError('f', '[3, 4]', [3, 5]));
    expect(() => mhcPostRes(x, f, rnd([2, 2], 4, 'f32'), hRes)).toThrow(
      new ShapeError('hPost', '[3, 2]', [2, 2]),
    );
    expect(() => mhcPostRes(x, f, hPost, rnd([3, 2, 3], 5, 'f32'))).toThrow(
      new ShapeError('hRes', '[3, 2, 2]', [3, 2, 3]),
    );
    expect(() => mhcPostRes(x, zeros([3, 4], { dtype: 'i32' }), hPost, hRes)).toThrow(/^f: expected dtype/);
  });

  it('module hc / c mismatch', () => {
    const m = new LigerMHC(new Linear(8, 8), { hc: 4, c: 8 });
    expect(() => m.forward(rnd([2, 2, 8], 1))).toThrow(ShapeError);
    expect(() => m.forward(rnd([2, 2, 8], 1))).toThrow(
      'x: expected shape [..., 4, 8] (hc=4, c=8 of this LigerMHC), got [2, 2, 8]',
    );
    expect(() => new LigerMHC(new Linear(8, 8), { hc: 0, c: 8 })).toThrow(/^hc: expected an integer >= 1/);
    expect(() => new LigerMHC(new Linear(8, 8), { hc: 2, c: 8, tmax: 0 })).toThrow(
      /^tmax: expected an integer >= 1/,
    );
  });

  it('tensors of different backends in one op', () => {
    const other = new CpuBackend() as Backend;
    Object.defineProperty(other, 'name', { value: 'cpu-2' });
    const i = coeffInputs(2, 2, 4);
    const phi2 = rnd([8, 8], 1, 'f32');
    const moved = tensor(Array.from(phi2.dataSync()), [8, 8], { backend: other });
    expect(() => coeffs({ ...i, phi: moved })).toThrow(BackendError);
    expect(() => coeffs({ ...i, phi: moved })).toThrow(
      /^phi: expected a tensor on backend 'cpu' \(like x\), got one on 'cpu-2'/,
    );
  });

  it('disposed tensors', () => {
    const i = coeffInputs(2, 2, 4);
    i.phi.dispose();
    expect(() => coeffs(i)).toThrow(DisposedTensorError);
    expect(() => coeffs(i)).toThrow('phi: tensor has been disposed');
    const x = rnd([2, 2, 4], 1);
    x.dispose();
    expect(() => x.dataSync()).toThrow(DisposedTensorError);
    expect(() => x.dispose()).not.toThrow();
  });

  it('nothing is half-written: a failing call allocates nothing', () => {
    const be = coeffInputs(1, 1, 1).x.backend;
    const i = coeffInputs(2, 2, 4);
    const before = be.memory().liveBuffers;
    expect(() => coeffs({ ...i, b: rnd([9], 1, 'f32') })).toThrow(ShapeError);
    // rnd() above allocated exactly one buffer; the failing op allocated none.
    expect(be.memory().liveBuffers).toBe(before + 1);
  });
});
