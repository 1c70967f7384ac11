import { defaultXLayerFixturesDir, runConformance } from '@liger-mhc/conformance';
import { hasCrossLayerKernels } from '@liger-mhc/core';
import { afterAll, describe, expect, it } from 'vitest';
import { kernelName, withDispatchLog } from './dispatch-log.js';
import { gpu, skipReason } from './helpers.js';

/**
 * The kit's golden-xlayer cases (the boundary between two mHC sublayers: post_res, then the next
 * coefficients and pre) on this backend, through its fused post_res_coeffs_pre kernel: the recorded
 * dispatches show that kernel ran and that no separate post_res, coeffs forward or pre forward did.
 * The full kit (conformance.test.ts) runs the same cases; this file is the quick check of them alone.
 */
const b = await gpu();
const d = b ? describe : describe.skip;
afterAll(() => b?.dispose());

d(`golden-xlayer cases on webgpu${b ? '' : ` (skipped: ${skipReason()})`}`, () => {
  it('pass with zero failures through the fused kernel', async () => {
    expect(hasCrossLayerKernels(b!)).toBe(true);
    const [report, keys] = await withDispatchLog(b!, () =>
      runConformance({ backend: b!, fixturesDir: defaultXLayerFixturesDir(), properties: false }),
    );
    const failed = report.failures.map(
      (f) => `${f.case}/${f.tensor}: ratio ${f.ratio}${f.error ? ` ${f.error}` : ''}`,
    );
    expect(failed).toEqual([]);
    expect(report.unknown).toEqual([]);
    // 8 cases in both Sinkhorn save modes.
    expect(report.passed).toBe(8 * 2);
    const fused = keys.filter((k) => kernelName(k) === 'post_res_coeffs_pre_fwd');
    // Every case's forward (16 runs; hc 2..8, all within the fused kernel's range) went through it,
    // in both orientations and every save mode.
    expect(fused.length).toBeGreaterThanOrEqual(16);
    expect(new Set(fused.map((k) => k.split(':')[2]))).toEqual(new Set(['liger', 'deepseek']));
    const separate = keys
      .map(kernelName)
      .filter((k) => /^(post_res_fwd|pre_fwd|coeffs_fwd|coeffs_split)/.test(k));
    expect(separate).toEqual([]);
  }, 900_000);
});
