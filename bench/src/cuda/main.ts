/**
 * The CUDA backend's mHC rows on this machine's GPU, appended to a results table.
 *
 *   node bench/dist/cuda/main.js [--shapes 8192x4x4096,16384x4x2048,32768x4x1024] [--results FILE]
 *
 * On the GPU machine the bundle (bench/gpu/cuda-bundle.sh) runs it with --results $OUT/results.csv;
 * `node bench/dist/tools/merge-results.js FILE` then appends those rows to bench/results/results.csv.
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createCudaBackend } from '@liger-mhc/cuda-native';
import { RESULTS_CSV } from '../lib/results.js';
import { parseShapes, runAndRecord } from '../lib/run.js';
import { CudaTimer } from './timer.js';

const { values } = parseArgs({
  options: {
    shapes: { type: 'string', default: '8192x4x4096,16384x4x2048,32768x4x1024' },
    results: { type: 'string', default: RESULTS_CSV },
  },
});
const be = await createCudaBackend();
const timer = new CudaTimer(be);
const copyGbps = await timer.copyGbps();
console.log(`device: ${be.capabilities.device}; device-to-device copy ${copyGbps.toFixed(0)} GB/s`);
await runAndRecord({
  backend: be,
  name: 'cuda',
  path: `${be.info.mma ? 'tensor-core' : 'cuda-core'}${be.info.kernelPath === 'no-cluster' ? '+no-cluster' : ''}`,
  card: be.info.name,
  timer,
  copyGbps,
  shapes: parseShapes(values.shapes),
  resultsPath: values.results,
  bundleDir: dirname(fileURLToPath(import.meta.url)),
});
be.dispose();
