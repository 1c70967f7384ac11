/**
 * The Node entry of @liger-mhc/webgpu-wgsl (the `node` export condition): installs Dawn (the
 * optional `webgpu` package, loaded on first use) as the GPU provider, then the same API as the
 * browser entry (index.ts).
 */
import './dawn.js';

export * from './index.js';
