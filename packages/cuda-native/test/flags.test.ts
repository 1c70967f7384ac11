import { ArgumentError } from '@liger-mhc/core';
import { describe, expect, it } from 'vitest';
import { ADDON_PATH, CUDA_FLAGS, NO_CLUSTER, readAddonPath, readBoolFlag } from '../src/flags.js';

describe('flags', () => {
  it('declares each variable once, with a default and a meaning', () => {
    const names = CUDA_FLAGS.map((f) => f.env);
    expect(new Set(names).size).toBe(names.length);
    for (const f of CUDA_FLAGS) {
      expect(f.env).toMatch(/^LIGER_MHC_CUDA_[A-Z_]+$/);
      expect(f.meaning.length).toBeGreaterThan(20);
    }
    expect(NO_CLUSTER.default).toBe(false);
    expect(ADDON_PATH.default).toBe(null);
  });

  it('parses LIGER_MHC_CUDA_NO_CLUSTER strictly', () => {
    const read = (v: string | undefined) => readBoolFlag(NO_CLUSTER, { LIGER_MHC_CUDA_NO_CLUSTER: v });
    expect(read(undefined)).toBe(false);
    expect(read('')).toBe(false);
    expect(read('1')).toBe(true);
    expect(read('true')).toBe(true);
    expect(read(' TRUE ')).toBe(true);
    expect(read('0')).toBe(false);
    expect(read('false')).toBe(false);
    for (const bad of ['yes', '2', 'on', '1x', 'no']) {
      expect(() => read(bad)).toThrow(ArgumentError);
      expect(() => read(bad)).toThrow(/^LIGER_MHC_CUDA_NO_CLUSTER: expected 1, true, 0 or false/);
    }
  });

  it('LIGER_MHC_CUDA_ADDON must name a .node file', () => {
    expect(readAddonPath({})).toBe(null);
    expect(readAddonPath({ LIGER_MHC_CUDA_ADDON: '/x/liger_mhc_cuda.node' })).toBe('/x/liger_mhc_cuda.node');
    for (const bad of ['/x/build/Release', '/x/liger_mhc_cuda.so', 'addon.node.bak']) {
      expect(() => readAddonPath({ LIGER_MHC_CUDA_ADDON: bad })).toThrow(ArgumentError);
      expect(() => readAddonPath({ LIGER_MHC_CUDA_ADDON: bad })).toThrow(
        new RegExp(`^LIGER_MHC_CUDA_ADDON: expected the path of the addon's \\.node file, got '${bad}'`),
      );
    }
  });
});
