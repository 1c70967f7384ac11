import { BackendError, ready, registeredBackends, resetBackendSelection } from '@liger-mhc/core';
import { describe, expect, it, vi } from 'vitest';
import { CUDA_PRIORITY, createCudaBackend, cudaAvailable } from '../src/index.js';

const avail = cudaAvailable();

describe('registration', () => {
  it("registers 'cuda' above webgpu and cpu on import", () => {
    const cuda = registeredBackends().find((b) => b.name === 'cuda');
    expect(cuda?.priority).toBe(CUDA_PRIORITY);
    expect(CUDA_PRIORITY).toBeGreaterThan(10);
  });
});

describe.skipIf(avail.ok)('without a CUDA device', () => {
  it('the factory rejects with "CUDA backend unavailable: <reason>"', async () => {
    const err = await createCudaBackend().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as Error).message).toMatch(/^CUDA backend unavailable: .+/);
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
});

describe('without the native addon', () => {
  it('initialising says the addon is missing (no crash)', async () => {
    const prev = process.env.LIGER_MHC_CUDA_ADDON;
    process.env.LIGER_MHC_CUDA_ADDON = '/nonexistent/liger_mhc_cuda.node';
    vi.resetModules();
    try {
      // A fresh module graph, so the addon is looked up again under the variable above.
      const m = await import('../src/cuda-backend.js');
      const err = await m.createCudaBackend().catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/^CUDA backend unavailable: native addon not found/);
      expect(m.cudaAvailable().ok).toBe(false);
    } finally {
      if (prev === undefined) delete process.env.LIGER_MHC_CUDA_ADDON;
      else process.env.LIGER_MHC_CUDA_ADDON = prev;
      vi.resetModules();
    }
  });
});
