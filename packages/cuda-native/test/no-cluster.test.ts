// The kernel path without thread-block clusters (what cards before sm_90 run), forced with
// LIGER_MHC_CUDA_NO_CLUSTER=1 so it runs on any card: the conformance kit on that path, and, where the card has clusters, the layer against the cluster path.
import { compareLayerPaths, formatFailure, runConformance, runDeviceChecks } from '@liger-mhc/conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CudaBackend, createCudaBackend, cudaAvailable } from '../src/index.js';

const avail = cudaAvailable();

async function createNoCluster(): Promise<CudaBackend> {
  const prev = process.env.LIGER_MHC_CUDA_NO_CLUSTER;
  process.env.LIGER_MHC_CUDA_NO_CLUSTER = '1';
  try {
    return await createCudaBackend();
  } finally {
    if (prev === undefined) delete process.env.LIGER_MHC_CUDA_NO_CLUSTER;
    else process.env.LIGER_MHC_CUDA_NO_CLUSTER = prev;
  }
}

describe.skipIf(!avail.ok)('on a CUDA device, kernel path forced to no-cluster', () => {
  let be: CudaBackend;
  let natural: CudaBackend;
  beforeAll(async () => {
    be = await createNoCluster();
    natural = await createCudaBackend();
  });
  afterAll(() => {
    be?.dispose();
    natural?.dispose();
  });

  it('reports the no-cluster path; the default follows the compute capability', () => {
    expect(be.info.kernelPath).toBe('no-cluster');
    expect(be.capabilities.device).toMatch(/kernel path: no-cluster/);
    const sm90 = Number(natural.info.computeCapability) >= 9;
    expect(natural.info.kernelPath).toBe(sm90 && natural.info.clusterKernels ? 'cluster' : 'no-cluster');
    if (sm90) expect(natural.info.clusterKernels).toBe(natural.info.clusterLaunch);
  });

  it('passes the conformance kit and its device checks', async () => {
    const report = await runConformance({ backend: be });
    expect(report.failures.map(formatFailure)).toEqual([]);
    expect(report.passed).toBeGreaterThan(100);
    const checks = await runDeviceChecks(be, { soakSteps: 50 });
    expect(checks.filter((c) => !c.pass).map(formatFailure)).toEqual([]);
  });

  it('the layer (forward and gradients) matches the natural path on the same inputs', async () => {
    const checks = await compareLayerPaths(natural, be, 'natural vs no-cluster', [
      [1000, 4, 256, 'history'],
      [517, 4, 1024, 'history'],
      [300, 4, 4096, 'recompute'],
      [4096, 4, 512, 'history'],
      [333, 4, 96, 'recompute'],
      [77, 2, 48, 'history'],
      [40, 1, 64, 'history'],
      [50, 3, 32, 'recompute'],
    ]);
    expect(checks.filter((c) => !c.pass).map(formatFailure)).toEqual([]);
  });
});
