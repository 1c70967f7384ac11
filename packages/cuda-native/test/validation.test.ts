// The TypeScript side of the backend on a stand-in device (no GPU needed): arguments are validated
// before anything is enqueued, handles are owned and checked, native error codes map to typed errors.
import { BackendError, CpuBackend, DisposedTensorError, ShapeError, type TensorInfo } from '@liger-mhc/core';
import { describe, expect, it } from 'vitest';
import { CudaBackend, CudaError, CudaOutOfMemoryError } from '../src/index.js';
import { fakeDevice } from './fake-device.js';

function t(be: CudaBackend, shape: number[], dtype: TensorInfo['dtype'] = 'f32'): TensorInfo {
  return be.output(shape, dtype);
}

describe('CudaBackend on a stand-in device', () => {
  it('validates shapes and dtypes before any launch', () => {
    const { device, launches } = fakeDevice();
    const be = new CudaBackend(device);
    expect(() => be.ops.matmul(t(be, [2, 3]), t(be, [4, 5]))).toThrow(ShapeError);
    expect(() => be.ops.binary('add', t(be, [2, 3]), t(be, [2, 3], 'bf16'))).toThrow(/dtype/);
    expect(() => be.mhc.preForward(t(be, [4, 9, 8], 'bf16'), t(be, [4, 9]))).toThrow(/hc in 1..8/);
    expect(() =>
      be.mhc.postResForward(
        t(be, [4, 2, 8], 'bf16'),
        t(be, [4, 8], 'bf16'),
        t(be, [4, 2]),
        t(be, [4, 3, 3]),
        'liger',
      ),
    ).toThrow(ShapeError);
    const x = t(be, [4, 8], 'bf16');
    const phi = t(be, [8, 7], 'bf16');
    const sc = () => t(be, []);
    expect(() =>
      be.mhc.coeffsForward({
        x,
        phi,
        b: t(be, [8]),
        alphaPre: sc(),
        alphaPost: sc(),
        alphaRes: sc(),
        config: { hc: 2, tmax: 4, rmsEps: 1e-6, preEps: 0, sinkhornEps: 1e-6, postMult: 2 },
        save: 'none',
      }),
    ).toThrow(/phi/);
    expect(launches).toEqual([]);
  });

  it('launches one kernel per op with the expected name', () => {
    const { device, launches } = fakeDevice();
    const be = new CudaBackend(device);
    be.mhc.preForward(t(be, [4, 2, 8], 'bf16'), t(be, [4, 2]));
    be.ops.softmax(t(be, [3, 5]), true);
    expect(launches).toEqual(['pre_fwd', 'softmax']);
  });

  it('passes the running x gradient to the backward kernels (accumulatesGradX) and validates it', () => {
    const { device, launches, args } = fakeDevice();
    const be = new CudaBackend(device);
    expect(be.mhc.accumulatesGradX).toBe(true);
    const x = t(be, [4, 2, 8], 'bf16');
    const hPre = t(be, [4, 2]);
    const acc = t(be, [4, 2, 8], 'bf16');
    be.mhc.preBackward(t(be, [4, 8], 'bf16'), x, hPre, acc);
    be.mhc.preBackward(t(be, [4, 8], 'bf16'), x, hPre);
    be.mhc.postResBackward(
      t(be, [4, 2, 8], 'bf16'),
      x,
      t(be, [4, 8], 'bf16'),
      hPre,
      t(be, [4, 2, 2]),
      'liger',
      acc,
    );
    expect(launches).toEqual(['pre_bwd', 'pre_bwd', 'post_res_bwd']);
    expect(args[0]![5]).not.toBeNull();
    expect(args[1]![5] ?? null).toBeNull();
    expect(args[2]![9]).not.toBeNull();
    expect(() => be.mhc.preBackward(t(be, [4, 8], 'bf16'), x, hPre, t(be, [4, 2, 8]))).toThrow(/dtype/);
    expect(() => be.mhc.preBackward(t(be, [4, 8], 'bf16'), x, hPre, t(be, [4, 2, 7], 'bf16'))).toThrow(
      ShapeError,
    );
    expect(launches.length).toBe(3);
  });

  it('rejects disposed tensors and tensors of other backends', () => {
    const { device } = fakeDevice();
    const be = new CudaBackend(device);
    const a = t(be, [4]);
    be.disposeData(a.handle);
    be.disposeData(a.handle); // idempotent
    expect(() => be.ops.unary('exp', a)).toThrow(DisposedTensorError);
    const cpu = new CpuBackend();
    expect(() => be.ops.unary('exp', { handle: cpu.alloc('f32', 4), shape: [4], dtype: 'f32' })).toThrow(
      /another backend/,
    );
    const other = new CudaBackend(fakeDevice().device);
    expect(() => be.ops.unary('exp', t(other, [4]))).toThrow(/another CUDA backend/);
  });

  it('frees device memory on disposeData', () => {
    const { device, live } = fakeDevice();
    const be = new CudaBackend(device);
    const a = t(be, [16]);
    expect([...live].filter((b) => !b.freed).length).toBe(1);
    be.disposeData(a.handle);
    expect([...live].filter((b) => !b.freed).length).toBe(0);
  });

  it('maps native error codes to typed errors', () => {
    expect(() => new CudaBackend(fakeDevice({ failAlloc: 'CUDA_OOM' }).device).alloc('f32', 4)).toThrow(
      CudaOutOfMemoryError,
    );
    const be = new CudaBackend(fakeDevice({ failLaunch: 'CUDA_ERROR' }).device);
    let err: unknown;
    try {
      be.ops.unary('exp', t(be, [4]));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CudaError);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as Error).message).toMatch(/cudaErrorLaunchFailure/);
  });

  it('refuses work after dispose', () => {
    const be = new CudaBackend(fakeDevice().device);
    be.dispose();
    expect(() => be.alloc('f32', 4)).toThrow(/disposed/);
  });
});
