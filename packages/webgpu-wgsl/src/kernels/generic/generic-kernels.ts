import {
  type AdamWParams,
  ArgumentError,
  type AttentionGrads,
  type AttentionResult,
  type BinaryOp,
  broadcastShapes,
  type CrossEntropyResult,
  type DType,
  DTypeError,
  f32ToBf16,
  f32ToF16,
  type GenericKernels,
  type MatmulOptions,
  type RmsNormResult,
  type SgdParams,
  ShapeError,
  sizeOf,
  type TensorInfo,
  type UnaryOp,
} from '@liger-mhc/core';
import type { WebGpuBackend } from '../../backend.js';
import { isHalf } from '../wgsl-lib.js';
import { attentionBackward, attentionForward } from './attention.js';
import { crossEntropyBackward, crossEntropyForward } from './cross-entropy.js';
import {
  affineKernel,
  binaryKernel,
  castKernel,
  elementwiseGroups,
  fillKernel,
  unaryBackwardKernel,
  unaryKernel,
} from './elementwise.wgsl.js';
import { embeddingBackwardKernel, embeddingKernel } from './embedding.wgsl.js';
import { broadcastStrides, collapse, normAxis, rowOut, stridesOf } from './host-helpers.js';
import { copy32Kernel, gather16Kernel } from './layout.wgsl.js';
import { matmulKernel } from './matmul.wgsl.js';
import { adamwStep, sgdStep } from './optim.js';
import { SUM_WG, sumKernel } from './reduce.wgsl.js';
import {
  rmsNormBackwardKernel,
  rmsNormKernel,
  rmsNormWeightGradKernel,
  softmaxBackwardKernel,
  softmaxKernel,
} from './rows.wgsl.js';

/**
 * The WebGPU backend's generic kernels (the ones the mini LM and the small GPT need). Layout ops move
 * raw bits; math runs in f32; reductions have fixed orders. Like the CPU reference, arguments are
 * checked before anything is allocated or encoded.
 */
export class WebGpuGenericKernels implements GenericKernels {
  constructor(private readonly b: WebGpuBackend) {}

  private float(t: TensorInfo, name: string): void {
    if (t.dtype === 'i32') throw new DTypeError(name, 'a float dtype (f32, f16, bf16)', t.dtype);
  }

  fill(shape: readonly number[], dtype: DType, value: number): TensorInfo {
    if (typeof value !== 'number') throw new ArgumentError('value', `expected a number, got ${typeof value}`);
    const out = this.b.output(shape, dtype);
    const n = sizeOf(shape);
    const words = isHalf(dtype) ? Math.ceil(n / 2) : n;
    let word: number;
    if (dtype === 'i32') word = Math.trunc(value) | 0;
    else if (dtype === 'f32') word = new Int32Array(new Float32Array([value]).buffer)[0]!;
    else {
      const h = dtype === 'bf16' ? f32ToBf16(value) : f32ToF16(value);
      word = h | (h << 16) | 0;
    }
    this.b.dispatch(fillKernel(), [out], { words, word }, Math.ceil(words / 256));
    return out;
  }

  cast(x: TensorInfo, dtype: DType): TensorInfo {
    this.b.check({ x });
    const n = sizeOf(x.shape);
    if (dtype === x.dtype) {
      const out = this.b.output(x.shape, dtype);
      const bytes = (isHalf(dtype) ? Math.ceil(n / 2) : n) * 4;
      this.b.copy(this.b.buf(x, 'x'), 0, this.b.buf(out, 'out'), 0, bytes);
      return out;
    }
    const out = this.b.output(x.shape, dtype);
    this.b.dispatch(castKernel(x.dtype, dtype), [x, out], { n }, elementwiseGroups(n, dtype));
    return out;
  }

  binary(op: BinaryOp, a: TensorInfo, bT: TensorInfo): TensorInfo {
    this.b.check({ a, b: bT });
    if (!['add', 'sub', 'mul', 'div'].includes(op))
      throw new ArgumentError('op', `expected one of add, sub, mul, div, got ${op}`);
    if (a.dtype !== bT.dtype) throw new DTypeError('b', `${a.dtype} (the dtype of a)`, bT.dtype);
    const shape = broadcastShapes(a.shape, bT.shape, ['a', 'b']);
    const n = sizeOf(shape);
    const same = a.shape.length === bT.shape.length && a.shape.every((d, i) => d === bT.shape[i]);
    const out = this.b.output(shape, a.dtype);
    const c = same
      ? null
      : collapse(shape, [broadcastStrides(a.shape, shape), broadcastStrides(bT.shape, shape)]);
    this.b.dispatch(
      binaryKernel(op, a.dtype, bT.dtype, a.dtype, same),
      [a, bT, out],
      c
        ? { n, rank: c.shape.length, shape: c.shape, aStrides: c.strides[0]!, bStrides: c.strides[1]! }
        : { n, rank: 0, shape: [], aStrides: [], bStrides: [] },
      elementwiseGroups(n, a.dtype),
    );
    return out;
  }

