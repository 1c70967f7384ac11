import { describe, expect, it } from 'vitest';
import type { TensorInfo } from '../src/backend/contract.js';
import { CpuBackend } from '../src/cpu/cpu-backend.js';
import { CpuHandle } from '../src/cpu/cpu-handle.js';
import { type DType, encode } from '../src/dtype.js';
import {
  AllocationError,
  ArgumentError,
  BackendError,
  DisposedTensorError,
  DTypeError,
} from '../src/errors.js';
import { tensor } from '../src/ops/creation.js';
import { add } from '../src/ops/elementwise.js';
import { MAX_TENSOR_ELEMENTS, sizeOf } from '../src/tensor/shape.js';

/*
 * The CPU backend's storage contract under bad input, at the level a backend conformance check
 * drives it (handles and TensorInfos, below the Tensor API): a disposed handle, a handle of another
 * backend instance and an impossible size each give a typed error naming the argument, before
 * anything is allocated or written. The messages are the WebGPU backend's for the same cases, so a
 * user reads one wording whichever backend runs.
 */

function up(be: CpuBackend, values: number[], shape: readonly number[], dtype: DType = 'f32'): TensorInfo {
  const h = be.alloc(dtype, sizeOf(shape));
  be.write(h, encode(dtype, values));
  return { handle: h, shape: [...shape], dtype };
}

/** The calls of `be` that take one tensor argument, each naming that argument `name`. */
function callsWith(be: CpuBackend, bad: TensorInfo): [string, string, () => unknown][] {
  const a = up(be, [1, 2, 3, 4], [2, 2]);
  const x3 = up(be, [1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 4]);
  const h = up(be, [0.5, 0.5], [1, 2]);
  const param = up(be, [1, 2, 3, 4], [4]);
  const grad = up(be, [1, 1, 1, 1], [4]);
  const m = up(be, [0, 0, 0, 0], [4]);
  const v = up(be, [0, 0, 0, 0], [4]);
  const adam = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step: 1 };
  const four = { ...bad, shape: [4] };
  const sq = { ...bad, shape: [2, 2] };
  return [
    ['readSync', 'handle', () => be.readSync(bad.handle)],
    ['write', 'handle', () => be.write(bad.handle, new Float32Array(4))],
    ['ops.unary', 'x', () => be.ops.unary('exp', sq)],
    ['ops.binary', 'b', () => be.ops.binary('add', a, sq)],
    ['ops.matmul', 'b', () => be.ops.matmul(a, sq)],
    ['ops.concat', 'xs[1]', () => be.ops.concat([a, sq], 0)],
    ['ops.adamwStep', 'm', () => be.ops.adamwStep(param, grad, four, v, adam)],
    ['ops.adamwStep', 'v', () => be.ops.adamwStep(param, grad, m, four, adam)],
    ['mhc.preForward', 'hPre', () => be.mhc.preForward(x3, { ...bad, shape: [1, 2] })],
    ['mhc.preForward', 'x', () => be.mhc.preForward({ ...bad, shape: [1, 2, 2] }, h)],
  ];
}

describe('CpuBackend: a disposed handle', () => {
  it('is a DisposedTensorError naming the argument, for storage calls and kernels', async () => {
    const be = new CpuBackend();
    const dead = up(be, [1, 2, 3, 4], [4]);
    be.disposeData(dead.handle);
    be.disposeData(dead.handle); // idempotent
    await expect(be.read(dead.handle)).rejects.toThrow(DisposedTensorError);
    await expect(be.read(dead.handle)).rejects.toThrow('handle: tensor has been disposed');
    const calls = callsWith(be, dead);
    const before = be.memory();
    for (const [call, arg, f] of calls) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err, call).toBeInstanceOf(DisposedTensorError);
      expect((err as DisposedTensorError).argument, call).toBe(arg);
      expect((err as Error).message, call).toBe(`${arg}: tensor has been disposed`);
    }
    expect(be.memory()).toEqual(before);
  });

  it('through the Tensor API names the argument too', () => {
    const be = new CpuBackend();
    const a = tensor([1, 2], [2], { backend: be });
    const b = tensor([3, 4], [2], { backend: be });
    b.dispose();
    expect(() => add(a, b)).toThrow(DisposedTensorError);
    expect(() => add(a, b)).toThrow('b: tensor has been disposed');
  });
});

