import { EnvError } from '@liger-mhc/core';
import { afterEach, describe, expect, it } from 'vitest';
import { envDisablesSubgroupMatrix } from '../src/device.js';
import { NO_SUBGROUP_MATRIX, TRACE_PIPELINES } from '../src/flags.js';

const names = [NO_SUBGROUP_MATRIX.name, TRACE_PIPELINES.name];
const saved = names.map((n) => process.env[n]);
afterEach(() => {
  names.forEach((n, i) => {
    if (saved[i] === undefined) delete process.env[n];
    else process.env[n] = saved[i];
  });
});

describe('webgpu environment flags', () => {
  it('LIGER_WEBGPU_TRACE=0 means off and =1 on', () => {
    process.env.LIGER_WEBGPU_TRACE = '0';
    expect(TRACE_PIPELINES.get()).toBe(false);
    process.env.LIGER_WEBGPU_TRACE = '1';
    expect(TRACE_PIPELINES.get()).toBe(true);
  });

  it('LIGER_MHC_WEBGPU_NO_SUBGROUP_MATRIX=false keeps the feature; garbage is an EnvError', () => {
    process.env.LIGER_MHC_WEBGPU_NO_SUBGROUP_MATRIX = 'false';
    expect(envDisablesSubgroupMatrix()).toBe(false);
    process.env.LIGER_MHC_WEBGPU_NO_SUBGROUP_MATRIX = 'true';
    expect(envDisablesSubgroupMatrix()).toBe(true);
    process.env.LIGER_MHC_WEBGPU_NO_SUBGROUP_MATRIX = 'disable';
    expect(() => envDisablesSubgroupMatrix()).toThrow(EnvError);
  });
});
