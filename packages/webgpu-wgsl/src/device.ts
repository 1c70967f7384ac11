import { BackendError } from '@liger-mhc/core';

/**
 * Finding a GPUDevice: `navigator.gpu` in browsers, the `webgpu` npm package (Dawn) in Node.
 *
 * Dawn's Node binding crashes the process when the object returned by `create()` is garbage
 * collected while devices made from it are alive, so the instance is created once per process and
 * pinned in module scope for the life of the process (devices hold no reference back to it).
 */
let nodeGpu: GPU | null = null;
const pinned: unknown[] = [];

export interface DeviceOptions {
  powerPreference?: GPUPowerPreference;
  /** Extra Dawn flags for `create()` in Node (e.g. 'enable-dawn-features=...'). */
  dawnFlags?: readonly string[];
  /** Do not ask for 'shader-f16' even where the adapter has it (tests the fallback path). */
  disableShaderF16?: boolean;
}

export interface DeviceFeatures {
  shaderF16: boolean;
  timestampQuery: boolean;
  subgroups: boolean;
  /** The adapter's subgroup size range (0 when unknown). */
  subgroupMinSize: number;
  subgroupMaxSize: number;
}

export interface AcquiredDevice {
  device: GPUDevice;
  adapter: GPUAdapter;
  description: string;
  features: DeviceFeatures;
}

function isNode(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node;
}

async function nodeInstance(flags: readonly string[]): Promise<GPU> {
  if (nodeGpu) return nodeGpu;
  let mod: { create(options: string[]): GPU; globals: object };
  try {
    mod = (await import('webgpu')) as never;
  } catch (err) {
    throw new BackendError(
      `webgpu: the 'webgpu' package (Dawn for Node) could not be loaded: ${(err as Error).message}`,
    );
  }
  // Dawn's constant objects (GPUBufferUsage, ...) are set once so code that expects the browser
  // globals also works; existing ones (a polyfill, a second copy) are kept.
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  // vulkan_enable_f16_on_nvidia: Dawn hides shader-f16 on NVIDIA's Vulkan driver unless asked; the
  // toggle is read only on that driver, so passing it everywhere is harmless. Timestamp
  // quantisation (a fingerprinting guard for browsers) would blur the benchmark's GPU times.
  const enable = ['vulkan_enable_f16_on_nvidia'];
  const disable = ['timestamp_quantization'];
  const extra: string[] = [];
  for (const f of flags) {
    const m = /^(enable|disable)-dawn-features=(.*)$/.exec(f);
    if (m) (m[1] === 'enable' ? enable : disable).push(...m[2]!.split(',').filter(Boolean));
    else extra.push(f);
  }
  const gpu = mod.create([
    `enable-dawn-features=${enable.join(',')}`,
    `disable-dawn-features=${disable.join(',')}`,
    ...extra,
  ]);
  nodeGpu = gpu;
  pinned.push(gpu, mod);
  return gpu;
}

export async function acquireDevice(opts: DeviceOptions = {}): Promise<AcquiredDevice> {
  let gpu: GPU | undefined;
  const node = isNode() && !(typeof navigator !== 'undefined' && (navigator as Navigator).gpu);
  if (node) gpu = await nodeInstance(opts.dawnFlags ?? []);
  else {
    gpu = typeof navigator !== 'undefined' ? (navigator as Navigator).gpu : undefined;
    if (!gpu)
      throw new BackendError(
        'webgpu: navigator.gpu is not available (this browser has no WebGPU, or the page is not a secure context)',
      );
  }
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter)
    throw new BackendError(
      node
        ? 'webgpu: no GPU adapter found: Dawn found no usable Vulkan driver (install one, e.g. Mesa lavapipe from mesa-vulkan-drivers >= 23; bookworm needs backports: tooling/ci/install-lavapipe.sh)'
        : 'webgpu: no GPU adapter found (WebGPU is disabled or no GPU is usable by this browser)',
    );
  const want: GPUFeatureName[] = [];
  const shaderF16 = adapter.features.has('shader-f16') && !opts.disableShaderF16;
  const timestampQuery = adapter.features.has('timestamp-query');
  const subgroups = adapter.features.has('subgroups' as GPUFeatureName);
  if (shaderF16) want.push('shader-f16');
  if (timestampQuery) want.push('timestamp-query');
  // Subgroups: the split coeffs kernel's shuffle reduction uses them.
  if (subgroups) want.push('subgroups' as GPUFeatureName);
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
  // Ask for the adapter's maxima of the limits our kernels are sized by: the defaults (128 MiB
  // bindings, 16 KiB workgroup memory) are far below what the GPUs offer.
  const l = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxStorageBuffersPerShaderStage: Math.min(l.maxStorageBuffersPerShaderStage, 10),
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
  };
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures: want, requiredLimits });
  } catch (err) {
    throw new BackendError(`webgpu: requestDevice failed: ${(err as Error).message}`);
  }
  const vendor = info?.vendor || 'unknown vendor';
  const arch = info?.device || info?.architecture || info?.description || 'unknown device';
  return {
    device,
    adapter,
    description: `${vendor} ${arch} via WebGPU${node ? ' (Dawn)' : ''}`,
    features: {
      shaderF16,
      timestampQuery,
      subgroups,
      subgroupMinSize: Number((info as { subgroupMinSize?: number } | undefined)?.subgroupMinSize ?? 0),
      subgroupMaxSize: Number((info as { subgroupMaxSize?: number } | undefined)?.subgroupMaxSize ?? 0),
    },
  };
}
