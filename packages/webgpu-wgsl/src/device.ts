import { BackendError } from '@liger-mhc/core';

/**
 * Finding a GPUDevice: `navigator.gpu` in browsers; in Node, the GPU object of the provider that
 * the package's Node entry installs (dawn.ts: the `webgpu` npm package, Dawn). This module has no
 * Node-only code, so browser bundles never see Dawn.
 */
export interface NodeGpuProvider {
  /** The process's GPU object (created once), with Dawn flags. */
  gpu(flags: readonly string[]): Promise<GPU>;
  /** Whether an adapter can exist here, decided without loading the GPU runtime. */
  probe(): Promise<'none' | 'software' | 'hardware' | 'unknown'>;
}

let nodeProvider: NodeGpuProvider | null = null;

/** Called by the Node entry (dawn.ts). */
export function setNodeGpuProvider(provider: NodeGpuProvider): void {
  nodeProvider = provider;
}

/** For automatic backend selection: what acquireDevice would find, without starting a GPU runtime. */
export async function probeAdapter(): Promise<'none' | 'software' | 'hardware' | 'unknown'> {
  if (typeof navigator !== 'undefined' && (navigator as Navigator).gpu) return 'unknown';
  if (isNode()) return nodeProvider ? nodeProvider.probe() : 'none';
  return 'none';
}

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

export async function acquireDevice(opts: DeviceOptions = {}): Promise<AcquiredDevice> {
  let gpu: GPU | undefined;
  const node = isNode() && !(typeof navigator !== 'undefined' && (navigator as Navigator).gpu);
  if (node) {
    if (!nodeProvider)
      throw new BackendError(
        "webgpu: no GPU provider for Node: import '@liger-mhc/webgpu-wgsl' by its package name (its Node entry loads Dawn)",
      );
    gpu = await nodeProvider.gpu(opts.dawnFlags ?? []);
  } else {
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
