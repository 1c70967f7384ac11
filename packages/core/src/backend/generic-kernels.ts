import type { DType } from '../dtype.js';
import type { TensorInfo } from './contract.js';

/**
 * The generic kernels the reference models need. Float kernels compute in f32 or better whatever the
 * storage dtype, and return the dtype of their (first) input unless stated otherwise. Binary kernels
 * follow NumPy broadcasting and require both inputs to share a dtype.
 */
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div';
export type UnaryOp =
  | 'neg'
  | 'exp'
  | 'log'
  | 'sqrt'
  | 'rsqrt'
  | 'square'
  | 'abs'
  | 'relu'
  | 'sigmoid'
  | 'tanh'
  | 'gelu'
  | 'silu';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

export interface CrossEntropyResult {
  /** [] f32: the mean over rows whose label is not `ignoreIndex`. */
  loss: TensorInfo;
  /** [N] f32 log-sum-exp per row, for the backward. */
  lse: TensorInfo;
}

export interface RmsNormResult {
  y: TensorInfo;
  /** [rows] f32: 1/sqrt(mean(x²)+eps), for the backward. */
  invr: TensorInfo;
}

export interface AttentionResult {
  /** [..., Tq, D], the dtype of q. */
  out: TensorInfo;
  /** [..., Tq] f32: the natural log-sum-exp of each row's scaled, masked scores, for the backward. */
  lse: TensorInfo;
}

export interface AttentionGrads {
  gradQ: TensorInfo;
  gradK: TensorInfo;
  gradV: TensorInfo;
}

export interface AdamWParams {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step count, for bias correction. */
  step: number;
}

export interface SgdParams {
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
}

export interface GenericKernels {
  /** A new tensor of `shape` filled with `value`. */
  fill(shape: readonly number[], dtype: DType, value: number): TensorInfo;
  /** A contiguous copy in another dtype (float→i32 truncates toward zero). */
  cast(x: TensorInfo, dtype: DType): TensorInfo;
  binary(op: BinaryOp, a: TensorInfo, b: TensorInfo): TensorInfo;
  unary(op: UnaryOp, x: TensorInfo): TensorInfo;
  /** grad · d op(x)/dx, elementwise. */
  unaryBackward(op: UnaryOp, x: TensorInfo, grad: TensorInfo): TensorInfo;
  /** a·x + b elementwise. */
  affine(x: TensorInfo, a: number, b: number): TensorInfo;
  /** Sum over `axes` (f64/f32 accumulation, fixed order: deterministic). */
  sum(x: TensorInfo, axes: readonly number[], keepDims: boolean): TensorInfo;
  /** Broadcast x to `shape` (NumPy rules). */
  broadcastTo(x: TensorInfo, shape: readonly number[]): TensorInfo;
  /** a [..., M, K] · b [..., K, N] (or b [K, N] shared across the batch); transposes per options. */
  matmul(a: TensorInfo, b: TensorInfo, options?: MatmulOptions): TensorInfo;
  /** Permute axes (a contiguous copy). */
  transpose(x: TensorInfo, perm: readonly number[]): TensorInfo;
  /** x[..., start:end, ...] along `axis` (a contiguous copy). */
  slice(x: TensorInfo, axis: number, start: number, end: number): TensorInfo;
  /** Concatenate along `axis`. */
  concat(xs: readonly TensorInfo[], axis: number): TensorInfo;
  /** rows of weight [V, D] gathered by ids (i32, any shape) -> [...ids.shape, D]. */
  embedding(weight: TensorInfo, ids: TensorInfo): TensorInfo;
  /** Scatter-add of grad [...ids.shape, D] into [vocab, D], in a fixed order (deterministic). */
  embeddingBackward(grad: TensorInfo, ids: TensorInfo, vocab: number): TensorInfo;
  /** Mean cross-entropy of logits [N, V] against labels i32 [N]. */
  crossEntropy(logits: TensorInfo, labels: TensorInfo, ignoreIndex: number): CrossEntropyResult;
  /** d loss / d logits, scaled by gradLoss ([] f32). Same dtype as logits. */
  crossEntropyBackward(
    gradLoss: TensorInfo,
    logits: TensorInfo,
    labels: TensorInfo,
    lse: TensorInfo,
    ignoreIndex: number,
  ): TensorInfo;
  /** Softmax over the last axis; with `causal`, entries with key index > query index (last two axes) are 0. */
  softmax(x: TensorInfo, causal: boolean): TensorInfo;
  /** Given y = softmax(x) and grad of y, the grad of x. */
  softmaxBackward(y: TensorInfo, grad: TensorInfo): TensorInfo;
  /** y = x · invr · weight over the last axis, weight [D]. */
  rmsNorm(x: TensorInfo, weight: TensorInfo, eps: number): RmsNormResult;
  rmsNormBackward(
    grad: TensorInfo,
    x: TensorInfo,
    weight: TensorInfo,
    invr: TensorInfo,
  ): { gradX: TensorInfo; gradWeight: TensorInfo };
  /**
   * Fused scaled dot-product attention: out = softmax(scale · q·kᵀ) · v over the last two axes, q
   * [..., Tq, D], k and v [..., Tk, D] (same leading dims, same dtype). With `causal`, key j is
   * visible to query i only when j <= i (top-left aligned, as PyTorch's is_causal). Memory is O(N):
   * the Tq×Tk scores are never stored, only out and the per-row lse. Optional: a backend without it
   * gets the unfused composition (see core's scaledDotProductAttention).
   */
  attention?(q: TensorInfo, k: TensorInfo, v: TensorInfo, causal: boolean, scale: number): AttentionResult;
  /** Gradients of attention given grad of out (dtype of q), recomputing the scores from q, k and lse. */
  attentionBackward?(
    grad: TensorInfo,
    q: TensorInfo,
    k: TensorInfo,
    v: TensorInfo,
    out: TensorInfo,
    lse: TensorInfo,
    causal: boolean,
    scale: number,
  ): AttentionGrads;
  /** In-place AdamW on param, with moment buffers m and v (f32, same size). */
  adamwStep(param: TensorInfo, grad: TensorInfo, m: TensorInfo, v: TensorInfo, p: AdamWParams): void;
  /** In-place SGD; `momentumBuf` is f32 of the param's size, or null without momentum. */
  sgdStep(param: TensorInfo, grad: TensorInfo, momentumBuf: TensorInfo | null, p: SgdParams): void;
}
