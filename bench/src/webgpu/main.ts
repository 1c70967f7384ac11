/**
 * The WebGPU backend's mHC rows on this machine's adapter, appended to a results table.
 *
 *   node bench/dist/webgpu/main.js [--shapes 8192x4x4096,32768x4x1024] [--results FILE] [--trials 7]
 *
 * On the GPU machine the bundle (bench/gpu/webgpu-bundle.sh) runs it with --results $OUT/results.csv;
 * `node bench/dist/tools/merge-results.js FILE` then appends those rows to bench/results/results.csv.
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createWebGpuBackend } from '@liger-mhc/webgpu-wgsl';
import { RESULTS_CSV } from '../lib/results.js';
import { parseShapes, runAndRecord } from '../lib/run.js';
import { WebGpuTimer } from './timer.js';

const { values } = parseArgs({
  options: {
    shapes: { type: 'string', default: '8192x4x4096,32768x4x1024' },
    results: { type: 'string', default: RESULTS_CSV },
    trials: { type: 'string', default: '7' },
    card: { type: 'string' },
  },
});
const be = await createWebGpuBackend();
const timer = new WebGpuTimer(be, Number(values.trials));
await timer.calibrate();
const copyGbps = await timer.copyGbps();
console.log(`device: ${be.capabilities.device}; copy kernel ${copyGbps.toFixed(0)} GB/s`);
await runAndRecord({
  backend: be,
  name: 'webgpu',
  path: be.capabilities.coeffsForward,
  card: values.card ?? be.capabilities.device,
  timer,
  copyGbps,
  shapes: parseShapes(values.shapes),
  resultsPath: values.results,
  bundleDir: dirname(fileURLToPath(import.meta.url)),
});
timer.dispose();
be.dispose();