  unary(op: UnaryOp, x: TensorInfo): TensorInfo {
    this.b.check({ x });
    this.float(x, 'x');
    const n = sizeOf(x.shape);
    const out = this.b.output(x.shape, x.dtype);
    this.b.dispatch(unaryKernel(op, x.dtype), [x, out], { n }, elementwiseGroups(n, x.dtype));
    return out;
  }

  unaryBackward(op: UnaryOp, x: TensorInfo, grad: TensorInfo): TensorInfo {
    this.b.check({ x, grad });
    this.float(x, 'x');
    if (sizeOf(grad.shape) !== sizeOf(x.shape))
      throw new ShapeError('grad', `[${x.shape.join(', ')}]`, grad.shape);
    const n = sizeOf(x.shape);
    const out = this.b.output(x.shape, x.dtype);
    this.b.dispatch(
      unaryBackwardKernel(op, x.dtype, grad.dtype),
      [x, grad, out],
      { n },
      elementwiseGroups(n, x.dtype),
    );
    return out;
  }

  affine(x: TensorInfo, a: number, bb: number): TensorInfo {
    this.b.check({ x });
    const n = sizeOf(x.shape);
    const out = this.b.output(x.shape, x.dtype);
    this.b.dispatch(
      affineKernel(x.dtype),
      [x, out],
      { n, scale: a, shift: bb },
      elementwiseGroups(n, x.dtype),
    );
    return out;
  }

  /** f32 result of a kernel cast to `dtype` (the f32 scratch is freed). */
  private castFrom(t: TensorInfo, dtype: DType): TensorInfo {
    if (t.dtype === dtype) return t;
    const r = this.cast(t, dtype);
    this.b.disposeData(t.handle);
    return r;
  }

  sum(x: TensorInfo, axes: readonly number[], keepDims: boolean): TensorInfo {
    this.b.check({ x });
    const rank = x.shape.length;
    const reduced = new Array<boolean>(rank).fill(false);
    for (const a of axes) {
      const d = normAxis(a, rank, 'axes');
      if (reduced[d]) throw new ArgumentError('axes', `axis ${a} appears twice in [${axes.join(', ')}]`);
      reduced[d] = true;
    }
    const xs = stridesOf(x.shape);
    const keptShape = x.shape.filter((_, i) => !reduced[i]);
    const redShape = x.shape.filter((_, i) => reduced[i]);
    const k = collapse(keptShape, [xs.filter((_, i) => !reduced[i])]);
    const r = collapse(redShape, [xs.filter((_, i) => reduced[i])]);
    const nOut = sizeOf(keptShape);
    const R = sizeOf(redShape);
    const outShape = keepDims ? x.shape.map((d, i) => (reduced[i] ? 1 : d)) : keptShape;
    const out = this.b.output(outShape, 'f32');
    const perWg = R >= 64;
    this.b.dispatch(
      sumKernel(x.dtype, perWg),
      [x, out],
      {
        nOut,
        R,
        keptRank: k.shape.length,
        redRank: r.shape.length,
        keptShape: k.shape,
        keptStrides: k.strides[0]!,
        redShape: r.shape,
        redStrides: r.strides[0]!,
      },
      perWg ? nOut : Math.ceil(nOut / 256),
    );
    void SUM_WG;
    return this.castFrom(out, x.dtype);
  }

  /** Strided copy of x (iteration `shape`, source strides/offset) into a new contiguous tensor. */
  private gather(
    x: TensorInfo,
    shape: readonly number[],
    srcStrides: number[],
    srcOffset: number,
  ): TensorInfo {
    const out = this.b.output(shape, x.dtype);
    const n = sizeOf(shape);
    if (n === 0) return out;
    const c = collapse(shape, [srcStrides, stridesOf(shape)]);
    const params = {
      n,
      rank: c.shape.length,
      srcOffset,
      dstOffset: 0,
      shape: c.shape,
      srcStrides: c.strides[0]!,
      dstStrides: c.strides[1]!,
    };
    if (isHalf(x.dtype))
      this.b.dispatch(gather16Kernel(), [x, out], params, Math.ceil(Math.ceil(n / 2) / 256));
    else this.b.dispatch(copy32Kernel(), [x, out], params, Math.ceil(n / 256));
    return out;
  }

