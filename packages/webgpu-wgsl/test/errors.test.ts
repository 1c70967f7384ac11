import {
  BackendError,
  CpuBackend,
  DisposedTensorError,
  registeredBackends,
  setBackend,
  type TensorInfo,
} from '@liger-mhc/core';
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

  it('a disposed tensor is a clear error and nothing is allocated', async () => {
    const be = b!;
    const x = upload(be, [1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2], 'bf16');
    const h = upload(be, [0.5, 0.5, 0.5, 0.5], [2, 2], 'f32');
    be.disposeData(h.handle);
    be.disposeData(h.handle); // idempotent
    const before = be.memory();
    expect(() => be.mhc.preForward(x, h)).toThrow(DisposedTensorError);
    expect(() => be.mhc.preForward(x, h)).toThrow(/hPre: tensor has been disposed/);
    await expect(be.read(h.handle)).rejects.toThrow(DisposedTensorError);
    expect(be.memory().liveBuffers).toBe(before.liveBuffers);
    expect(be.memory().liveBytes).toBe(before.liveBytes);
    be.disposeData(x.handle);
  });

  it('a tensor of another backend is a clear error and nothing is allocated', () => {
    const be = b!;
    const cpu = new CpuBackend();
    const x = upload(be, [1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2], 'bf16');
    const hc: TensorInfo = { handle: cpu.alloc('f32', 4), shape: [2, 2], dtype: 'f32' };
    const before = be.memory();
    expect(() => be.mhc.preForward(x, hc)).toThrow(BackendError);
    expect(() => be.mhc.preForward(x, hc)).toThrow(/hPre: expected a tensor on backend 'webgpu'/);
    expect(() => be.mhc.preForward(x, hc)).toThrow(expect.objectContaining({ argument: 'hPre' }));
    expect(be.memory().liveBuffers).toBe(before.liveBuffers);
    be.disposeData(x.handle);
  });

  it('a tensor larger than the device allows is an out-of-memory error', () => {
    const be = b!;
    const before = be.memory();
    expect(() => be.ops.fill([be.limits.maxBuffer], 'f32', 0)).toThrow(/out of memory/);
    expect(be.memory().liveBuffers).toBe(before.liveBuffers);
  });

  it('a lost device makes every later call a clear error', async () => {
    const be = await createWebGpuBackend();
    const x = upload(be, [1, 2, 3], [3], 'f32');
    expect(Array.from(await download(be, x))).toEqual([1, 2, 3]);
    // Storage of one instance is refused by another, naming the argument.
    expect(() => b!.ops.affine(x, 2, 0)).toThrow(BackendError);
    expect(() => b!.ops.affine(x, 2, 0)).toThrow(
      expect.objectContaining({
        argument: 'x',
        message: 'x: the tensor belongs to another webgpu backend instance',
      }),
    );
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
