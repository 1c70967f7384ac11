import { type Backend, type CoeffsBackwardArgs, CpuBackend } from '@liger-mhc/core';
import { describe, expect, it } from 'vitest';
import { formatFailure, runConformance, runDeviceChecks } from '../src/index.js';

describe('conformance kit on the CPU backend', () => {
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

describe('device checks of the conformance kit', () => {
  it('pass on the CPU backend, and fail on a backend whose kernels are not deterministic', async () => {
    const cpu = new CpuBackend();
    // The error paths are a device backend's contract (a GPU handle, device memory); the CPU
    // backend's own argument errors are tested in errors.test.ts.
    const checks = await runDeviceChecks(cpu, { soakSteps: 20, errors: false });
    expect(checks.filter((c) => !c.pass).map(formatFailure)).toEqual([]);
    expect(checks.length).toBeGreaterThan(40);
    // A coeffs backward whose φ gradient depends on the call (as float atomics would make it).
    let calls = 0;
    const flakyMhc = {
      ...cpu.mhc,
      coeffsForward: cpu.mhc.coeffsForward.bind(cpu.mhc),
      coeffsBackward(args: CoeffsBackwardArgs) {
        const r = cpu.mhc.coeffsBackward(args);
        if (r.gradPhi && calls++ % 2 === 1) {
          const g = cpu.ops.affine(r.gradPhi, 1, 1e-3);
          cpu.disposeData(r.gradPhi.handle);
          return { ...r, gradPhi: g };
        }
        return r;
      },
      preForward: cpu.mhc.preForward.bind(cpu.mhc),
      preBackward: cpu.mhc.preBackward.bind(cpu.mhc),
      postResForward: cpu.mhc.postResForward.bind(cpu.mhc),
      postResBackward: cpu.mhc.postResBackward.bind(cpu.mhc),
    };
    // A view of the same backend instance (its tensors stay its own) with the flaky mhc kernels.
    const flaky = new Proxy(cpu, {
      get(target, key) {
        if (key === 'mhc') return flakyMhc;
        const value = Reflect.get(target, key, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as Backend;
    const bad = await runDeviceChecks(flaky, { shapes: [[16, 2, 8]], soakSteps: 2 });
    expect(bad.filter((c) => !c.pass).map((c) => c.tensor)).toContain('deterministic gradPhi 16x2x8 history');
    cpu.dispose();
  });
});
