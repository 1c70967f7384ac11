// The kernel path is chosen in one place (chooseKernelPath) from the device, and forcible by
// LIGER_MHC_CUDA_NO_CLUSTER; the mHC kernels follow it (checked on a stand-in device).
import { ArgumentError, type DType, runCoeffsPre } from '@liger-mhc/core';
import { afterEach, describe, expect, it } from 'vitest';
import { CudaBackend } from '../src/index.js';
import { chooseKernelPath } from '../src/kernel-path.js';
import type { NativeDeviceInfo } from '../src/native.js';
import { fakeDevice } from './fake-device.js';

const hopper = { computeCapability: '9.0', clusterLaunch: true, clusterKernels: true };
const ampere = { computeCapability: '8.6', clusterLaunch: false, clusterKernels: false };

describe('chooseKernelPath', () => {
  it('takes clusters on sm_90+ where the loaded code has them', () => {
    expect(chooseKernelPath(hopper, {})).toBe('cluster');
    expect(chooseKernelPath({ ...hopper, computeCapability: '12.0' }, {})).toBe('cluster');
    expect(chooseKernelPath(ampere, {})).toBe('no-cluster');
    expect(chooseKernelPath({ ...ampere, computeCapability: '8.9' }, {})).toBe('no-cluster');
    // sm_90 hardware, but the code the driver loaded has the cluster kernels compiled out.
    expect(chooseKernelPath({ ...hopper, clusterKernels: false }, {})).toBe('no-cluster');
    expect(chooseKernelPath({ ...hopper, clusterLaunch: false }, {})).toBe('no-cluster');
  });

  it('LIGER_MHC_CUDA_NO_CLUSTER forces the path without clusters; garbage is an error naming it', () => {
    expect(chooseKernelPath(hopper, { LIGER_MHC_CUDA_NO_CLUSTER: '1' })).toBe('no-cluster');
    expect(chooseKernelPath(hopper, { LIGER_MHC_CUDA_NO_CLUSTER: '0' })).toBe('cluster');
    expect(() => chooseKernelPath(hopper, { LIGER_MHC_CUDA_NO_CLUSTER: 'maybe' })).toThrow(
      /^LIGER_MHC_CUDA_NO_CLUSTER: expected 1, true, 0 or false/,
    );
  });
});

describe('the backend follows the kernel path', () => {
  const prev = process.env.LIGER_MHC_CUDA_NO_CLUSTER;
  afterEach(() => {
    if (prev === undefined) delete process.env.LIGER_MHC_CUDA_NO_CLUSTER;
    else process.env.LIGER_MHC_CUDA_NO_CLUSTER = prev;
  });

  /** The layer forward's coeffs call (pre requested) on a stand-in device; returns the launches. */
  function layerCoeffs(info: Partial<NativeDeviceInfo>) {
    const { device, launches } = fakeDevice({ info });
    const be = new CudaBackend(device);
    const [n, hc, c, dt] = [32, 4, 256, 'bf16' as DType];
    const f32 = (shape: number[]) => be.output(shape, 'f32');
    const args = {
      x: be.output([n, hc * c], dt),
      phi: be.output([hc * c, hc * hc + 2 * hc], dt),
      b: f32([hc * hc + 2 * hc]),
      alphaPre: f32([]),
      alphaPost: f32([]),
      alphaRes: f32([]),
      config: { hc, tmax: 20, rmsEps: 1e-6, preEps: 0, sinkhornEps: 1e-6, postMult: 2 },
      save: 'none' as const,
    };
    // As core's layer forward chooses (runCoeffsPre).
    const { fused } = runCoeffsPre(be.mhc, args);
    return { be, launches, fused };
  }

  it('sm_90: the fused coeffs + pre kernel', () => {
    const { be, launches, fused } = layerCoeffs({ computeCapability: '9.0' });
    expect(be.info.kernelPath).toBe('cluster');
    expect(be.capabilities.device).toMatch(/kernel path: cluster/);
    expect(launches).toEqual(['coeffs_pre_fwd']);
    expect(fused).toBe(true);
  });

  it('sm_86: separate coeffs (pre follows as its own kernel)', () => {
    const { be, launches, fused } = layerCoeffs({
      computeCapability: '8.6',
      loadedArch: 80,
      clusterLaunch: false,
      clusterKernels: false,
    });
    expect(be.info.kernelPath).toBe('no-cluster');
    expect(launches).toEqual(['coeffs_fwd', 'pre_fwd']);
    expect(fused).toBe(false);
  });

  it('sm_90 with LIGER_MHC_CUDA_NO_CLUSTER=1: the no-cluster path', () => {
    process.env.LIGER_MHC_CUDA_NO_CLUSTER = '1';
    const { be, launches, fused } = layerCoeffs({ computeCapability: '9.0' });
    expect(be.info.kernelPath).toBe('no-cluster');
    expect(launches).toEqual(['coeffs_fwd', 'pre_fwd']);
    expect(fused).toBe(false);
  });

  it('a malformed LIGER_MHC_CUDA_NO_CLUSTER stops backend creation', () => {
    process.env.LIGER_MHC_CUDA_NO_CLUSTER = 'yes';
    expect(() => layerCoeffs({})).toThrow(ArgumentError);
  });
});
