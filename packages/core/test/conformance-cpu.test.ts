import { describe, expect, it } from 'vitest';
import { formatFailure, runConformance } from '../src/conformance/index.js';

describe('conformance kit on the CPU reference backend', () => {
  it('passes every golden case (both Sinkhorn save modes) and the property suites', async () => {
    const report = await runConformance({ backend: 'cpu' });
    const lines = report.failures.map(formatFailure);
    expect(lines).toEqual([]);
    // fixtures/golden: 13 coeffs cases run twice, 3 layer cases three times (layer path in both save
    // modes, separate ops), 7 apply + 2 mini-LM once, plus 2 property suites.
    // fixtures/golden-v4: 9 head, 8 expand, 9 preNorm and 3 mixed-dtype apply cases once, 9 coeffsV4
    // and 2 blockV4 cases in both save modes.
    // fixtures/golden-xlayer: 8 cross-layer boundary cases in both save modes.
    expect(report.passed).toBe(13 * 2 + 3 * 3 + 7 + 2 + 2 + (9 + 8 + 9 + 3) + (9 + 2) * 2 + 8 * 2);
    expect(report.failed).toBe(0);
  });
});
