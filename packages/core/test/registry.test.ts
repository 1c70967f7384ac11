import { afterEach, describe, expect, it } from 'vitest';
import {
  BACKEND_ENV,
  BackendError,
  CpuBackend,
  configure,
  getBackend,
  ready,
  registerBackend,
  registeredBackends,
  resetBackendSelection,
  setBackend,
  UnsupportedKernelError,
  unsupported,
} from '../src/index.js';

afterEach(() => {
  delete process.env[BACKEND_ENV];
  resetBackendSelection();
});

describe('backend registry', () => {
  it('the CPU reference is always registered and is the default', () => {
    expect(registeredBackends().some((b) => b.name === 'cpu')).toBe(true);
    expect(getBackend().name).toBe('cpu');
  });

  it('explicit selection, unknown names and failing backends give clear errors', async () => {
    await expect(setBackend('nope')).rejects.toThrow(/unknown backend 'nope'/);
    registerBackend(
      'broken',
      async () => {
        throw new Error('no adapter');
      },
      5,
    );
    await expect(setBackend('broken')).rejects.toThrow("backend 'broken' unavailable: no adapter");
    expect(() => getBackend('broken')).toThrow(BackendError);
  });

  it('automatic selection takes the best backend that initialises and skips failures', async () => {
    registerBackend('fancy', () => Object.assign(new CpuBackend(), { name: 'fancy' }), 7);
    registerBackend(
      'broken',
      async () => {
        throw new Error('no adapter');
      },
      9,
    );
    const b = await ready();
    expect(b.name).toBe('fancy');
  });

  it("automatic selection initialises no backend whose probe says 'none' or 'software'", async () => {
    const calls = { none: 0, soft: 0 };
    const make = (name: 'none' | 'soft') => () => {
      calls[name]++;
      return Object.assign(new CpuBackend(), { name: `probed-${name}` });
    };
    registerBackend('probed-none', make('none'), 50, { probe: async () => 'none' });
    registerBackend('probed-soft', make('soft'), 40, { probe: async () => 'software' });
    const b = await ready();
    expect(b.name).not.toMatch(/^probed-/);
    expect(calls).toEqual({ none: 0, soft: 0 });
    // The probe only steers automatic selection: asked for by name, the backend starts.
    resetBackendSelection();
    expect((await setBackend('probed-soft')).name).toBe('probed-soft');
    expect(calls.soft).toBe(1);
    // Out of the later tests' way: below the CPU reference.
    registerBackend('probed-none', make('none'), -10);
    registerBackend('probed-soft', make('soft'), -10);
  });

  it('the environment variable outranks configuration; explicit outranks both', async () => {
    registerBackend('envb', () => Object.assign(new CpuBackend(), { name: 'envb' }), -1);
    registerBackend('cfgb', () => Object.assign(new CpuBackend(), { name: 'cfgb' }), -1);
    configure({ backend: 'cfgb' });
    expect((await ready()).name).toBe('cfgb');
    resetBackendSelection();
    configure({ backend: 'cfgb' });
    process.env[BACKEND_ENV] = 'envb';
    expect((await ready()).name).toBe('envb');
    expect((await setBackend('cpu')).name).toBe('cpu');
    expect(getBackend().name).toBe('cpu');
  });

  it('an environment variable naming an uninitialised async backend asks for ready()', () => {
    registerBackend('asyncb', async () => new CpuBackend(), 1);
    process.env[BACKEND_ENV] = 'asyncb';
    expect(() => getBackend()).toThrow(/await ready\(\) first/);
  });

  it('an unsupported kernel names kernel and backend', () => {
    const k = unsupported('softmax', 'tiny');
    expect(k).toThrow(UnsupportedKernelError);
    expect(k).toThrow("kernel 'softmax' is not supported by backend 'tiny'");
  });
});

describe('automatic selection and software GPUs', () => {
  it('passes over a software-emulated device but an explicit choice still gets it', async () => {
    registerBackend(
      'emulated',
      () => {
        const b = new CpuBackend();
        Object.assign(b, { name: 'emulated' });
        Object.defineProperty(b, 'capabilities', {
          value: { dtypes: ['f32'], device: 'lavapipe', software: true },
        });
        return b;
      },
      50,
    );
    registerBackend('fancy', () => Object.assign(new CpuBackend(), { name: 'fancy' }), 7);
    expect((await ready()).name).toBe('fancy');
    resetBackendSelection();
    expect((await setBackend('emulated')).name).toBe('emulated');
  });
});
