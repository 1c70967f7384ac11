// PLACEHOLDER: being written (CPU generic kernels).
import type { GenericKernels } from '../../backend/generic-kernels.js';
import { unsupported } from '../../backend/unsupported.js';
import type { CpuBackend } from '../cpu-backend.js';

const u = (k: string) => unsupported(k, 'cpu');
export class CpuGenericKernels implements GenericKernels {
  constructor(readonly cpu: CpuBackend) {}
  fill = u('fill');
  cast = u('cast');
  binary = u('binary');
  unary = u('unary');
  unaryBackward = u('unaryBackward');
  affine = u('affine');
  sum = u('sum');
  broadcastTo = u('broadcastTo');
  matmul = u('matmul');
  transpose = u('transpose');
  slice = u('slice');
  concat = u('concat');
  embedding = u('embedding');
  embeddingBackward = u('embeddingBackward');
  crossEntropy = u('crossEntropy');
  crossEntropyBackward = u('crossEntropyBackward');
  softmax = u('softmax');
  softmaxBackward = u('softmaxBackward');
  rmsNorm = u('rmsNorm');
  rmsNormBackward = u('rmsNormBackward');
  adamwStep = u('adamwStep');
  sgdStep = u('sgdStep');
}
