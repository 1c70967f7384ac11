// The CLI with the WebGPU backend linked in, for the GPU machine (no node_modules there):
//   node .gpu-build/webgpu/cli/cli.mjs train --backend webgpu ...
// Importing the backend first registers 'webgpu' before the CLI picks a backend.
import '../../packages/webgpu-wgsl/src/index.node.js';
import '../../apps/cli/src/main.js';
