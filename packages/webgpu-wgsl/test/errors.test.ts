import { registeredBackends, setBackend } from '@liger-mhc/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createWebGpuBackend, WEBGPU_PRIORITY, WebGpuBackend } from '../src/index.js';
import { download, gpu, skipReason, upload } from './helpers.js';

const b = await gpu();
const d = b ? describe : describe.skip;
afterAll(() => b?.dispose());

describe('registration', () => {
  it("importing the package registers 'webgpu' above the CPU backend", () => {
    const entry = registeredBackends().find((r) => r.name === 'webgpu');
    const cpu = registeredBackends().find((r) => r.name === 'cpu');
    expect(entry?.priority).toBe(WEBGPU_PRIORITY);
    expect(entry!.priority).toBeGreaterThan(cpu?.priority ?? 0);
  });
});

d(`errors${b ? '' : ` (skipped: ${skipReason()})`}`, () => {
  it("setBackend('webgpu') gives a WebGpuBackend", async () => {
    const be = await setBackend('webgpu');
    expect(be).toBeInstanceOf(WebGpuBackend);
    expect(be.capabilities.device).toMatch(/WebGPU/);
  });

  it('a lost device makes every later call a clear error', async () => {
    const be = await createWebGpuBackend();
    const x = upload(be, [1, 2, 3], [3], 'f32');
    expect(Array.from(await download(be, x))).toEqual([1, 2, 3]);
    be.device.destroy();
    await new Promise((r) => setTimeout(r, 50));
    await be.device.lost;
    await new Promise((r) => setTimeout(r, 0));
    expect(() => be.ops.affine(x, 2, 0)).toThrow(/device was lost/);
    await expect(be.read(x.handle)).rejects.toThrow(/device was lost/);
    be.dispose();
  });

  it('disposeData is idempotent and memory() tracks live and pooled storage', async () => {
    const be = b!;
    const m0 = be.memory();
    const x = upload(be, [1, 2, 3], [3], 'bf16');
    expect(be.memory().liveBuffers).toBe(m0.liveBuffers + 1);
    be.disposeData(x.handle);
    be.disposeData(x.handle);
    const m1 = be.memory();
    expect(m1.liveBuffers).toBe(m0.liveBuffers);
    expect(m1.pooledBuffers).toBeGreaterThanOrEqual(1);
    // An odd count of halves round-trips through the packed words.
    const y = upload(be, [1.5, -2, 3.25], [3], 'bf16');
    expect(Array.from(await download(be, y))).toEqual([1.5, -2, 3.25]);
    be.disposeData(y.handle);
  });
});
