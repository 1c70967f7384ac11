import type { CudaUnavailableKind } from './errors.js';
import type { ProbeResult } from './native.js';

/** Oldest compute capability the kernels support (mma.sync bf16 tensor cores, cp.async: Ampere). */
export const MIN_COMPUTE_CAPABILITY = 8.0;

/**
 * The oldest Linux driver of each CUDA major version (NVIDIA's CUDA Compatibility guide, "Minor
 * Version Compatibility": 13.x needs >= 580, 12.x >= 525, 11.x >= 450): within a major version an
 * application built with any minor release runs on any driver of that branch or later.
 */
export const MIN_LINUX_DRIVER: Readonly<Record<number, string>> = { 11: '450', 12: '525', 13: '580' };

export function cudaVersionString(v: number): string | null {
  if (!Number.isFinite(v) || v <= 0) return null;
  return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
}

// cudaError_t values the classification distinguishes (driver_types.h).
const cudaErrorInsufficientDriver = 35;
const cudaErrorNoDevice = 100;
const cudaErrorSystemDriverMismatch = 803;
const cudaErrorCompatNotSupportedOnDevice = 804;

export type ProbeVerdict = { ok: true } | { ok: false; kind: CudaUnavailableKind; reason: string };

function needDriver(runtime: number): string {
  const major = Math.floor(runtime / 1000);
  const min = MIN_LINUX_DRIVER[major];
  return `this addon was built with CUDA ${cudaVersionString(runtime)} and needs a driver for CUDA ${major}.x${
    min ? ` (${min} or newer on Linux)` : ''
  }`;
}

/**
 * Why the probed machine cannot run the addon on device `index`, or ok. A pure function of the
 * probe, so every branch is tested without the hardware.
 */
export function classifyProbe(
  p: ProbeResult,
  index = 0,
  env: Readonly<Record<string, string | undefined>> = process.env,
): ProbeVerdict {
  if (!p.libcuda)
    return {
      ok: false,
      kind: 'no-driver',
      reason: `no NVIDIA driver: libcuda.so.1 could not be opened (${p.libcudaError || 'not found'}). Install the NVIDIA driver (${
        MIN_LINUX_DRIVER[Math.floor(p.runtimeVersion / 1000)] ?? 'a current one'
      } or newer for this CUDA ${cudaVersionString(p.runtimeVersion)} build); in a container, start it with the NVIDIA Container Toolkit (docker run --gpus all)`,
    };
  const drvMajor = Math.floor(p.driverVersion / 1000);
  const rtMajor = Math.floor(p.runtimeVersion / 1000);
  if ((p.driverVersion > 0 && drvMajor < rtMajor) || p.errorCode === cudaErrorInsufficientDriver)
    return {
      ok: false,
      kind: 'driver-too-old',
      reason: `the NVIDIA driver is too old: it supports CUDA ${cudaVersionString(p.driverVersion) ?? '(unknown)'}, ${needDriver(
        p.runtimeVersion,
      )}. Update the NVIDIA driver, or build the addon from source with the CUDA toolkit your driver supports`,
    };
  if (p.errorCode === cudaErrorSystemDriverMismatch)
    return {
      ok: false,
      kind: 'no-driver',
      reason: `the NVIDIA driver is broken: ${p.error} (${p.errorMessage}); the kernel module and libcuda.so.1 are from different driver versions: reboot after a driver update, or reinstall the driver`,
    };
  if (p.errorCode === cudaErrorCompatNotSupportedOnDevice)
    return {
      ok: false,
      kind: 'driver-too-old',
      reason: `${p.error} (${p.errorMessage}): the CUDA forward-compatibility libraries in use do not support this card; ${needDriver(
        p.runtimeVersion,
      )}: install that driver instead`,
    };
  const visible = env.CUDA_VISIBLE_DEVICES;
  const hidden =
    visible !== undefined ? ` (CUDA_VISIBLE_DEVICES=${JSON.stringify(visible)} may hide devices)` : '';
  if (p.errorCode === cudaErrorNoDevice || (p.errorCode === 0 && p.count === 0))
    return {
      ok: false,
      kind: 'no-device',
      reason: `no CUDA device: the NVIDIA driver (CUDA ${cudaVersionString(p.driverVersion) ?? '?'}) found none${hidden}; check that nvidia-smi lists the card`,
    };
  if (p.errorCode !== 0)
    return {
      ok: false,
      kind: 'no-device',
      reason: `CUDA could not start: ${p.error} (${p.errorMessage})${hidden}; check that nvidia-smi lists the card and that no other process holds it exclusively`,
    };
  const d = p.devices.find((x) => x.index === index);
  if (!d) return { ok: true }; // an index out of range is the caller's argument error
  const cc = Number(d.computeCapability);
  if (!(cc >= MIN_COMPUTE_CAPABILITY))
    return {
      ok: false,
      kind: 'unsupported-device',
      reason: `device ${index} (${d.name}) has compute capability ${d.computeCapability} < ${MIN_COMPUTE_CAPABILITY.toFixed(1)}: the CUDA backend needs an Ampere (sm_80) or newer card; use the webgpu or cpu backend on this one`,
    };
  return { ok: true };
}
