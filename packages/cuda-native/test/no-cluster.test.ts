// The kernel path without thread-block clusters (what cards before sm_90 run), forced with
// LIGER_MHC_CUDA_NO_CLUSTER=1 so it runs on any card: the conformance kit on that path, and, where the card has clusters, the layer against the cluster path.
import { formatFailure, runConformance, runDeviceChecks } from '@liger-mhc/core/conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CudaBackend, createCudaBackend, cudaAvailable } from '../src/index.js';
import { compareBackends, disposeLayerInputs, layerForward, makeLayerInputs } from './cases/device-checks.js';
import { type Check, compare, dispose, download } from './cases/util.js';

const avail = cudaAvailable();

function failures(checks: Check[]): string[] {
  return checks.filter((c) => !c.pass).map((c) => `${c.case} ${c.tensor}: ratio ${c.ratio.toPrecision(3)}`);
}

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

  it('the layer forward (pre requested) matches the natural path on the same inputs', async () => {
    const out: Check[] = [];
    for (const [n, c] of [
      [1000, 256],
      [517, 1024],
      [300, 4096],
    ] as const) {
      const La = makeLayerInputs(be, n, 4, c, 'bf16', 9);
      const Lb = makeLayerInputs(natural, n, 4, c, 'bf16', 9);
      const ya = layerForward(be, La);
      const yb = layerForward(natural, Lb);
      // bf16 outputs whose coefficients differ only in f32 summation order: within one bf16 rounding.
      out.push(
        compare(`layer fwd ${n}x4x${c}`, 'out', await download(be, ya), await download(natural, yb), {
          rtol: 1e-2,
          atol: 2e-3,
        }),
      );
      dispose(be, ya);
      dispose(natural, yb);
      disposeLayerInputs(be, La);
      disposeLayerInputs(natural, Lb);
    }
    expect(failures(out)).toEqual([]);
  });

  it('the layer gradients match the natural path', async () => {
    expect(failures(await compareBackends(natural, be, 'natural vs no-cluster'))).toEqual([]);
  });
});
