import { LigerMHC, Linear, sum, zeros } from '@liger-mhc/core';
import { afterAll, describe, expect, it } from 'vitest';
import { gpu, skipReason } from './helpers.js';

const b = await gpu();
const d = b ? describe : describe.skip;
afterAll(() => b?.dispose());

d(`zero tokens${b ? '' : ` (skipped: ${skipReason()})`}`, () => {
  it('an mHC layer on [0, hc, c] gives an empty output and zero parameter gradients', async () => {
    const be = b!;
    const x = zeros([0, 2, 4], { dtype: 'f32', backend: be, requiresGrad: true });
    const m = new LigerMHC(new Linear(4, 4, { backend: be }), { hc: 2, c: 4, allowFp32: true, backend: be });
    const y = m.forward(x);
    expect(y.shape).toEqual([0, 2, 4]);
    sum(y).backward();
    expect(x.grad!.shape).toEqual([0, 2, 4]);
    for (const [name, p] of m.namedParameters()) {
      expect(p.grad, name).not.toBeNull();
      expect(
        [...(await p.grad!.data())].every((v) => v === 0),
        name,
      ).toBe(true);
    }
    m.dispose();
  });
});
