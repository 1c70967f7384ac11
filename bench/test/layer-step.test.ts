import { CpuBackend } from '@liger-mhc/core';
import { expect, it } from 'vitest';
import { layerInputs, layerStep } from '../src/lib/mhc-rows.js';

it('layerStep frees everything it makes', () => {
  const be = new CpuBackend();
  const L = layerInputs(be, 64, 4, 32);
  const before = be.memory().liveBytes;
  layerStep(be, L, 'history');
  layerStep(be, L, 'recompute');
  expect(be.memory().liveBytes).toBe(before);
});
