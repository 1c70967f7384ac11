import {
  ArgumentError,
  allocStorage,
  type Backend,
  type BackendCapabilities,
  BackendError,
  type DataHandle,
  DisposedTensorError,
  type DType,
  DTypeError,
  type MemoryInfo,
  type StorageArray,
  sizeOf,
  type TensorInfo,
} from '@liger-mhc/core';
import { type AcquiredDevice, acquireDevice, type DeviceOptions } from './device.js';
import { type CoeffsPath, webgpuFlags } from './flags.js';
import { kernelParams, type ParamSchema, type ParamValues, writeParams } from './kernel-params.js';
import { WebGpuGenericKernels } from './kernels/generic/generic-kernels.js';
import { WebGpuMhcKernels } from './kernels/mhc/mhc-kernels.js';
import { storageWords } from './kernels/wgsl-lib.js';
import { ParamArenas, SLOT_BYTES } from './param-arenas.js';
import { PassTimer } from './pass-timer.js';
import { type KernelDef, PipelineCache } from './pipeline-cache.js';
import { BufferPool, USAGE } from './pool.js';

export type { KernelDef } from './pipeline-cache.js';

/** Adapter descriptions of software rasterisers. */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|software/i;

export interface WebGpuBackendOptions extends DeviceOptions {
  /** Bring your own device (the backend does not destroy it on dispose). */
  device?: GPUDevice;
  /** Bytes kept in the buffer pool before the largest pooled buffers are destroyed. Default 2 GiB. */
  maxPooledBytes?: number;
  /** Dispatches encoded before an automatic submit. Default 256. */
  batchSize?: number;
  /** The coeffs forward path (default: the flag LIGER_MHC_WEBGPU_COEFFS, else 'split'). */
  coeffsPath?: CoeffsPath;
}

/** Storage of one tensor: a pooled GPU buffer. */
export class WebGpuHandle {
  disposed = false;
  constructor(
    public buffer: GPUBuffer | null,
    /** Bytes of the (bucketed) buffer. */
    readonly bytes: number,
    readonly size: number,
    readonly dtype: DType,
    readonly owner: WebGpuBackend,
  ) {}
}

const NO_PARAMS = kernelParams({});

/** The backend's capabilities, plus which coeffs forward it runs where a call is eligible. */
export interface WebGpuCapabilities extends BackendCapabilities {
  /**
   * 'split' (the default): the register-tiled K-split f32 kernel (coeffs-split.wgsl.ts) for calls
   * with half x, hc <= 4 and K a multiple of 8, the per-token kernel of coeffs.wgsl.ts for the
   * others; 'scalar': always the per-token kernel.
   */
  coeffsForward: CoeffsPath;
}

export class WebGpuBackend implements Backend {
  readonly name = 'webgpu';
  readonly capabilities: WebGpuCapabilities;
  readonly mhc: WebGpuMhcKernels;
  readonly ops: WebGpuGenericKernels;
  readonly device: GPUDevice;
  readonly features: AcquiredDevice['features'];
  readonly limits: {
    maxWorkgroupStorage: number;
    maxGroups: number;
    maxBinding: number;
    maxBuffer: number;
    /** Storage buffers one kernel may bind (the device asks for up to 10). */
    maxStorageBuffers: number;
  };

  private pool: BufferPool;
  private live = new Set<WebGpuHandle>();
  private liveBytes = 0;
  private peak = 0;
  private readonly pipelines: PipelineCache;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pending = 0;
  private readonly trace: boolean;
  private usedInBatch = new Set<GPUBuffer>();
  private readonly params: ParamArenas;
  private batchSize: number;
  private scopesOpen = false;
  private errorChecks: Promise<GPUError | null>[] = [];
  private lostReason: string | null = null;
  private firstError: Error | null = null;
  private disposed = false;
  private ownsDevice: boolean;
  /** Timestamp-query profiling for the benchmarks (beginTimer / endTimer). */
  private readonly timer: PassTimer;

