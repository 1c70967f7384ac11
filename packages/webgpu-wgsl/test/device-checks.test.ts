import { formatFailure, runDeviceChecks } from '@liger-mhc/conformance';
import { afterAll, describe, expect, it } from 'vitest';
import { gpu, skipReason } from './helpers.js';

/**
 * The conformance kit's device checks on this backend: determinism run to run, the accumulated x
 * gradient, the fused coeffs + pre kernel against the two kernels, live memory over many steps,
 * and typed errors that leave nothing allocated.
 */
const b = await gpu();
const d = b ? describe : describe.skip;
afterAll(() => b?.dispose());

d(`device checks on webgpu${b ? '' : ` (skipped: ${skipReason()})`}`, () => {
  it('pass with zero failures', async () => {
    const checks = await runDeviceChecks(b!, { soakSteps: 100 });
    expect(checks.filter((c) => !c.pass).map(formatFailure)).toEqual([]);
    expect(checks.some((c) => c.tensor.startsWith('fused coeffs+pre'))).toBe(
      b!.capabilities.coeffsForward === 'split',
    );
  }, 900_000);
});
