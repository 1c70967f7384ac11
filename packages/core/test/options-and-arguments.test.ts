import { describe, expect, it } from 'vitest';
import {
  AllocationError,
  ArgumentError,
  LigerMHC,
  Linear,
  MiniMhcLM,
  mhcApply,
  mhcCoeffs,
  mhcForward,
  mhcPre,
  tensor,
  zeros,
} from '../src/index.js';
import { coeffInputs } from './helpers.js';

const i = coeffInputs(2, 2, 4);
const coeffs = (o: unknown) =>
  mhcCoeffs(i.x, i.phi, i.b, i.alphaPre, i.alphaPost, i.alphaRes, o as Record<string, never>);

/** The thrown error, for exact assertions. */
function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

describe('option bags: unknown keys and wrong types are errors naming the key', () => {
  it('a misspelt mhcCoeffs option names the key and suggests the valid one', () => {
    const e = thrown(() => coeffs({ tMax: 0 }));
    expect(e).toBeInstanceOf(ArgumentError);
    expect(e.message).toMatch(
      /^options\.tMax: unknown option; did you mean 'tmax'\? \(valid: preset, tmax, /,
    );
    expect(thrown(() => coeffs({ sinkhornIters: -5 })).message).toMatch(
      /^options\.sinkhornIters: unknown option; did you mean 'tmax'\?/,
    );
    expect(thrown(() => coeffs({ rmsEsp: 1e-6 })).message).toMatch(/did you mean 'rmsEps'\?/);
  });

  it('values are type-checked', () => {
    const e = thrown(() => coeffs({ checkFinite: 'no' }));
    expect(e).toBeInstanceOf(ArgumentError);
    expect(e.message).toBe('options.checkFinite: expected true or false, got "no"');
    expect(thrown(() => coeffs({ allowFp32: 1 })).message).toBe(
      'options.allowFp32: expected true or false, got 1',
    );
    expect(thrown(() => coeffs({ tmax: '20' })).message).toBe('options.tmax: expected a number, got "20"');
    expect(thrown(() => coeffs({ tmax: 0 })).message).toBe('tmax: expected an integer >= 1, got 0');
    expect(thrown(() => coeffs({ tmax: -5 })).message).toBe('tmax: expected an integer >= 1, got -5');
  });

  it('null or non-object options are refused, not read as defaults', () => {
    expect(thrown(() => coeffs(null)).message).toBe('options: expected an options object, got null');
    expect(thrown(() => coeffs(7)).message).toBe('options: expected an options object, got number');
    // The DeepSeek-V4 form: x, φ, base, scale, options.
    const scale = zeros([3]);
    expect(thrown(() => mhcCoeffs(i.x, i.phi, i.b, scale, null as never)).message).toBe(
      'options: expected an options object or alphaPost, got null',
    );
  });

  it('LigerMHC: unknown keys, wrong types and a null bag', () => {
    const layer = new Linear(4, 4);
    expect(thrown(() => new LigerMHC(layer, { hc: 2, c: 4, tMax: 0 } as never)).message).toMatch(
      /^options\.tMax: unknown option; did you mean 'tmax'\?/,
    );
    expect(thrown(() => new LigerMHC(layer, { hc: 2, c: 4, sinkhornIters: -5 } as never)).message).toMatch(
      /^options\.sinkhornIters: unknown option; did you mean 'tmax'\?/,
    );
    expect(thrown(() => new LigerMHC(layer, { hc: 2, c: 4, checkFinite: 'no' } as never)).message).toBe(
      'options.checkFinite: expected true or false, got "no"',
    );
    expect(thrown(() => new LigerMHC(layer, null as never)).message).toBe(
      'options: expected an options object with hc and c, got null',
    );
    expect(thrown(() => new LigerMHC(layer, { hc: 2, c: 4, alphaInit: Number.NaN })).message).toBe(
      'options.alphaInit: expected a finite number, got NaN',
    );
  });

  it('MiniMhcLM: an unknown config key', () => {
    expect(
      thrown(() => new MiniMhcLM({ vocab: 5, hc: 2, c: 4, layers: 1, layer: 2 } as never)).message,
    ).toMatch(/^config\.layer: unknown option; did you mean 'layers'\?/);
  });
});

describe('arguments: tensors must be tensors, layers callables', () => {
  it('a plain array where a tensor belongs names the argument', () => {
    const e = thrown(() => mhcCoeffs([1, 2] as never, i.phi, i.b, i.alphaPre, i.alphaPost, i.alphaRes));
    expect(e).toBeInstanceOf(ArgumentError);
    expect(e.message).toBe('x: expected a Tensor, got an array');
    expect(
      thrown(() => mhcCoeffs(i.x, null as never, i.b, i.alphaPre, i.alphaPost, i.alphaRes)).message,
    ).toBe('phi: expected a Tensor, got null');
    expect(thrown(() => mhcCoeffs(i.x, i.phi, i.b, { a: 1 } as never)).message).toBe(
      'scale: expected a Tensor, got an object',
    );
    expect(thrown(() => mhcPre(i.x, [0.5, 0.5] as never)).message).toBe(
      'hPre: expected a Tensor, got an array',
    );
  });

  it('a layer that is not callable, or returns a number', () => {
    const c = coeffs({});
    expect(thrown(() => mhcApply(i.x, 3 as never, c)).message).toMatch(
      /^layer: expected a function \(x: Tensor\) => Tensor or an object with forward\(x\), got 3$/,
    );
    const e = thrown(() => mhcApply(i.x, (() => 1) as never, c));
    expect(e).toBeInstanceOf(ArgumentError);
    expect(e.message).toBe('layer: expected the layer to return a Tensor, got 1');
    expect(thrown(() => mhcApply(i.x, (t) => t, null as never)).message).toBe(
      'coeffs: expected the result of mhcCoeffs, got null',
    );
    expect(thrown(() => new LigerMHC({} as never, { hc: 2, c: 4 })).message).toMatch(
      /^layer: expected a function/,
    );
    const m = new LigerMHC((() => 'x') as never, { hc: 2, c: 4, allowFp32: true });
    expect(thrown(() => m.forward(i.x)).message).toBe(
      'layer: expected the layer to return a Tensor, got "x"',
    );
    expect(
      thrown(() => mhcForward(i.x, null as never, i.phi, i.b, i.alphaPre, i.alphaPost, i.alphaRes)).message,
    ).toMatch(/^layer: expected a function/);
  });
});

describe('sizes are checked before allocating', () => {
  it('hc 2000 or 100000: an AllocationError with the size asked for, no RangeError', () => {
    for (const hc of [2000, 100000]) {
      const e = thrown(() => new LigerMHC(new Linear(4, 4), { hc, c: 4 }));
      expect(e).toBeInstanceOf(AllocationError);
      const m = hc * hc + 2 * hc;
      expect((e as AllocationError).elements).toBe(hc * 4 * m);
      expect((e as AllocationError).shape).toEqual([hc * 4, m]);
      expect(e.message).toMatch(new RegExp(`^hc: cannot allocate a tensor of shape \\[${hc * 4}, ${m}\\]`));
    }
  });

  it('a creation op asked for more than one tensor can hold', () => {
    const e = thrown(() => zeros([65536, 65536]));
    expect(e).toBeInstanceOf(AllocationError);
    expect((e as AllocationError).elements).toBe(2 ** 32);
    expect(e.message).toMatch(
      /^shape: cannot allocate a tensor of shape \[65536, 65536\] \(4\.295e\+9 elements;/,
    );
    expect(thrown(() => tensor(new Float32Array(4), [2, 2 ** 31]))).toBeInstanceOf(ArgumentError);
  });
});
