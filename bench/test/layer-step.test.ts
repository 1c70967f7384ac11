import { CpuBackend } from '@liger-mhc/core';
import { expect, it } from 'vitest';
import { layerInputs, layerStep, mhcRows } from '../src/lib/mhc-rows.js';

it('layerStep frees everything it makes', () => {
  const be = new CpuBackend();
  const L = layerInputs(be, 64, 4, 32);
  const before = be.memory().liveBytes;
  layerStep(be, L, 'history');
  layerStep(be, L, 'recompute');
  expect(be.memory().liveBytes).toBe(before);
});

it('mhcRows times every row, the cross-layer boundary too, and frees what it made', async () => {
  const be = new CpuBackend();
  const before = be.memory().liveBytes;
  let calls = 0;
  const timer = {
    async time(fn: () => void) {
      fn();
      calls++;
      return 1;
    },
  };
  const rows = await mhcRows(be, timer, 16, 4, 32);
  expect(rows.map((r) => `${r.op} ${r.mode}${r.variant ? ` ${r.variant}` : ''}`)).toEqual([
    'coeffs fwd',
    'coeffs fwd+bwd',
    'coeffs+pre fwd',
    'pre fwd',
    'pre fwd+bwd',
    'post_res fwd',
    'post_res fwd+bwd',
    'layer fwd',
    'layer fwd+bwd',
    'layer fwd+bwd sinkhornSave=recompute',
    'boundary fwd',
    'boundary fwd separate',
    'boundary fwd+bwd',
  ]);
  expect(calls).toBe(rows.length);
  // bf16 streams: X = 16·4·32·2 bytes, F = 16·32·2.
  expect(rows.find((r) => r.op === 'boundary' && r.mode === 'fwd+bwd')!.bytes).toBe(5 * 4096 + 5 * 1024);
  expect(be.memory().liveBytes).toBe(before);
});
