import { type AddonLocation, loadAddon } from './addon-loader.js';
import { createCudaBackend } from './cuda-backend.js';
import { CudaUnavailableError, type CudaUnavailableKind } from './errors.js';
import type { KernelPath } from './kernel-path.js';
import type { ProbeResult } from './native.js';
import { classifyProbe, cudaVersionString } from './probe.js';

/** What `cudaDoctor()` found: the addon, the driver, the devices and what the backend would run. */
export interface CudaDoctorReport {
  /** A CUDA backend could be created on device 0. */
  ok: boolean;
  /** Why not (the message of the error that creating the backend gives), else null. */
  reason: string | null;
  errorKind: CudaUnavailableKind | null;
  addon: {
    path: string | null;
    source: 'prebuilt' | 'source' | 'env' | null;
    packageName: string | null;
    /** The version compiled into the addon. */
    version: string | null;
  };
  /** The CUDA version the driver supports, e.g. '13.0'; null without a driver. */
  driverVersion: string | null;
  /** The CUDA runtime the addon was built with (linked statically), e.g. '13.0'. */
  runtimeVersion: string | null;
  devices: { index: number; name: string; computeCapability: string; memTotal: number }[];
  /** The kernel path the backend chose on device 0. */
  kernelPath: KernelPath | null;
  /** The cuBLAS version opened at run time, or null (matmul then runs a built-in kernel). */
  cublas: string | null;
}

function addonPart(loc: AddonLocation): CudaDoctorReport['addon'] {
  return { path: loc.path, source: loc.source, packageName: loc.packageName, version: loc.version };
}

/**
 * Report the CUDA setup without throwing: which addon loads (and from where), the driver and runtime
 * versions, the devices, and, where a backend starts on device 0, its kernel path and cuBLAS. The
 * backend it creates to find out is disposed before returning.
 */
export async function cudaDoctor(): Promise<CudaDoctorReport> {
  const report: CudaDoctorReport = {
    ok: false,
    reason: null,
    errorKind: null,
    addon: { path: null, source: null, packageName: null, version: null },
    driverVersion: null,
    runtimeVersion: null,
    devices: [],
    kernelPath: null,
    cublas: null,
  };
  const fail = (e: unknown): CudaDoctorReport => {
    report.ok = false;
    report.reason = e instanceof Error ? e.message : String(e);
    report.errorKind = e instanceof CudaUnavailableError ? e.kind : null;
    return report;
  };
  const loaded = loadAddon();
  report.addon = addonPart(loaded.location);
  if (!loaded.ok) return fail(loaded.error);
  let probe: ProbeResult;
  try {
    probe = loaded.addon.probe();
  } catch (e) {
    return fail(new CudaUnavailableError('no-driver', e instanceof Error ? e.message : String(e)));
  }
  report.driverVersion = cudaVersionString(probe.driverVersion);
  report.runtimeVersion = cudaVersionString(probe.runtimeVersion);
  report.devices = probe.devices.map((d) => ({
    index: d.index,
    name: d.name,
    computeCapability: d.computeCapability,
    memTotal: d.memTotal,
  }));
  const verdict = classifyProbe(probe, 0);
  if (!verdict.ok) return fail(new CudaUnavailableError(verdict.kind, verdict.reason));
  try {
    const be = await createCudaBackend({ device: 0 });
    try {
      report.kernelPath = be.info.kernelPath;
      report.cublas = be.info.cublas;
    } finally {
      be.dispose();
    }
  } catch (e) {
    return fail(e);
  }
  report.ok = true;
  return report;
}
