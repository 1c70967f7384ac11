import { EnvError } from '@liger-mhc/core';
import { afterEach, describe, expect, it } from 'vitest';
import { COEFFS_PATH, NO_CROSS_LAYER, TRACE_PIPELINES, webgpuFlags } from '../src/flags.js';

const names = [COEFFS_PATH.name, TRACE_PIPELINES.name, NO_CROSS_LAYER.name];
const saved = names.map((n) => process.env[n]);
afterEach(() => {
  names.forEach((n, i) => {
    if (saved[i] === undefined) delete process.env[n];
    else process.env[n] = saved[i];
  });
});

describe('webgpu environment flags', () => {
  it('LIGER_MHC_WEBGPU_TRACE=0 means off and =1 on; garbage is an EnvError', () => {
    process.env.LIGER_MHC_WEBGPU_TRACE = '0';
    expect(TRACE_PIPELINES.get()).toBe(false);
    process.env.LIGER_MHC_WEBGPU_TRACE = '1';
    expect(TRACE_PIPELINES.get()).toBe(true);
    process.env.LIGER_MHC_WEBGPU_TRACE = 'sometimes';
    expect(() => TRACE_PIPELINES.get()).toThrow(EnvError);
  });

  it('LIGER_MHC_WEBGPU_COEFFS takes split or scalar, defaults to split, refuses others', () => {
    delete process.env.LIGER_MHC_WEBGPU_COEFFS;
    expect(webgpuFlags().coeffsPath).toBe('split');
    process.env.LIGER_MHC_WEBGPU_COEFFS = 'scalar';
    expect(webgpuFlags().coeffsPath).toBe('scalar');
    process.env.LIGER_MHC_WEBGPU_COEFFS = 'subgroup-matrix';
    expect(() => webgpuFlags()).toThrow(/LIGER_MHC_WEBGPU_COEFFS/);
  });

  it('LIGER_MHC_WEBGPU_NO_CROSS_LAYER is off by default (the fused boundary kernel runs)', () => {
    delete process.env.LIGER_MHC_WEBGPU_NO_CROSS_LAYER;
    expect(NO_CROSS_LAYER.get()).toBe(false);
    process.env.LIGER_MHC_WEBGPU_NO_CROSS_LAYER = '1';
    expect(NO_CROSS_LAYER.get()).toBe(true);
  });
});
