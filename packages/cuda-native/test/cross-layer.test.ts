import { defaultXLayerFixturesDir, runConformance } from '@liger-mhc/conformance';
import { hasCrossLayerKernels } from '@liger-mhc/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CudaBackend, createCudaBackend, cudaAvailable } from '../src/index.js';

/**
 * The kit's golden-xlayer cases on the CUDA cross-layer kernel (post_res_coeffs_pre.cu forward; the
 * backward through pre_bwd, coeffs_bwd and post_res_bwd): hc 2 to 8, odd c, f32 / bf16 / f16 streams,
 * both orientations, V4's φ layout (transposed by core), both Sinkhorn save modes.
 * Skipped without a CUDA device.
 */
const avail = cudaAvailable();

describe.skipIf(!avail.ok)('golden-xlayer cases on a CUDA device', () => {
  let be: CudaBackend;
  beforeAll(async () => {
    be = await createCudaBackend();
  });
  afterAll(() => be?.dispose());

  it('uses the cross-layer kernel and passes with zero failures', async () => {
    expect(hasCrossLayerKernels(be)).toBe(true);
    const report = await runConformance({
      backend: be,
      fixturesDir: defaultXLayerFixturesDir(),
      properties: false,
    });
    expect(
      report.failures.map((f) => `${f.case}/${f.tensor}: ratio ${f.ratio}${f.error ? ` ${f.error}` : ''}`),
    ).toEqual([]);
    expect(report.unknown).toEqual([]);
    // 8 cases in both Sinkhorn save modes.
    expect(report.passed).toBe(8 * 2);
  });
});
