// A stand-in for the addon's Device (no GPU needed): records launches and their buffers, and can be
// told to fail allocations or launches with a native error code.
import type { NativeBuffer, NativeDevice, NativeDeviceInfo } from '../src/native.js';

class FakeBuffer implements NativeBuffer {
  freed = false;
  constructor(readonly bytes: number) {}
  free(): void {
    this.freed = true;
  }
}

export function fakeDevice(
  opts: { failAlloc?: string; failLaunch?: string; info?: Partial<NativeDeviceInfo> } = {},
) {
  const launches: string[] = [];
  const args: (NativeBuffer | null)[][] = [];
  const live = new Set<FakeBuffer>();
  const device: NativeDevice = {
    alloc(bytes) {
      if (opts.failAlloc)
        throw Object.assign(new Error('CUDA out of memory: could not allocate'), { code: opts.failAlloc });
      const b = new FakeBuffer(bytes);
      live.add(b);
      return b;
    },
    launch(name, buffers) {
      if (opts.failLaunch)
        throw Object.assign(new Error('CUDA error in launch: cudaErrorLaunchFailure'), {
          code: opts.failLaunch,
        });
      launches.push(name);
      args.push([...buffers]);
    },
    write() {},
    read: async (b) => new ArrayBuffer(b.bytes),
    sync: async () => {},
    memory: () => ({
      liveBuffers: [...live].filter((b) => !b.freed).length,
      liveBytes: 0,
      pooledBuffers: 0,
      pooledBytes: 0,
      peakBytes: 0,
      reservedBytes: 0,
      peakReservedBytes: 0,
    }),
    resetPeak() {},
    emptyCache() {},
    info: () => ({
      name: 'fake',
      index: 0,
      sms: 1,
      computeCapability: '9.0',
      memTotal: 0,
      cublas: null,
      cublasError: '',
      mma: true,
      loadedArch: 90,
      clusterLaunch: true,
      clusterKernels: true,
      ...opts.info,
    }),
    ops: () => [],
    dispose() {},
    recordEvent: () => 0,
    elapsedMs: () => 0,
    clearEvents() {},
  };
  return { device, launches, live, args };
}
