import { BackendError } from '@liger-mhc/core';
import { NO_SUBGROUP_MATRIX } from './flags.js';

/**
 * Finding a GPUDevice: `navigator.gpu` in browsers; in Node, the GPU object of the provider that
 * the package's Node entry installs (dawn.ts: the `webgpu` npm package, Dawn). This module has no
 * Node-only code, so browser bundles never see Dawn.
 */
export interface NodeGpuProvider {
  /** The process's GPU object (created once), with Dawn flags and its unsafe-APIs toggle. */
  gpu(flags: readonly string[], unsafeApis: boolean): Promise<GPU>;
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
  /**
   * Do not ask for 'chromium-experimental-subgroup-matrix' (nor, in Node, for Dawn's
   * allow_unsafe_apis toggle that exposes it): the coeffs forward then stays on its f32 path.
   * Default: LIGER_MHC_WEBGPU_NO_SUBGROUP_MATRIX (a strict on/off flag, see flags.ts).
   */
  disableSubgroupMatrix?: boolean;
}

/** One entry of the adapter's subgroupMatrixConfigs (Dawn's objects do not JSON.stringify). */
export interface SubgroupMatrixConfig {
  M: number;
  N: number;
  K: number;
  componentType: string;
  resultComponentType: string;
}

export interface DeviceFeatures {
  shaderF16: boolean;
  timestampQuery: boolean;
  subgroups: boolean;
  /** 'chromium-experimental-subgroup-matrix' granted and it has an f16 16×16×16 → f32 config. */
  subgroupMatrixF16: boolean;
  subgroupMatrixConfigs: SubgroupMatrixConfig[];
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

const SUBGROUP_MATRIX = 'chromium-experimental-subgroup-matrix' as GPUFeatureName;

export function envDisablesSubgroupMatrix(): boolean {
  return NO_SUBGROUP_MATRIX.get();
}

/** The adapter's subgroup-matrix configs, read field by field. */
export function subgroupMatrixConfigs(info: unknown): SubgroupMatrixConfig[] {
  const list = (info as { subgroupMatrixConfigs?: Iterable<Record<string, unknown>> } | undefined)
    ?.subgroupMatrixConfigs;
  if (!list) return [];
  return [...list].map((c) => ({
    M: Number(c.M),
    N: Number(c.N),
    K: Number(c.K),
    componentType: String(c.componentType),
    resultComponentType: String(c.resultComponentType),
  }));
}

/** Whether the configs include the one the coeffs matrix kernel is written for. */
export function hasF16Config16(configs: readonly SubgroupMatrixConfig[]): boolean {
  return configs.some(
    (c) =>
      c.M === 16 && c.N === 16 && c.K === 16 && c.componentType === 'f16' && c.resultComponentType === 'f32',
  );
}

function isNode(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node;
}

export async function acquireDevice(opts: DeviceOptions = {}): Promise<AcquiredDevice> {
  let gpu: GPU | undefined;
  const node = isNode() && !(typeof navigator !== 'undefined' && (navigator as Navigator).gpu);
  const noMatrix = opts.disableSubgroupMatrix ?? envDisablesSubgroupMatrix();
  if (node) {
    if (!nodeProvider)
      throw new BackendError(
        "webgpu: no GPU provider for Node: import '@liger-mhc/webgpu-wgsl' by its package name (its Node entry loads Dawn)",
      );
    gpu = await nodeProvider.gpu(opts.dawnFlags ?? [], !noMatrix);
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
  // Subgroups: the split coeffs kernel's shuffle reduction (and the matrix kernel) use them.
  if (subgroups) want.push('subgroups' as GPUFeatureName);
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
  const configs = subgroupMatrixConfigs(info);
  // The matrix kernel stages x as f16, so the feature is only worth asking for with shader-f16.
  const subgroupMatrix = adapter.features.has(SUBGROUP_MATRIX) && shaderF16 && !noMatrix;
  if (subgroupMatrix) want.push(SUBGROUP_MATRIX);
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
      subgroupMatrixF16: subgroupMatrix && device.features.has(SUBGROUP_MATRIX) && hasF16Config16(configs),
      subgroupMatrixConfigs: configs,
      subgroupMinSize: Number((info as { subgroupMinSize?: number } | undefined)?.subgroupMinSize ?? 0),
      subgroupMaxSize: Number((info as { subgroupMaxSize?: number } | undefined)?.subgroupMaxSize ?? 0),
    },
  };
}
