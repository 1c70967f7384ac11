import { BackendError, ready, registeredBackends, resetBackendSelection, setBackend } from '@liger-mhc/core';
import { describe, expect, it, vi } from 'vitest';
import { installHint, loadAddon, prebuiltPlatform } from '../src/addon-loader.js';
import {
  CUDA_PRIORITY,
  CudaUnavailableError,
  createCudaBackend,
  cudaAvailable,
  cudaDoctor,
} from '../src/index.js';

const avail = cudaAvailable();
const loaded = loadAddon();
/** The addon is built here but the machine has no NVIDIA driver (the CPU-only CI and dev machines). */
const addonWithoutDriver = loaded.ok && !loaded.addon.probe().libcuda;

describe('registration', () => {
  it("registers 'cuda' above webgpu and cpu on import", () => {
    const cuda = registeredBackends().find((b) => b.name === 'cuda');
    expect(cuda?.priority).toBe(CUDA_PRIORITY);
    expect(CUDA_PRIORITY).toBeGreaterThan(10);
  });
});

describe.skipIf(avail.ok)('without a CUDA device', () => {
  it('the factory rejects with a CudaUnavailableError that says why', async () => {
    const err = await createCudaBackend().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect(err).toBeInstanceOf(CudaUnavailableError);
    expect((err as Error).message).toMatch(/^CUDA backend unavailable: .+/);
    expect((err as CudaUnavailableError).kind).toBe(avail.kind);
  });

  it('automatic selection skips it', async () => {
    resetBackendSelection();
    const prev = process.env.LIGER_MHC_BACKEND;
    delete process.env.LIGER_MHC_BACKEND;
    try {
      const be = await ready();
      expect(be.name).not.toBe('cuda');
    } finally {
      if (prev !== undefined) process.env.LIGER_MHC_BACKEND = prev;
      resetBackendSelection();
    }
  });

  it('cudaDoctor() reports the same failure without throwing', async () => {
    const r = await cudaDoctor();
    expect(r.ok).toBe(false);
    expect(r.errorKind).toBe(avail.kind);
    expect(r.reason).toBe(avail.reason);
    expect(r.kernelPath).toBe(null);
  });
});

describe.skipIf(!addonWithoutDriver)('with the addon but no NVIDIA driver', () => {
  it("setBackend('cuda') fails with kind 'no-driver', saying to install the driver", async () => {
    const err = await setBackend('cuda').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CudaUnavailableError);
    const e = err as CudaUnavailableError;
    expect(e.kind).toBe('no-driver');
    expect(e.message).toMatch(
      /^CUDA backend unavailable: no NVIDIA driver: libcuda\.so\.1 could not be opened/,
    );
    expect(e.message).toMatch(/Install the NVIDIA driver \(580 or newer for this CUDA 13\.\d build\)/);
  });

  it('cudaDoctor() names the addon it loaded and the runtime it carries', async () => {
    const r = await cudaDoctor();
    expect(r).toMatchObject({ ok: false, errorKind: 'no-driver', driverVersion: null, devices: [] });
    expect(r.addon.path).toMatch(/liger_mhc_cuda\.node$/);
    expect(['prebuilt', 'source']).toContain(r.addon.source);
    expect(r.addon.version).toBe(loaded.ok ? loaded.addon.version : null);
    expect(r.runtimeVersion).toMatch(/^13\.\d$/);
  });
});

describe('the addon lookup', () => {
  /** A fresh module graph with the environment variables below, so the addon is looked up again. */
  async function withEnv<T>(
    vars: Record<string, string>,
    fn: (m: typeof import('../src/index.js')) => Promise<T>,
  ) {
    const prev = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
    Object.assign(process.env, vars);
    vi.resetModules();
    try {
      return await fn(await import('../src/index.js'));
    } finally {
      for (const [k, v] of Object.entries(prev)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      vi.resetModules();
    }
  }

  it("a missing LIGER_MHC_CUDA_ADDON file is 'no-addon' naming the variable (no crash)", async () => {
    await withEnv({ LIGER_MHC_CUDA_ADDON: '/nonexistent/liger_mhc_cuda.node' }, async (m) => {
      const err = await m.createCudaBackend().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(m.CudaUnavailableError);
      expect((err as CudaUnavailableError).kind).toBe('no-addon');
      expect((err as Error).message).toMatch(
        /^CUDA backend unavailable: native addon not found: LIGER_MHC_CUDA_ADDON names \/nonexistent\/liger_mhc_cuda\.node, which does not exist/,
      );
      expect(m.cudaAvailable()).toMatchObject({ ok: false, kind: 'no-addon' });
      const r = await m.cudaDoctor();
      expect(r).toMatchObject({ ok: false, errorKind: 'no-addon' });
      expect(r.addon).toEqual({
        path: '/nonexistent/liger_mhc_cuda.node',
        source: 'env',
        packageName: null,
        version: null,
      });
    });
  });

  it('LIGER_MHC_CUDA_ADDON naming anything but a .node file is an ArgumentError naming it', async () => {
    await withEnv({ LIGER_MHC_CUDA_ADDON: '/some/build/Release' }, async (m) => {
      const err = await m.createCudaBackend().catch((e: unknown) => e);
      expect((err as Error).name).toBe('ArgumentError');
      expect((err as Error).message).toMatch(
        /^LIGER_MHC_CUDA_ADDON: expected the path of the addon's \.node file/,
      );
    });
  });

  it('the not-found message says what to install, with commands that work outside this repository', () => {
    const hint = installHint('0.1.0');
    expect(hint).not.toMatch(/pnpm|build:native|--filter/);
    expect(hint).toMatch(/npm rebuild @liger-mhc\/cuda-native/);
    expect(hint).toMatch(/install a CUDA toolkit with nvcc/);
    if (prebuiltPlatform()) expect(hint).toMatch(/npm install @liger-mhc\/cuda-native-linux-x64-gnu@0\.1\.0/);
    else expect(hint).toMatch(/prebuilt addons exist for Linux x64 with glibc only/);
  });
});
