// The CLI with the CUDA backend linked in, for the GPU machine (no node_modules there):
//   node .gpu-build/cuda/cli.mjs train --backend cuda ...
// Importing the backend first registers 'cuda' before the CLI picks a backend.
import '../../packages/cuda-native/src/index.js';
import '../../apps/cli/src/main.js';
