import type { TensorInfo } from '../../backend/contract.js';
import type {
  AdamWParams,
  AttentionGrads,
  AttentionResult,
  BinaryOp,
  CrossEntropyResult,
  GenericKernels,
  MatmulOptions,
  RmsNormResult,
  SgdParams,
  UnaryOp,
} from '../../backend/generic-kernels.js';
import type { DType } from '../../dtype.js';
import type { CpuBackend } from '../cpu-backend.js';
import { attention, attentionBackward } from './attention.js';
import { crossEntropy, crossEntropyBackward } from './cross_entropy.js';
import { affine, binary, cast, fill, unary, unaryBackward } from './elementwise.js';
import { embedding, embeddingBackward } from './embedding.js';
import { concat, slice, transpose } from './layout.js';
import { matmul } from './matmul.js';
import { adamwStep, sgdStep } from './optim.js';
import { broadcastTo, sum } from './reduce.js';
import { rmsNorm, rmsNormBackward } from './rms_norm.js';
import { softmax, softmaxBackward } from './softmax.js';

/**
 * The CPU reference backend's generic kernels: a thin table over one file per op family. The table
 * checks that every tensor argument is live storage of this backend (cpu.check); each kernel then
 * validates every argument (throwing ShapeError / DTypeError / ArgumentError) before it
 * allocates or writes, computes in f64, and returns a fresh tensor owned by `cpu` (the optimizer
 * steps write in place instead). Summation orders are fixed, so results are bit-reproducible.
 */
export class CpuGenericKernels implements GenericKernels {
  constructor(readonly cpu: CpuBackend) {}

  fill(shape: readonly number[], dtype: DType, value: number): TensorInfo {
    return fill(this.cpu, shape, dtype, value);
  }
  cast(x: TensorInfo, dtype: DType): TensorInfo {
    this.cpu.check({ x });
    return cast(this.cpu, x, dtype);
  }
  binary(op: BinaryOp, a: TensorInfo, b: TensorInfo): TensorInfo {
    this.cpu.check({ a, b });
    return binary(this.cpu, op, a, b);
  }
  unary(op: UnaryOp, x: TensorInfo): TensorInfo {
    this.cpu.check({ x });
    return unary(this.cpu, op, x);
  }
  unaryBackward(op: UnaryOp, x: TensorInfo, grad: TensorInfo): TensorInfo {
    this.cpu.check({ x, grad });
    return unaryBackward(this.cpu, op, x, grad);
  }
  affine(x: TensorInfo, a: number, b: number): TensorInfo {
    this.cpu.check({ x });
    return affine(this.cpu, x, a, b);
  }
  sum(x: TensorInfo, axes: readonly number[], keepDims: boolean): TensorInfo {
    this.cpu.check({ x });
    return sum(this.cpu, x, axes, keepDims);
  }
  broadcastTo(x: TensorInfo, shape: readonly number[]): TensorInfo {
    this.cpu.check({ x });
    return broadcastTo(this.cpu, x, shape);
  }
  matmul(a: TensorInfo, b: TensorInfo, options?: MatmulOptions): TensorInfo {
    this.cpu.check({ a, b });
    return matmul(this.cpu, a, b, options);
  }
  transpose(x: TensorInfo, perm: readonly number[]): TensorInfo {
    this.cpu.check({ x });
    return transpose(this.cpu, x, perm);
  }
  slice(x: TensorInfo, axis: number, start: number, end: number): TensorInfo {
    this.cpu.check({ x });
    return slice(this.cpu, x, axis, start, end);
  }
  concat(xs: readonly TensorInfo[], axis: number): TensorInfo {
    this.cpu.check({ xs });
    return concat(this.cpu, xs, axis);
  }
  embedding(weight: TensorInfo, ids: TensorInfo): TensorInfo {
    this.cpu.check({ weight, ids });
    return embedding(this.cpu, weight, ids);
  }
  embeddingBackward(grad: TensorInfo, ids: TensorInfo, vocab: number): TensorInfo {
    this.cpu.check({ grad, ids });
    return embeddingBackward(this.cpu, grad, ids, vocab);
  }
  crossEntropy(logits: TensorInfo, labels: TensorInfo, ignoreIndex: number): CrossEntropyResult {
    this.cpu.check({ logits, labels });
    return crossEntropy(this.cpu, logits, labels, ignoreIndex);
  }
  crossEntropyBackward(
    gradLoss: TensorInfo,
    logits: TensorInfo,
    labels: TensorInfo,
    lse: TensorInfo,
    ignoreIndex: number,
  ): TensorInfo {
    this.cpu.check({ gradLoss, logits, labels, lse });
    return crossEntropyBackward(this.cpu, gradLoss, logits, labels, lse, ignoreIndex);
  }
  softmax(x: TensorInfo, causal: boolean): TensorInfo {
    this.cpu.check({ x });
    return softmax(this.cpu, x, causal);
  }
  softmaxBackward(y: TensorInfo, grad: TensorInfo): TensorInfo {
    this.cpu.check({ y, grad });
    return softmaxBackward(this.cpu, y, grad);
  }
  rmsNorm(x: TensorInfo, weight: TensorInfo, eps: number): RmsNormResult {
    this.cpu.check({ x, weight });
    return rmsNorm(this.cpu, x, weight, eps);
  }
  rmsNormBackward(
    grad: TensorInfo,
    x: TensorInfo,
    weight: TensorInfo,
    invr: TensorInfo,
  ): { gradX: TensorInfo; gradWeight: TensorInfo } {
    this.cpu.check({ grad, x, weight, invr });
    return rmsNormBackward(this.cpu, grad, x, weight, invr);
  }
  attention(q: TensorInfo, k: TensorInfo, v: TensorInfo, causal: boolean, scale: number): AttentionResult {
    this.cpu.check({ q, k, v });
    return attention(this.cpu, q, k, v, causal, scale);
  }
  attentionBackward(
    grad: TensorInfo,
    q: TensorInfo,
    k: TensorInfo,
    v: TensorInfo,
    out: TensorInfo,
    lse: TensorInfo,
    causal: boolean,
    scale: number,
  ): AttentionGrads {
    this.cpu.check({ grad, q, k, v, out, lse });
    return attentionBackward(this.cpu, grad, q, k, v, out, lse, causal, scale);
  }
  adamwStep(param: TensorInfo, grad: TensorInfo, m: TensorInfo, v: TensorInfo, p: AdamWParams): void {
    this.cpu.check({ param, grad, m, v });
    adamwStep(param, grad, m, v, p);
  }
  sgdStep(param: TensorInfo, grad: TensorInfo, momentumBuf: TensorInfo | null, p: SgdParams): void {
    this.cpu.check({ param, grad, momentumBuf });
    sgdStep(param, grad, momentumBuf, p);
  }
}
