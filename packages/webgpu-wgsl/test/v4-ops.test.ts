import { defaultV4FixturesDir, runConformance } from '@liger-mhc/conformance';
import { afterAll, describe, expect, it } from 'vitest';
import { gpu, skipReason } from './helpers.js';

/**
 * The kit's golden-v4 cases (DeepSeek-V4's head, expand, pre with the RMSNorm fused, V4-layout
 * coefficients, a V4 sublayer, post_res with mixed dtypes) on this backend's kernels. The full kit
 * (conformance.test.ts) runs them too; this file is the quick check of the V4 kernels alone.
 */
const b = await gpu();
const d = b ? describe : describe.skip;
afterAll(() => b?.dispose());

d(`golden-v4 cases on webgpu${b ? '' : ` (skipped: ${skipReason()})`}`, () => {
  it('pass with zero failures', async () => {
    const report = await runConformance({
      backend: b!,
      fixturesDir: defaultV4FixturesDir(),
      properties: false,
    });
    const failed = report.failures.map(
      (f) => `${f.case}/${f.tensor}: ratio ${f.ratio}${f.error ? ` ${f.error}` : ''}`,
    );
    expect(failed).toEqual([]);
    expect(report.unknown).toEqual([]);
    // 9 head, 8 expand, 9 preNorm, 3 apply once; 9 coeffsV4 and 2 blockV4 in both save modes.
    expect(report.passed).toBe(9 + 8 + 9 + 3 + (9 + 2) * 2);
  }, 900_000);
});
