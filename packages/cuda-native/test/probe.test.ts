// The classification of what the native probe finds, with injected probe results (this machine has
// no driver and no GPU; the GPU machine has neither an old driver nor an old card).
import { describe, expect, it } from 'vitest';
import type { ProbeResult } from '../src/native.js';
import { classifyProbe, cudaVersionString, MIN_LINUX_DRIVER } from '../src/probe.js';

const H100 = { index: 0, name: 'NVIDIA H100 80GB HBM3', computeCapability: '9.0', memTotal: 85e9 };

function probe(over: Partial<ProbeResult> = {}): ProbeResult {
  return {
    runtimeVersion: 13000,
    libcuda: true,
    libcudaError: '',
    driverVersion: 13000,
    error: '',
    errorCode: 0,
    errorMessage: '',
    count: 1,
    devices: [H100],
    ...over,
  };
}

function verdict(p: ProbeResult, index = 0, env: Record<string, string> = {}) {
  const v = classifyProbe(p, index, env);
  if (v.ok) throw new Error('expected a failure');
  return v;
}

describe('classifyProbe', () => {
  it('accepts a working driver and an sm_80+ device', () => {
    expect(classifyProbe(probe(), 0, {})).toEqual({ ok: true });
    expect(classifyProbe(probe({ devices: [{ ...H100, computeCapability: '8.0' }] }), 0, {})).toEqual({
      ok: true,
    });
    // A newer driver than the runtime is fine (backward compatibility).
    expect(classifyProbe(probe({ driverVersion: 13020 }), 0, {})).toEqual({ ok: true });
  });

  it("no libcuda.so.1 is 'no-driver' and says to install the driver", () => {
    const v = verdict(
      probe({
        libcuda: false,
        libcudaError: 'libcuda.so.1: cannot open shared object file: No such file or directory',
        driverVersion: 0,
        error: 'cudaErrorInsufficientDriver',
        errorCode: 35,
        count: 0,
        devices: [],
      }),
    );
    expect(v.kind).toBe('no-driver');
    expect(v.reason).toMatch(
      /libcuda\.so\.1 could not be opened \(libcuda\.so\.1: cannot open shared object file/,
    );
    expect(v.reason).toMatch(/Install the NVIDIA driver \(580 or newer for this CUDA 13\.0 build\)/);
  });

  it("a CUDA 12 driver under the CUDA 13 build is 'driver-too-old' naming both versions", () => {
    const v = verdict(
      probe({ driverVersion: 12040, error: 'cudaErrorInsufficientDriver', errorCode: 35, count: 0 }),
    );
    expect(v.kind).toBe('driver-too-old');
    expect(v.reason).toMatch(/supports CUDA 12\.4, this addon was built with CUDA 13\.0/);
    expect(v.reason).toMatch(/580 or newer on Linux/);
    expect(v.reason).toMatch(/Update the NVIDIA driver/);
    // The runtime's own verdict alone (driver version unreadable) says the same.
    expect(
      verdict(probe({ driverVersion: 0, errorCode: 35, error: 'cudaErrorInsufficientDriver' })).kind,
    ).toBe('driver-too-old');
  });

  it("no device is 'no-device', naming CUDA_VISIBLE_DEVICES where it is set", () => {
    const p = probe({
      error: 'cudaErrorNoDevice',
      errorCode: 100,
      errorMessage: 'no CUDA-capable device is detected',
      count: 0,
      devices: [],
    });
    const v = verdict(p);
    expect(v.kind).toBe('no-device');
    expect(v.reason).toMatch(
      /^no CUDA device: the NVIDIA driver \(CUDA 13\.0\) found none; check that nvidia-smi/,
    );
    expect(verdict(p, 0, { CUDA_VISIBLE_DEVICES: '' }).reason).toMatch(
      /CUDA_VISIBLE_DEVICES="" may hide devices/,
    );
    expect(verdict(probe({ count: 0, devices: [] })).kind).toBe('no-device');
  });

  it("a driver/kernel-module mismatch is 'no-driver'; other start-up errors 'no-device'", () => {
    const mismatch = verdict(
      probe({
        error: 'cudaErrorSystemDriverMismatch',
        errorCode: 803,
        errorMessage: 'system has unsupported display driver / cuda driver combination',
        count: 0,
      }),
    );
    expect(mismatch.kind).toBe('no-driver');
    expect(mismatch.reason).toMatch(/reboot after a driver update, or reinstall the driver/);
    const busy = verdict(
      probe({
        error: 'cudaErrorDevicesUnavailable',
        errorCode: 46,
        errorMessage: 'CUDA-capable device(s) is/are busy or unavailable',
        count: 0,
      }),
    );
    expect(busy.kind).toBe('no-device');
    expect(busy.reason).toMatch(
      /cudaErrorDevicesUnavailable \(CUDA-capable device\(s\) is\/are busy or unavailable\)/,
    );
  });

  it("a card before sm_80 is 'unsupported-device' with its compute capability", () => {
    const t4 = { index: 1, name: 'Tesla T4', computeCapability: '7.5', memTotal: 16e9 };
    const p = probe({ count: 2, devices: [H100, t4] });
    expect(classifyProbe(p, 0, {})).toEqual({ ok: true });
    const v = verdict(p, 1);
    expect(v.kind).toBe('unsupported-device');
    expect(v.reason).toMatch(
      /^device 1 \(Tesla T4\) has compute capability 7\.5 < 8\.0: .*Ampere \(sm_80\) or newer/,
    );
  });

  it('formats CUDA versions and knows the driver floors', () => {
    expect(cudaVersionString(13000)).toBe('13.0');
    expect(cudaVersionString(12040)).toBe('12.4');
    expect(cudaVersionString(0)).toBe(null);
    expect(MIN_LINUX_DRIVER[13]).toBe('580');
    expect(MIN_LINUX_DRIVER[12]).toBe('525');
  });
});
