import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArgumentError } from '@liger-mhc/core';
import { describe, expect, it } from 'vitest';
import {
  LAUNCH_PARAMS,
  type LaunchName,
  packLaunchParams,
  renderLaunchParamsHeader,
} from '../src/launch-params.js';

const nativeDir = fileURLToPath(new URL('../native', import.meta.url));

function nativeSources(dir = nativeDir): { path: string; text: string }[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return nativeSources(p);
    return /\.(cu|cuh|cc|h)$/.test(e.name) ? [{ path: p, text: readFileSync(p, 'utf8') }] : [];
  });
}

describe('launch parameters', () => {
  it('packs every launch in declaration order, whatever the key order of the object', () => {
    for (const name of Object.keys(LAUNCH_PARAMS) as LaunchName[]) {
      const fields = Object.entries(LAUNCH_PARAMS[name]);
      const obj: Record<string, unknown> = {};
      const want: number[] = [];
      fields.forEach(([field, type], i) => {
        if (type === 'bool') obj[field] = i % 2 === 0;
        else if (type === 'i64[]') obj[field] = [i, i + 1];
        else obj[field] = 10 + i;
      });
      for (const [field, type] of fields) {
        const v = obj[field];
        if (type === 'bool') want.push(v ? 1 : 0);
        else if (type === 'i64[]') want.push(...(v as number[]));
        else want.push(v as number);
      }
      // Keys inserted in reverse, so only the declaration can give the order.
      const reversed = Object.fromEntries(Object.entries(obj).reverse());
      // biome-ignore lint/suspicious/noExplicitAny: generic over every launch
      expect([...packLaunchParams(name, reversed as any)], name).toEqual(want);
    }
  });

  it('keeps the positions the kernels were written for', () => {
    expect([
      ...packLaunchParams('expand_bwd', { tokens: 6, hc: 4, c: 8, gradDtype: 2, outDtype: 0 }),
    ]).toEqual([6, 4, 8, 2, 0]);
    expect([
      ...packLaunchParams('coeffs_bwd', {
        tokens: 5,
        k: 64,
        hc: 4,
        tmax: 20,
        preEps: 0.5,
        sinkhornEps: 1e-6,
        postMult: 2,
        xDtype: 2,
        phiDtype: 0,
        recompute: true,
      }),
    ]).toEqual([5, 64, 4, 20, 0.5, 1e-6, 2, 2, 0, 1]);
    expect([...packLaunchParams('sum', { dtype: 1, layout: [1, 3, 1, 1, 2, 3] })]).toEqual([
      1, 1, 3, 1, 1, 2, 3,
    ]);
  });

  it('names the bad field in a typed error before packing anything', () => {
    // @ts-expect-error missing field hc
    expect(() => packLaunchParams('expand_fwd', { tokens: 1, c: 2, dtype: 0 })).toThrow(
      expect.objectContaining({ argument: 'params.hc' }),
    );
    // @ts-expect-error misspelt field
    expect(() => packLaunchParams('expand_fwd', { tokens: 1, hc: 1, c: 2, dtpye: 0 })).toThrow(ArgumentError);
    expect(() =>
      // @ts-expect-error mistyped field
      packLaunchParams('expand_fwd', { tokens: 1, hc: '4', c: 2, dtype: 0 }),
    ).toThrow(expect.objectContaining({ argument: 'params.hc' }));
    expect(() => packLaunchParams('expand_fwd', { tokens: 1.5, hc: 4, c: 2, dtype: 0 })).toThrow(
      expect.objectContaining({ argument: 'params.tokens' }),
    );
    // An i32 field out of range would wrap in the kernel.
    expect(() => packLaunchParams('pre_fwd', { tokens: 2 ** 31, hc: 4, c: 2, dtype: 0 })).toThrow(
      expect.objectContaining({ argument: 'params.tokens' }),
    );
    expect(() =>
      // @ts-expect-error a bool field takes a boolean, not 0/1
      packLaunchParams('softmax', { dtype: 0, rows: 1, d: 4, queries: 1, causal: 1 }),
    ).toThrow(expect.objectContaining({ argument: 'params.causal' }));
    // biome-ignore lint/suspicious/noExplicitAny: an undeclared launch name
    expect(() => packLaunchParams('nope' as any, {} as any)).toThrow(
      expect.objectContaining({ argument: 'kernel' }),
    );
    // f32 fields take any number: fills with -Infinity are real.
    expect([...packLaunchParams('fill', { n: 3, dtype: 0, value: -Infinity })]).toEqual([3, 0, -Infinity]);
  });

  it('the committed C++ header is generated from the declaration', () => {
    const header = readFileSync(join(nativeDir, 'kernels/launch_params.h'), 'utf8');
    expect(header, 'stale: run node scripts/gen-launch-params.mjs').toBe(renderLaunchParamsHeader());
  });

  it('every addon op is declared, and no op reads its parameters by position', () => {
    const sources = nativeSources();
    const ops = sources.flatMap((s) => [...s.text.matchAll(/^LMHC_OP\((\w+)\)/gm)].map((m) => m[1]!));
    expect(ops.sort()).toEqual(Object.keys(LAUNCH_PARAMS).sort());
    for (const { path, text } of sources) {
      // Positional reads belong to the generated header and to the tail readers in common.cuh.
      if (/launch_params\.h$|common\.cuh$|ops\.h$/.test(path)) continue;
      expect(text.match(/\ba\.(i32|i64|f32|num)\(/g), path).toBeNull();
    }
  });
});