  broadcastTo(x: TensorInfo, shape: readonly number[]): TensorInfo {
    this.b.check({ x });
    let ok = shape.length >= x.shape.length;
    const off = shape.length - x.shape.length;
    for (let i = 0; ok && i < x.shape.length; i++) {
      const d = x.shape[i]!;
      if (d !== 1 && d !== shape[off + i]) ok = false;
    }
    if (!ok) throw new ShapeError('shape', `a shape that x [${x.shape.join(', ')}] broadcasts to`, shape);
    return this.gather(x, shape, broadcastStrides(x.shape, shape), 0);
  }

  transpose(x: TensorInfo, perm: readonly number[]): TensorInfo {
    this.b.check({ x });
    const rank = x.shape.length;
    const seen = new Set(perm);
    if (
      perm.length !== rank ||
      seen.size !== rank ||
      perm.some((p) => !Number.isInteger(p) || p < 0 || p >= rank)
    )
      throw new ArgumentError('perm', `expected a permutation of 0..${rank - 1}, got [${perm.join(', ')}]`);
    const xs = stridesOf(x.shape);
    return this.gather(
      x,
      perm.map((p) => x.shape[p]!),
      perm.map((p) => xs[p]!),
      0,
    );
  }

  slice(x: TensorInfo, axis: number, start: number, end: number): TensorInfo {
    this.b.check({ x });
    const a = normAxis(axis, x.shape.length, 'axis');
    const d = x.shape[a]!;
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > d)
      throw new ArgumentError(
        'start/end',
        `expected integers 0 <= start <= end <= ${d}, got ${start}..${end}`,
      );
    const xs = stridesOf(x.shape);
    const shape = x.shape.map((s, i) => (i === a ? end - start : s));
    return this.gather(x, shape, xs, start * xs[a]!);
  }

  concat(xs: readonly TensorInfo[], axis: number): TensorInfo {
    if (!xs || xs.length === 0) throw new ArgumentError('xs', 'expected at least one tensor');
    xs.forEach((t, i) => {
      this.b.check({ [`xs[${i}]`]: t });
    });
    const first = xs[0]!;
    const rank = first.shape.length;
    const a = normAxis(axis, rank, 'axis');
    xs.forEach((t, k) => {
      if (t.dtype !== first.dtype)
        throw new DTypeError(`xs[${k}]`, `${first.dtype} (the dtype of xs[0])`, t.dtype);
      if (t.shape.length !== rank || t.shape.some((d, i) => i !== a && d !== first.shape[i]))
        throw new ShapeError(
          `xs[${k}]`,
          `[${first.shape.map((d, i) => (i === a ? '*' : d)).join(', ')}]`,
          t.shape,
        );
    });
    const total = xs.reduce((s, t) => s + t.shape[a]!, 0);
    const shape = first.shape.map((d, i) => (i === a ? total : d));
    // Halves cannot be scattered into a packed output (a word may straddle two inputs): they go
    // through f32 (exact both ways).
    const half = isHalf(first.dtype);
    const wide = half ? 'f32' : first.dtype;
    const out = this.b.output(shape, wide);
    const os = stridesOf(shape);
    let offset = 0;
    for (const t0 of xs) {
      const t = half ? this.cast(t0, 'f32') : t0;
      const n = sizeOf(t.shape);
      if (n > 0) {
        const c = collapse(t.shape, [stridesOf(t.shape), os]);
        const dstOff = offset * os[a]!;
        this.b.dispatch(
          copy32Kernel(),
          [t, out],
          {
            n,
            rank: c.shape.length,
            srcOffset: 0,
            dstOffset: dstOff,
            shape: c.shape,
            srcStrides: c.strides[0]!,
            dstStrides: c.strides[1]!,
          },
          Math.ceil(n / 256),
        );
      }
      offset += t0.shape[a]!;
      if (half) this.b.disposeData(t.handle);
    }
    return this.castFrom(out, first.dtype);
  }

  matmul(a: TensorInfo, bm: TensorInfo, options: MatmulOptions = {}): TensorInfo {
    this.b.check({ a, b: bm });
    this.float(a, 'a');
    this.float(bm, 'b');
    const { transA = false, transB = false } = options;
    const ra = a.shape.length;
    const rb = bm.shape.length;
    if (ra < 2) throw new ShapeError('a', transA ? '[..., K, M]' : '[..., M, K]', a.shape);
    if (rb < 2)
      throw new ShapeError('b', transB ? '[..., N, K] or [N, K]' : '[..., K, N] or [K, N]', bm.shape);
    const [a0, a1] = [a.shape[ra - 2]!, a.shape[ra - 1]!];
    const [b0, b1] = [bm.shape[rb - 2]!, bm.shape[rb - 1]!];
    const M = transA ? a1 : a0;
    const K = transA ? a0 : a1;
    const Kb = transB ? b1 : b0;
    const N = transB ? b0 : b1;
    if (K !== Kb) throw new ShapeError('b', `inner dimension ${K} (matching a)`, bm.shape);
    const batchShape = a.shape.slice(0, -2);
    const shared = rb === 2;
    if (!shared && (rb !== ra || bm.shape.slice(0, -2).some((d, i) => d !== batchShape[i])))
      throw new ShapeError(
        'b',
        `batch dims [${batchShape.join(', ')}] (those of a) or a 2-D matrix`,
        bm.shape,
      );
    const batch = sizeOf(batchShape);
    const od = isHalf(a.dtype) && N % 2 !== 0 ? 'f32' : a.dtype;
    const out = this.b.output([...batchShape, M, N], od);
    // Element strides of A (m, k) and B (k, n) in their storage.
    const [sam, sak] = transA ? [1, M] : [K, 1];
    const [sbk, sbn] = transB ? [1, K] : [N, 1];
    if (batch > 0 && M > 0 && N > 0) {
      if (batch > this.b.limits.maxGroups)
        throw new ArgumentError('a', `at most ${this.b.limits.maxGroups} batches`);
      this.b.dispatch(
        matmulKernel(a.dtype, bm.dtype, od),
        [a, bm, out],
        {
          M,
          N,
          K,
          aRowStride: sam,
          aKStride: sak,
          bKStride: sbk,
          bColStride: sbn,
          aBatchStride: M * K,
          bBatchStride: shared ? 0 : K * N,
        },
        [Math.ceil(N / 32), Math.ceil(M / 32), batch],
      );
    }
    return this.castFrom(out, a.dtype);
  }

  embedding(weight: TensorInfo, ids: TensorInfo): TensorInfo {
    this.b.check({ weight, ids });
    if (ids.dtype !== 'i32') throw new DTypeError('ids', 'i32', ids.dtype);
    if (weight.shape.length !== 2) throw new ShapeError('weight', '[vocab, dim]', weight.shape);
    const [V, D] = weight.shape as [number, number];
    const shape = [...ids.shape, D];
    const n = sizeOf(shape);
    const out = this.b.output(shape, weight.dtype);
    this.b.dispatch(
      embeddingKernel(weight.dtype),
      [weight, ids, out],
      { n, D, vocab: V },
      Math.ceil((isHalf(weight.dtype) ? Math.ceil(n / 2) : n) / 256),
    );
    return out;
  }

  embeddingBackward(grad: TensorInfo, ids: TensorInfo, vocab: number): TensorInfo {
    this.b.check({ grad, ids });
    if (ids.dtype !== 'i32') throw new DTypeError('ids', 'i32', ids.dtype);
    if (!Number.isInteger(vocab) || vocab < 0)
      throw new ArgumentError('vocab', `expected a non-negative integer, got ${vocab}`);
    const T = sizeOf(ids.shape);
    const D = grad.shape[grad.shape.length - 1] ?? 1;
    if (sizeOf(grad.shape) !== T * D)
      throw new ShapeError('grad', `[${[...ids.shape, D].join(', ')}] (ids.shape + [dim])`, grad.shape);
    const out = this.b.output([vocab, D], 'f32');
    this.b.dispatch(
      embeddingBackwardKernel(grad.dtype),
      [grad, ids, out],
      { n: vocab * D, D, T },
      Math.ceil((vocab * D) / 256),
    );
    return this.castFrom(out, grad.dtype);
  }

  crossEntropy(logits: TensorInfo, labels: TensorInfo, ignoreIndex: number): CrossEntropyResult {
    return crossEntropyForward(this.b, logits, labels, ignoreIndex);
  }

  crossEntropyBackward(
    gradLoss: TensorInfo,
    logits: TensorInfo,
    labels: TensorInfo,
    lse: TensorInfo,
    ignoreIndex: number,
  ): TensorInfo {
    return crossEntropyBackward(this.b, gradLoss, logits, labels, lse, ignoreIndex);
  }

  softmax(x: TensorInfo, causal: boolean): TensorInfo {
    this.b.check({ x });
    this.float(x, 'x');
    const rank = x.shape.length;
    if (rank < 1) throw new ShapeError('x', '[..., V] (rank >= 1)', x.shape);
    if (causal && rank < 2) throw new ShapeError('x', '[..., Tq, Tk] for a causal softmax', x.shape);
    const V = x.shape[rank - 1]!;
    const rows = V === 0 ? 0 : sizeOf(x.shape) / V;
    const od = rowOut(x.dtype, V);
    const out = this.b.output(x.shape, od);
    this.b.dispatch(
      softmaxKernel(x.dtype, od),
      [x, out],
      { rows, V, tq: causal ? x.shape[rank - 2]! : 0 },
      rows,
    );
    return this.castFrom(out, x.dtype);
  }

  softmaxBackward(y: TensorInfo, grad: TensorInfo): TensorInfo {
    this.b.check({ y, grad });
    this.float(y, 'y');
    const rank = y.shape.length;
    if (rank < 1) throw new ShapeError('y', '[..., V] (rank >= 1)', y.shape);
    if (sizeOf(grad.shape) !== sizeOf(y.shape))
      throw new ShapeError('grad', `[${y.shape.join(', ')}]`, grad.shape);
    const V = y.shape[rank - 1]!;
    const rows = V === 0 ? 0 : sizeOf(y.shape) / V;
    const od = rowOut(y.dtype, V);
    const out = this.b.output(y.shape, od);
    this.b.dispatch(softmaxBackwardKernel(y.dtype, grad.dtype, od), [y, grad, out], { rows, V }, rows);
    return this.castFrom(out, y.dtype);
  }

  attention(q: TensorInfo, k: TensorInfo, v: TensorInfo, causal: boolean, scale: number): AttentionResult {
    return attentionForward(this.b, (t, dtype) => this.castFrom(t, dtype), q, k, v, causal, scale);
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
    const castFrom = (t: TensorInfo, dtype: DType) => this.castFrom(t, dtype);
    return attentionBackward(this.b, castFrom, grad, q, k, v, out, lse, causal, scale);
  }

  private rmsDims(x: TensorInfo, weight: TensorInfo): [number, number] {
    const rank = x.shape.length;
    if (rank < 1) throw new ShapeError('x', '[..., D] (rank >= 1)', x.shape);
    const D = x.shape[rank - 1]!;
    if (weight.shape.length !== 1 || weight.shape[0] !== D)
      throw new ShapeError('weight', `[${D}] (the last dim of x)`, weight.shape);
    return [D === 0 ? 0 : sizeOf(x.shape) / D, D];
  }

  rmsNorm(x: TensorInfo, weight: TensorInfo, eps: number): RmsNormResult {
    this.b.check({ x, weight });
    this.float(x, 'x');
    const [rows, D] = this.rmsDims(x, weight);
    const od = rowOut(x.dtype, D);
    const y = this.b.output(x.shape, od);
    const invr = this.b.output([rows], 'f32');
    this.b.dispatch(rmsNormKernel(x.dtype, weight.dtype, od), [x, weight, y, invr], { rows, D, eps }, rows);
    return { y: this.castFrom(y, x.dtype), invr };
  }

  rmsNormBackward(
    grad: TensorInfo,
    x: TensorInfo,
    weight: TensorInfo,
    invr: TensorInfo,
  ): { gradX: TensorInfo; gradWeight: TensorInfo } {
    this.b.check({ grad, x, weight, invr });
    const [rows, D] = this.rmsDims(x, weight);
    if (invr.dtype !== 'f32') throw new DTypeError('invr', 'f32', invr.dtype);
    if (invr.shape.length !== 1 || invr.shape[0] !== rows)
      throw new ShapeError('invr', `[${rows}] (one per row of x)`, invr.shape);
    const od = rowOut(x.dtype, D);
    const gx = this.b.output(x.shape, od);
    this.b.dispatch(
      rmsNormBackwardKernel(grad.dtype, x.dtype, weight.dtype, od),
      [grad, x, weight, invr, gx],
      { rows, D },
      rows,
    );
    const gw = this.b.output([D], 'f32');
    this.b.dispatch(
      rmsNormWeightGradKernel(grad.dtype, x.dtype),
      [grad, x, invr, gw],
      { rows, D },
      Math.ceil(D / 256),
    );
    return { gradX: this.castFrom(gx, x.dtype), gradWeight: this.castFrom(gw, weight.dtype) };
  }

  adamwStep(param: TensorInfo, grad: TensorInfo, m: TensorInfo, v: TensorInfo, p: AdamWParams): void {
    adamwStep(this.b, param, grad, m, v, p);
  }

  sgdStep(param: TensorInfo, grad: TensorInfo, momentumBuf: TensorInfo | null, p: SgdParams): void {
    sgdStep(this.b, param, grad, momentumBuf, p);
  }
}