describe('CpuBackend: storage of another backend', () => {
  it('of another CpuBackend instance is a BackendError naming the argument, and is left intact', async () => {
    const be = new CpuBackend();
    const other = new CpuBackend();
    const foreign = up(other, [1, 2, 3, 4], [4]);
    await expect(be.read(foreign.handle)).rejects.toThrow(BackendError);
    await expect(be.read(foreign.handle)).rejects.toThrow(
      'handle: the tensor belongs to another cpu backend instance',
    );
    const calls = callsWith(be, foreign);
    const before = be.memory();
    for (const [call, arg, f] of calls) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err, call).toBeInstanceOf(BackendError);
      expect((err as BackendError).argument, call).toBe(arg);
      expect((err as Error).message, call).toBe(`${arg}: the tensor belongs to another cpu backend instance`);
    }
    expect(be.memory()).toEqual(before);
    // Disposing through the wrong backend must not free (or zero) the owner's storage.
    be.disposeData(foreign.handle);
    expect(Array.from(other.readSync(foreign.handle))).toEqual([1, 2, 3, 4]);
    expect(other.memory().liveBuffers).toBe(1);
    other.disposeData(foreign.handle);
    expect(other.memory().liveBuffers).toBe(0);
  });

  it('of a non-CPU backend (or a hand-made handle) is a BackendError saying how to move it', () => {
    const be = new CpuBackend();
    const a = up(be, [1, 2, 3, 4], [4]);
    const gpuLike: TensorInfo = { handle: {}, shape: [4], dtype: 'f32' };
    const loose: TensorInfo = { handle: new CpuHandle(new Float32Array(4), 'f32'), shape: [4], dtype: 'f32' };
    for (const bad of [gpuLike, loose]) {
      expect(() => be.ops.binary('mul', a, bad)).toThrow(BackendError);
      expect(() => be.ops.binary('mul', a, bad)).toThrow(
        bad === gpuLike
          ? "b: expected a tensor on backend 'cpu', got storage of another backend; move it with await t.to('cpu')"
          : 'b: the tensor belongs to another cpu backend instance',
      );
      expect(() => be.readSync(bad.handle)).toThrow(BackendError);
    }
  });

  it('through the Tensor API is a BackendError naming the argument', () => {
    const be = new CpuBackend();
    const other = new CpuBackend();
    const a = tensor([1, 2], [2], { backend: be });
    const b = tensor([3, 4], [2], { backend: other });
    expect(() => add(a, b)).toThrow(BackendError);
    expect(() => add(a, b)).toThrow(/^b: expected a tensor on backend 'cpu' \(like a\)/);
    expect(() => add(a, b)).toThrow(expect.objectContaining({ argument: 'b' }));
  });
});

describe('CpuBackend: sizes', () => {
  it('alloc of 2**40 elements is an AllocationError with the size asked for, before allocating', () => {
    const be = new CpuBackend();
    const before = be.memory();
    let err: unknown;
    try {
      be.alloc('f32', 2 ** 40);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AllocationError);
    const e = err as AllocationError;
    expect(e.argument).toBe('size');
    expect(e.elements).toBe(2 ** 40);
    expect(e.bytes).toBe(2 ** 42);
    expect(e.shape).toEqual([2 ** 40]);
    expect(e.message).toBe(
      `size: cannot allocate a tensor of shape [1099511627776] (1.100e+12 elements, 4.398e+12 bytes; at most ${MAX_TENSOR_ELEMENTS} elements per tensor)`,
    );
    expect(be.memory()).toEqual(before);
  });

  it('alloc refuses one element over the per-tensor limit, and counts bytes of the dtype', () => {
    const be = new CpuBackend();
    expect(() => be.alloc('bf16', MAX_TENSOR_ELEMENTS + 1)).toThrow(AllocationError);
    try {
      be.alloc('bf16', MAX_TENSOR_ELEMENTS + 1);
    } catch (e) {
      expect((e as AllocationError).bytes).toBe((MAX_TENSOR_ELEMENTS + 1) * 2);
    }
  });

  it('alloc of a size that is not a non-negative integer is an ArgumentError naming size', () => {
    const be = new CpuBackend();
    for (const size of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '4' as unknown as number]) {
      expect(() => be.alloc('f32', size), String(size)).toThrow(ArgumentError);
      expect(() => be.alloc('f32', size), String(size)).toThrow(
        `size: expected a non-negative integer element count, got ${typeof size === 'string' ? '"4"' : size}`,
      );
    }
    expect(be.memory().liveBuffers).toBe(0);
  });

  it('alloc of an unknown dtype is a DTypeError', () => {
    const be = new CpuBackend();
    expect(() => be.alloc('f64' as DType, 4)).toThrow(DTypeError);
    expect(() => be.alloc('f64' as DType, 4)).toThrow(
      'dtype: expected dtype one of f32, f16, bf16, i32, got f64',
    );
    expect(be.memory().liveBuffers).toBe(0);
  });

  it('a kernel asked for an impossible output is an AllocationError before allocating', () => {
    const be = new CpuBackend();
    const x = up(be, [1, 2], [1, 2]);
    const before = be.memory();
    expect(() => be.ops.broadcastTo(x, [2 ** 20, 2 ** 20])).toThrow(AllocationError);
    expect(() => be.ops.broadcastTo(x, [2 ** 20, 2 ** 20])).toThrow(/\[1048576, 1048576\]/);
    expect(() => be.ops.fill([2 ** 40], 'bf16', 0)).toThrow(AllocationError);
    expect(be.memory()).toEqual(before);
  });
});