  constructor(acquired: AcquiredDevice, opts: WebGpuBackendOptions = {}) {
    this.device = acquired.device;
    this.ownsDevice = !opts.device;
    this.features = acquired.features;
    const lim = this.device.limits;
    this.limits = {
      maxWorkgroupStorage: lim.maxComputeWorkgroupStorageSize,
      maxGroups: lim.maxComputeWorkgroupsPerDimension,
      maxBinding: lim.maxStorageBufferBindingSize,
      maxBuffer: lim.maxBufferSize,
      maxStorageBuffers: lim.maxStorageBuffersPerShaderStage,
    };
    this.capabilities = {
      dtypes: ['f32', 'f16', 'bf16', 'i32'],
      device: acquired.description,
      // CPU emulations of a GPU (Mesa's lavapipe/llvmpipe, SwiftShader) are correct but slower than
      // the CPU reference: automatic backend selection passes over them.
      software: SOFTWARE_ADAPTER.test(acquired.description),
      coeffsForward: 'scalar',
    };
    const flags = webgpuFlags();
    this.trace = flags.trace;
    this.pipelines = new PipelineCache(this.device, this.trace);
    this.timer = new PassTimer(this.device);
    this.params = new ParamArenas(this.device);
    this.setCoeffsPath(opts.coeffsPath ?? flags.coeffsPath);
    this.batchSize = opts.batchSize ?? 256;
    this.pool = new BufferPool(this.device, opts.maxPooledBytes ?? 2 ** 31, () => this.flush());
    this.device.lost.then((info) => {
      if (!this.disposed) this.lostReason = `${info.reason}: ${info.message}`;
    });
    this.device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      this.firstError ??= this.translate(ev.error);
    };
    this.mhc = new WebGpuMhcKernels(this);
    this.ops = new WebGpuGenericKernels(this);
  }

  /**
   * Subgroup size when kernels may treat consecutive local invocations as the lanes of one
   * subgroup (the split coeffs kernel's shuffle reduction): the device has subgroups of one fixed
   * size and probeSubgroups saw lane = local_invocation_index % size. 0 otherwise.
   */
  subgroupLanes = 0;

  /**
   * Choose the coeffs forward path (see WebGpuCapabilities.coeffsForward); the default comes from
   * the backend option `coeffsPath` or the flag LIGER_MHC_WEBGPU_COEFFS. Tests use it to run both
   * paths on one device.
   */
  setCoeffsPath(path: CoeffsPath): CoeffsPath {
    if (path !== 'split' && path !== 'scalar')
      throw new ArgumentError('path', `expected 'split' or 'scalar', got '${String(path)}'`);
    this.capabilities.coeffsForward = path;
    return path;
  }

  // ---------------------------------------------------------------- storage

  alloc(dtype: DType, size: number): DataHandle {
    const h = this.newHandle(dtype, size);
    if (!h.fresh) {
      // A reused buffer holds old data; alloc promises zeros.
      this.endPass();
      this.enc().clearBuffer(h.handle.buffer!, 0, h.handle.bytes);
      this.usedInBatch.add(h.handle.buffer!);
    }
    return h.handle;
  }

  /** Storage for a kernel output: not cleared (the kernel writes every element). */
  output(shape: readonly number[], dtype: DType): TensorInfo {
    const { handle } = this.newHandle(dtype, sizeOf(shape));
    return { handle, shape: [...shape], dtype };
  }

  /** Zeroed storage for a kernel output that is accumulated into or only partly written. */
  zeros(shape: readonly number[], dtype: DType): TensorInfo {
    return { handle: this.alloc(dtype, sizeOf(shape)), shape: [...shape], dtype };
  }

  private newHandle(dtype: DType, size: number): { handle: WebGpuHandle; fresh: boolean } {
    this.assertUsable();
    // A size computed from an empty or broken shape must not reach Dawn, whose TypeError says nothing.
    if (!Number.isSafeInteger(size) || size < 0)
      throw new BackendError(
        `webgpu: invalid tensor size ${size} (${dtype}): expected a non-negative integer`,
      );
    const bytes = Math.max(4, storageWords(dtype, size) * 4);
    if (bytes > this.limits.maxBuffer || bytes > this.limits.maxBinding)
      throw new BackendError(
        `webgpu: out of memory: a tensor of ${size} ${dtype} needs ${bytes} bytes, over this device's buffer limit of ${Math.min(this.limits.maxBuffer, this.limits.maxBinding)} bytes`,
      );
    this.openScopes();
    const { buffer, size: bucket, fresh } = this.pool.acquire(bytes);
    const h = new WebGpuHandle(buffer, bucket, size, dtype, this);
    this.live.add(h);
    this.liveBytes += bucket;
    if (this.liveBytes > this.peak) this.peak = this.liveBytes;
    return { handle: h, fresh };
  }

  write(handle: DataHandle, data: StorageArray): void {
    const h = this.handle(handle, 'handle');
    if (data.length !== h.size)
      throw new ArgumentError('data', `expected ${h.size} elements, got ${data.length}`);
    const expected = allocStorage(h.dtype, 0).constructor;
    if (data.constructor !== expected)
      throw new DTypeError('data', `${expected.name} storage for ${h.dtype}`, data.constructor.name);
    // Commands already encoded may still read the old contents: they must run first.
    if (this.usedInBatch.has(h.buffer!)) this.flush();
    this.openScopes();
    const bytes = data.byteLength;
    if (bytes === 0) return;
    if (bytes % 4 === 0) this.device.queue.writeBuffer(h.buffer!, 0, data.buffer, data.byteOffset, bytes);
    else {
      // An odd number of halves: pad to whole words (writeBuffer moves multiples of 4 bytes).
      const padded = new Uint8Array(bytes + 2);
      padded.set(new Uint8Array(data.buffer, data.byteOffset, bytes));
      this.device.queue.writeBuffer(h.buffer!, 0, padded.buffer, 0, bytes + 2);
    }
  }

  /**
   * Sets subgroupLanes: runs one 128-invocation workgroup that records each invocation's subgroup
   * lane and size. WGSL leaves the mapping from local invocations to subgroup lanes to the
   * implementation, so kernels that rely on it (coeffs-split's shuffle reduction) check it here.
   */
  async probeSubgroups(): Promise<void> {
    const f = this.features;
    if (!f.subgroups || f.subgroupMinSize === 0 || f.subgroupMinSize !== f.subgroupMaxSize) return;
    const out = this.output([128], 'i32');
    try {
      this.dispatch(
        {
          key: 'probe_subgroup_lanes',
          params: NO_PARAMS,
          directives: 'enable subgroups;\n',
          bufs: [{ name: 'o', dtype: 'i32', access: 'rw' }],
          body: `
@compute @workgroup_size(128)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sid: u32,
        @builtin(subgroup_size) sgs: u32) {
  o[lid] = i32(sid | (sgs << 16u));
}
`,
        },
        [out],
        {},
        1,
      );
      const v = (await this.read(out.handle)) as Int32Array;
      const size = v[0]! >>> 16;
      const linear = size > 0 && v.every((w, lid) => w >>> 16 === size && (w & 0xffff) === lid % size);
      this.subgroupLanes = linear && size === f.subgroupMinSize ? size : 0;
    } finally {
      this.disposeData(out.handle);
    }
  }

  async read(handle: DataHandle): Promise<StorageArray> {
    const h = this.handle(handle, 'handle');
    const out = allocStorage(h.dtype, h.size);
    if (h.size === 0) {
      await this.sync();
      return out;
    }
    const bytes = storageWords(h.dtype, h.size) * 4;
    this.openScopes();
    const staging = this.device.createBuffer({ size: bytes, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    this.endPass();
    this.enc().copyBufferToBuffer(h.buffer!, 0, staging, 0, bytes);
    this.flush();
    try {
      await this.checkErrors();
      await staging.mapAsync(1 /* GPUMapMode.READ */);
      const src = new Uint8Array(staging.getMappedRange(0, bytes));
      new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(src.subarray(0, out.byteLength));
      staging.unmap();
    } catch (err) {
      throw this.lostReason ? this.lostError() : err;
    } finally {
      staging.destroy();
    }
    return out;
  }

  disposeData(handle: DataHandle): void {
    const h = handle as WebGpuHandle;
    if (!(h instanceof WebGpuHandle) || h.disposed || h.owner !== this) return;
    h.disposed = true;
    if (this.live.delete(h)) this.liveBytes -= h.bytes;
    const buf = h.buffer!;
    h.buffer = null;
    if (!this.disposed) this.pool.release(buf, h.bytes);
  }

  memory(): MemoryInfo {
    return {
      liveBuffers: this.live.size,
      liveBytes: this.liveBytes,
      pooledBuffers: this.pool.pooledBuffers,
      pooledBytes: this.pool.pooledBytes,
      peakBytes: this.peak,
    };
  }

  resetPeak(): void {
    this.peak = this.liveBytes;
  }

  async sync(): Promise<void> {
    this.assertUsable();
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.checkErrors();
    if (this.lostReason) throw this.lostError();
  }

  /** Destroy pooled buffers (live tensors keep theirs). */
  trimPool(): void {
    this.pool.trim(0);
  }

  dispose(): void {
    if (this.disposed) return;
    try {
      this.flush();
    } catch {
      // a lost device cannot submit; everything is released below anyway
    }
    this.pool.trim(0);
    for (const h of this.live) {
      h.buffer?.destroy();
      h.buffer = null;
      h.disposed = true;
    }
    this.live.clear();
    this.liveBytes = 0;
    this.params.destroy();
    this.timer.destroy();
    this.disposed = true;
    if (this.ownsDevice) this.device.destroy();
  }

  // ---------------------------------------------------------------- kernels

  /** The live GPU buffer of a kernel argument; throws before anything is encoded. */
  buf(t: TensorInfo, argument: string): GPUBuffer {
    return this.handle(t.handle, argument).buffer!;
  }

  /** Check every argument (live, this backend) before a kernel allocates or encodes anything. */
  check(args: Record<string, TensorInfo | null | undefined>): void {
    for (const [name, t] of Object.entries(args)) if (t) this.handle(t.handle, name);
  }

  /**
   * Encode one dispatch. `groups` is a workgroup count (folded into a 2-D grid when over the
   * per-dimension limit; kernels read `wid.x + wid.y * nwg.x`) or an explicit [x, y, z].
   */
  dispatch<S extends ParamSchema>(
    def: KernelDef<S>,
    tensors: readonly (TensorInfo | GPUBuffer)[],
    params: ParamValues<S>,
    groups: number | readonly [number, number, number],
  ): void {
    this.assertUsable();
    const g: [number, number, number] =
      typeof groups === 'number' ? this.fold(groups) : [groups[0], groups[1], groups[2]];
    if (g[0] === 0 || g[1] === 0 || g[2] === 0) return;
    const buffers = tensors.map((t, i) =>
      'handle' in t ? this.buf(t, def.bufs[i]?.name ?? `arg${i}`) : (t as GPUBuffer),
    );
    const { pipeline, layout } = this.pipelines.get(def);
    const { buffer: paramBuffer, offset, views, base } = this.params.next();
    writeParams(def.params, params, views, base, def.key);
    const entries: GPUBindGroupEntry[] = [
      { binding: 0, resource: { buffer: paramBuffer, offset, size: SLOT_BYTES } },
    ];
    buffers.forEach((b, i) => {
      entries.push({ binding: i + 1, resource: { buffer: b } });
      this.usedInBatch.add(b);
    });
    const bindGroup = this.device.createBindGroup({ layout, entries });
    const pass = this.computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(g[0], g[1], g[2]);
    if (++this.pending >= this.batchSize) this.flush();
  }

  /** Copy between buffers (outside compute passes). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    if (bytes === 0) return;
    this.endPass();
    this.enc().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.usedInBatch.add(src).add(dst);
  }

  private fold(n: number): [number, number, number] {
    const max = this.limits.maxGroups;
    if (n <= max) return [n, 1, 1];
    const y = Math.ceil(n / max);
    return [Math.ceil(n / y), y, 1];
  }

  private enc(): GPUCommandEncoder {
    this.openScopes();
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  private computePass(): GPUComputePassEncoder {
    if (this.pass) return this.pass;
    const desc: GPUComputePassDescriptor = {};
    const timestampWrites = this.timer.passWrites();
    if (timestampWrites) desc.timestampWrites = timestampWrites;
    this.pass = this.enc().beginComputePass(desc);
    return this.pass;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  /** Submit everything encoded so far (with the parameter blocks it reads). */
  flush(): void {
    this.endPass();
    if (this.encoder) {
      this.params.upload();
      this.device.queue.submit([this.encoder.finish()]);
      this.encoder = null;
    }
    this.params.reset();
    this.pending = 0;
    this.usedInBatch.clear();
    this.closeScopes();
  }

  // ---------------------------------------------------------------- errors

  /**
   * Errors of a batch are caught by error scopes opened with its first command and closed at its
   * submit; `read` and `sync` wait for them, so an out-of-memory or a validation failure surfaces as
   * a BackendError at the next synchronisation point instead of a console warning.
   */
  private openScopes(): void {
    if (this.scopesOpen) return;
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    this.scopesOpen = true;
  }

  private closeScopes(): void {
    if (!this.scopesOpen) return;
    this.errorChecks.push(this.device.popErrorScope(), this.device.popErrorScope());
    this.scopesOpen = false;
  }

  private async checkErrors(): Promise<void> {
    const checks = this.errorChecks;
    this.errorChecks = [];
    const errors = await Promise.all(checks);
    for (const e of errors) if (e) this.firstError ??= this.translate(e);
    if (this.firstError) {
      const err = this.firstError;
      this.firstError = null;
      throw err;
    }
  }

  private translate(e: GPUError): Error {
    const isOom = e.constructor?.name === 'GPUOutOfMemoryError' || /out of memory/i.test(e.message);
    if (isOom)
      return new BackendError(
        `webgpu: out of memory (live ${this.live.size} buffers, ${this.liveBytes} bytes; pooled ${this.pool.pooledBytes} bytes): ${e.message}`,
      );
    return new BackendError(`webgpu: ${e.message}`);
  }

  private lostError(): Error {
    return new BackendError(`webgpu: the GPU device was lost (${this.lostReason}); create a new backend`);
  }

  private assertUsable(): void {
    if (this.disposed) throw new BackendError('webgpu: this backend has been disposed');
    if (this.lostReason) throw this.lostError();
  }

  private handle(handle: DataHandle, argument: string): WebGpuHandle {
    this.assertUsable();
    if (!(handle instanceof WebGpuHandle))
      throw new BackendError(
        `${argument}: expected a tensor on backend 'webgpu', got storage of another backend; move it with await t.to('webgpu')`,
        argument,
      );
    if (handle.owner !== this)
      throw new BackendError(`${argument}: the tensor belongs to another webgpu backend instance`, argument);
    if (handle.disposed || !handle.buffer) throw new DisposedTensorError(argument);
    return handle;
  }

  // ---------------------------------------------------------------- profiling

  /** Whether GPU timestamps are available (the 'timestamp-query' feature). */
  get canTime(): boolean {
    return this.features.timestampQuery;
  }

  /** Start timing: every compute pass from here on is timestamped. */
  beginTimer(): void {
    if (!this.canTime) throw new BackendError('webgpu: timestamp-query is not available on this device');
    this.endPass();
    this.timer.begin();
  }

  /** Stop timing; resolves to GPU milliseconds from the first timed pass's start to the last's end. */
  async endTimer(): Promise<number> {
    this.endPass();
    const r = this.timer.end(() => this.enc());
    if (r === null) return 0;
    const { staging, resolve, count } = r;
    this.flush();
    await this.checkErrors();
    await staging.mapAsync(1);
    const t = new BigUint64Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    resolve.destroy();
    return Number(t[count - 1]! - t[0]!) / 1e6;
  }
}

/** Create a WebGPU backend (async: finds an adapter and a device). */
export async function createWebGpuBackend(options: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
  if (options.device) {
    const device = options.device;
    const f = device.features;
    const be = new WebGpuBackend(
      {
        device,
        adapter: null as unknown as GPUAdapter,
        description: 'user-provided WebGPU device',
        features: {
          shaderF16: f.has('shader-f16'),
          timestampQuery: f.has('timestamp-query'),
          subgroups: f.has('subgroups' as GPUFeatureName),
          // A bring-your-own device does not tell us its subgroup size (it lives on the adapter).
          subgroupMinSize: 0,
          subgroupMaxSize: 0,
        },
      },
      options,
    );
    await be.probeSubgroups();
    return be;
  }
  const be = new WebGpuBackend(await acquireDevice(options), options);
  await be.probeSubgroups();
  return be;
}
