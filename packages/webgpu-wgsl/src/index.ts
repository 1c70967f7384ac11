/**
 * @liger-mhc/webgpu-wgsl: the WebGPU backend (WGSL kernels) for liger-mhc, in browsers
 * (navigator.gpu) and in Node (the `webgpu` package, Dawn). Importing this module registers the
 * backend as 'webgpu' with priority 10 (above the CPU reference's 0).
 */
/// <reference types="@webgpu/types" preserve="true" />
import { registerBackend } from '@liger-mhc/core';
import { createWebGpuBackend } from './backend.js';
import { probeAdapter } from './device.js';

export { createWebGpuBackend, WebGpuBackend, type WebGpuBackendOptions, WebGpuHandle } from './backend.js';
export { acquireDevice, type DeviceOptions, probeAdapter } from './device.js';

export const WEBGPU_PRIORITY = 10;

registerBackend('webgpu', () => createWebGpuBackend(), WEBGPU_PRIORITY, { probe: probeAdapter });
