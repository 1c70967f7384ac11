import { defaultV4FixturesDir, runConformance } from '@liger-mhc/conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CudaBackend, createCudaBackend, cudaAvailable } from '../src/index.js';

/**
 * The kit's golden-v4 cases on the CUDA kernels: DeepSeek-V4's head, expand and pre with the RMSNorm
 * fused (head.cu, expand.cu, pre_norm.cu), V4-layout coefficients (φ transposed by core), a V4
 * sublayer, and post_res with an f32 layer output over half streams (rounded to x's dtype by core).
 * Skipped without a CUDA device.
 */
const avail = cudaAvailable();

describe.skipIf(!avail.ok)('golden-v4 cases on a CUDA device', () => {
  let be: CudaBackend;
  beforeAll(async () => {
    be = await createCudaBackend();
  });
  afterAll(() => be?.dispose());

  it('pass with zero failures', async () => {
    const report = await runConformance({
      backend: be,
      fixturesDir: defaultV4FixturesDir(),
      properties: false,
    });
    expect(
      report.failures.map((f) => `${f.case}/${f.tensor}: ratio ${f.ratio}${f.error ? ` ${f.error}` : ''}`),
    ).toEqual([]);
    expect(report.unknown).toEqual([]);
    // 9 head, 8 expand, 9 preNorm, 3 apply once; 9 coeffsV4 and 2 blockV4 in both save modes.
    expect(report.passed).toBe(9 + 8 + 9 + 3 + (9 + 2) * 2);
  });
});
