import {
  type AdamWParams,
  ArgumentError,
  type AttentionGrads,
  type AttentionResult,
  type BinaryOp,
  broadcastShapes,
  type CrossEntropyResult,
  type DType,
  type GenericKernels,
  type MatmulOptions,
  type RmsNormResult,
  type SgdParams,
  ShapeError,
  sizeOf,
  type TensorInfo,
  type UnaryOp,
} from '@liger-mhc/core';
import type { CudaBackend } from '../cuda-backend.js';
import { DTYPE_CODE } from '../native.js';
import {
  expectDType,
  expectFloat,
  expectRank,
  expectSameDType,
  expectShape,
  rowMajorStrides,
} from '../validate.js';
import { attentionBackward, attentionForward } from './attention.js';
import { adamwStep, sgdStep } from './optim.js';

const BINARY: Readonly<Record<BinaryOp, number>> = { add: 0, sub: 1, mul: 2, div: 3 };
const UNARY: Readonly<Record<UnaryOp, number>> = {
  neg: 0,
  exp: 1,
  log: 2,
  sqrt: 3,
  rsqrt: 4,
  square: 5,
  abs: 6,
  relu: 7,
  sigmoid: 8,
  tanh: 9,
  gelu: 10,
  silu: 11,
};

function opCode<K extends string>(table: Readonly<Record<K, number>>, op: K, name: string): number {
  const c = table[op];
  if (c === undefined) throw new ArgumentError(name, `unknown op '${String(op)}'`);
  return c;
}

function normAxis(axis: number, rank: number, name: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank)
    throw new ArgumentError(name, `axis ${axis} out of range for rank ${rank}`);
  return a;
}

/**
 * The generic kernels (native/kernels/generic/*.cu). Layout changes (cast, transpose, slice,
 * broadcastTo, concat) are all one strided-copy kernel; matmul goes to cuBLAS where it is present.
 */
export class CudaGenericKernels implements GenericKernels {
  constructor(private readonly be: CudaBackend) {}

  fill(shape: readonly number[], dtype: DType, value: number): TensorInfo {
    const out = this.be.output(shape, dtype);
    this.be.launch('fill', [this.be.buf(out, 'out')], {
      n: sizeOf(shape),
      dtype: DTYPE_CODE[dtype],
      value,
    });
    return out;
  }

  cast(x: TensorInfo, dtype: DType): TensorInfo {
    const out = this.be.output(x.shape, dtype);
    const n = sizeOf(x.shape);
    this.copy(x, out, [n], [1], 0, [1], 0);
    return out;
  }

  binary(op: BinaryOp, a: TensorInfo, b: TensorInfo): TensorInfo {
    const code = opCode(BINARY, op, 'op');
    expectFloat(a, 'a');
    expectSameDType(a, 'a', b, 'b');
    const shape = broadcastShapes(a.shape, b.shape);
    expectRank(shape, 'a');
    const out = this.be.output(shape, a.dtype);
    const contiguous = a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
    this.be.launch('binary', [this.be.buf(a, 'a'), this.be.buf(b, 'b'), this.be.buf(out, 'out')], {
      op: code,
      dtype: DTYPE_CODE[a.dtype],
      contiguous,
      layout: [
        shape.length,
        ...shape,
        ...this.broadcastStrides(a.shape, shape),
        ...this.broadcastStrides(b.shape, shape),
      ],
    });
    return out;
  }

  unary(op: UnaryOp, x: TensorInfo): TensorInfo {
    const code = opCode(UNARY, op, 'op');
    expectFloat(x, 'x');
    const out = this.be.output(x.shape, x.dtype);
    this.be.launch('unary', [this.be.buf(x, 'x'), this.be.buf(out, 'out')], {
      op: code,
      dtype: DTYPE_CODE[x.dtype],
      n: sizeOf(x.shape),
    });
    return out;
  }

  unaryBackward(op: UnaryOp, x: TensorInfo, grad: TensorInfo): TensorInfo {
    const code = opCode(UNARY, op, 'op');
    expectFloat(x, 'x');
    expectSameDType(x, 'x', grad, 'grad');
    if (sizeOf(grad.shape) !== sizeOf(x.shape))
      throw new ShapeError('grad', `[${x.shape.join(', ')}]`, grad.shape);
    const out = this.be.output(x.shape, x.dtype);
    this.be.launch('unary_bwd', [this.be.buf(x, 'x'), this.be.buf(grad, 'grad'), this.be.buf(out, 'out')], {
      op: code,
      dtype: DTYPE_CODE[x.dtype],
      n: sizeOf(x.shape),
    });
    return out;
  }

  affine(x: TensorInfo, a: number, b: number): TensorInfo {
    expectFloat(x, 'x');
    const out = this.be.output(x.shape, x.dtype);
    this.be.launch('affine', [this.be.buf(x, 'x'), this.be.buf(out, 'out')], {
      dtype: DTYPE_CODE[x.dtype],
      n: sizeOf(x.shape),
      scale: a,
      shift: b,
    });
    return out;
  }

  sum(x: TensorInfo, axes: readonly number[], keepDims: boolean): TensorInfo {
    expectFloat(x, 'x');
    expectRank(x.shape, 'x');
    const rank = x.shape.length;
    const red = new Set(axes.map((a) => normAxis(a, rank, 'axes')));
    const st = rowMajorStrides(x.shape);
    const keptShape: number[] = [];
    const keptSt: number[] = [];
    const redShape: number[] = [];
    const redSt: number[] = [];
    const outShape: number[] = [];
    for (let i = 0; i < rank; i++) {
      if (red.has(i)) {
        redShape.push(x.shape[i]!);
        redSt.push(st[i]!);
        if (keepDims) outShape.push(1);
      } else {
        keptShape.push(x.shape[i]!);
        keptSt.push(st[i]!);
        outShape.push(x.shape[i]!);
      }
    }
    const out = this.be.output(outShape, x.dtype);
    if (sizeOf(outShape) === 0) return out;
    if (sizeOf(redShape) === 0) {
      this.be.launch('fill', [this.be.buf(out, 'out')], {
        n: sizeOf(outShape),
        dtype: DTYPE_CODE[x.dtype],
        value: 0,
      });
      return out;
    }
    this.be.launch('sum', [this.be.buf(x, 'x'), this.be.buf(out, 'out')], {
      dtype: DTYPE_CODE[x.dtype],
      layout: [keptShape.length, ...keptShape, ...keptSt, redShape.length, ...redShape, ...redSt],
    });
    return out;
  }

  broadcastTo(x: TensorInfo, shape: readonly number[]): TensorInfo {
    const target = broadcastShapes(x.shape, shape, ['x', 'shape']);
    if (target.length !== shape.length || target.some((d, i) => d !== shape[i]))
      throw new ShapeError('shape', `a shape x [${x.shape.join(', ')}] broadcasts to`, shape);
    expectRank(shape, 'shape');
    const out = this.be.output(shape, x.dtype);
    if (sizeOf(shape) === 0) return out;
    this.copy(x, out, shape, this.broadcastStrides(x.shape, shape), 0, rowMajorStrides(shape), 0);
    return out;
  }

  matmul(a: TensorInfo, b: TensorInfo, options: MatmulOptions = {}): TensorInfo {
    expectFloat(a, 'a');
    expectSameDType(a, 'a', b, 'b');
    if (a.shape.length < 2) throw new ShapeError('a', '[..., M, K]', a.shape);
    if (b.shape.length < 2) throw new ShapeError('b', '[..., K, N]', b.shape);
    const tA = options.transA ?? false;
    const tB = options.transB ?? false;
    const ar = a.shape.length;
    const br = b.shape.length;
    const M = tA ? a.shape[ar - 1]! : a.shape[ar - 2]!;
    const K = tA ? a.shape[ar - 2]! : a.shape[ar - 1]!;
    const Kb = tB ? b.shape[br - 1]! : b.shape[br - 2]!;
    const N = tB ? b.shape[br - 2]! : b.shape[br - 1]!;
    if (K !== Kb) throw new ShapeError('b', `[..., ${K}, N] (inner dimensions must agree)`, b.shape);
    const aBatch = a.shape.slice(0, -2);
    const bBatch = b.shape.slice(0, -2);
    let batchShape: number[];
    let sA = M * K;
    let sB = K * N;
    if (bBatch.length === 0) {
      batchShape = aBatch;
      sB = 0;
    } else if (aBatch.length === 0) {
      batchShape = bBatch;
      sA = 0;
    } else if (aBatch.length === bBatch.length && aBatch.every((d, i) => d === bBatch[i])) {
      batchShape = aBatch;
    } else {
      throw new ShapeError('b', `batch dimensions [${aBatch.join(', ')}] (like a) or none`, b.shape);
    }
    const batch = sizeOf(batchShape);
    const out = this.be.output([...batchShape, M, N], a.dtype);
    this.be.launch('matmul', [this.be.buf(a, 'a'), this.be.buf(b, 'b'), this.be.buf(out, 'out')], {
      dtype: DTYPE_CODE[a.dtype],
      batch,
      m: M,
      n: N,
      k: K,
      transA: tA,
      transB: tB,
      strideA: sA,
      strideB: sB,
    });
    return out;
  }

  transpose(x: TensorInfo, perm: readonly number[]): TensorInfo {
    const rank = x.shape.length;
    expectRank(x.shape, 'x');
    if (perm.length !== rank || new Set(perm.map((p) => normAxis(p, rank, 'perm'))).size !== rank)
      throw new ArgumentError('perm', `expected a permutation of ${rank} axes, got [${perm.join(', ')}]`);
    const p = perm.map((q) => normAxis(q, rank, 'perm'));
    const st = rowMajorStrides(x.shape);
    const shape = p.map((q) => x.shape[q]!);
    const out = this.be.output(shape, x.dtype);
    if (sizeOf(shape) === 0) return out;
    this.copy(
      x,
      out,
      shape,
      p.map((q) => st[q]!),
      0,
      rowMajorStrides(shape),
      0,
    );
    return out;
  }

  slice(x: TensorInfo, axis: number, start: number, end: number): TensorInfo {
    const rank = x.shape.length;
    expectRank(x.shape, 'x');
    const ax = normAxis(axis, rank, 'axis');
    const dim = x.shape[ax]!;
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > dim || start > end)
      throw new ArgumentError('start/end', `expected 0 <= start <= end <= ${dim}, got ${start}:${end}`);
    const shape = [...x.shape];
    shape[ax] = end - start;
    const st = rowMajorStrides(x.shape);
    const out = this.be.output(shape, x.dtype);
    if (sizeOf(shape) === 0) return out;
    this.copy(x, out, shape, st, start * st[ax]!, rowMajorStrides(shape), 0);
    return out;
  }

  concat(xs: readonly TensorInfo[], axis: number): TensorInfo {
    if (xs.length === 0) throw new ArgumentError('xs', 'expected at least one tensor');
    const first = xs[0]!;
    const rank = first.shape.length;
    expectRank(first.shape, 'xs[0]');
    const ax = normAxis(axis, rank, 'axis');
    let total = 0;
    xs.forEach((t, i) => {
      expectSameDType(first, 'xs[0]', t, `xs[${i}]`);
      if (t.shape.length !== rank || t.shape.some((d, j) => j !== ax && d !== first.shape[j]))
        throw new ShapeError(
          `xs[${i}]`,
          `[${first.shape.map((d, j) => (j === ax ? '*' : d)).join(', ')}]`,
          t.shape,
        );
      total += t.shape[ax]!;
    });
    const shape = [...first.shape];
    shape[ax] = total;
    const out = this.be.output(shape, first.dtype);
    const ost = rowMajorStrides(shape);
    let offset = 0;
    for (const t of xs) {
      if (sizeOf(t.shape) > 0)
        this.copy(t, out, t.shape, rowMajorStrides(t.shape), 0, ost, offset * ost[ax]!);
      offset += t.shape[ax]!;
    }
    return out;
  }

  embedding(weight: TensorInfo, ids: TensorInfo): TensorInfo {
    expectFloat(weight, 'weight');
    expectDType(ids, 'ids', 'i32');
    if (weight.shape.length !== 2) throw new ShapeError('weight', '[V, D]', weight.shape);
    const [V, D] = weight.shape as [number, number];
    const T = sizeOf(ids.shape);
    const out = this.be.output([...ids.shape, D], weight.dtype);
    this.be.launch(
      'embedding',
      [this.be.buf(weight, 'weight'), this.be.buf(ids, 'ids'), this.be.buf(out, 'out')],
      { dtype: DTYPE_CODE[weight.dtype], tokens: T, d: D, vocab: V },
    );
    return out;
  }

  embeddingBackward(grad: TensorInfo, ids: TensorInfo, vocab: number): TensorInfo {
    expectFloat(grad, 'grad');
    expectDType(ids, 'ids', 'i32');
    if (!Number.isInteger(vocab) || vocab < 0)
      throw new ArgumentError('vocab', `expected a non-negative integer, got ${vocab}`);
    const T = sizeOf(ids.shape);
    const D = grad.shape[grad.shape.length - 1] ?? 1;
    if (sizeOf(grad.shape) !== T * D) throw new ShapeError('grad', `[...ids.shape, D]`, grad.shape);
    const out = this.be.output([vocab, D], grad.dtype);
    this.be.launch(
      'embedding_bwd',
      [this.be.buf(grad, 'grad'), this.be.buf(ids, 'ids'), this.be.buf(out, 'out')],
      { dtype: DTYPE_CODE[grad.dtype], tokens: T, d: D, vocab },
    );
    return out;
  }

  crossEntropy(logits: TensorInfo, labels: TensorInfo, ignoreIndex: number): CrossEntropyResult {
    expectFloat(logits, 'logits');
    expectDType(labels, 'labels', 'i32');
    const V = logits.shape[logits.shape.length - 1] ?? 1;
    const N = sizeOf(logits.shape) / (V || 1);
    if (sizeOf(labels.shape) !== N) throw new ShapeError('labels', `[${N}]`, labels.shape);
    const loss = this.be.output([], 'f32');
    const lse = this.be.output([N], 'f32');
    this.be.launch(
      'cross_entropy',
      [
        this.be.buf(logits, 'logits'),
        this.be.buf(labels, 'labels'),
        this.be.buf(loss, 'loss'),
        this.be.buf(lse, 'lse'),
      ],
      { dtype: DTYPE_CODE[logits.dtype], rows: N, vocab: V, ignoreIndex },
    );
    return { loss, lse };
  }

  crossEntropyBackward(
    gradLoss: TensorInfo,
    logits: TensorInfo,
    labels: TensorInfo,
    lse: TensorInfo,
    ignoreIndex: number,
  ): TensorInfo {
    expectFloat(logits, 'logits');
    expectDType(labels, 'labels', 'i32');
    expectDType(gradLoss, 'gradLoss', 'f32');
    expectDType(lse, 'lse', 'f32');
    const V = logits.shape[logits.shape.length - 1] ?? 1;
    const N = sizeOf(logits.shape) / (V || 1);
    if (sizeOf(labels.shape) !== N) throw new ShapeError('labels', `[${N}]`, labels.shape);
    if (sizeOf(lse.shape) !== N) throw new ShapeError('lse', `[${N}]`, lse.shape);
    const out = this.be.output(logits.shape, logits.dtype);
    this.be.launch(
      'cross_entropy_bwd',
      [
        this.be.buf(gradLoss, 'gradLoss'),
        this.be.buf(logits, 'logits'),
        this.be.buf(labels, 'labels'),
        this.be.buf(lse, 'lse'),
        this.be.buf(out, 'out'),
      ],
      { dtype: DTYPE_CODE[logits.dtype], rows: N, vocab: V, ignoreIndex },
    );
    return out;
  }

  softmax(x: TensorInfo, causal: boolean): TensorInfo {
    expectFloat(x, 'x');
    if (x.shape.length < 1) throw new ShapeError('x', '[..., D]', x.shape);
    const D = x.shape[x.shape.length - 1]!;
    const rows = D === 0 ? 0 : sizeOf(x.shape) / D;
    const Q = x.shape.length >= 2 ? x.shape[x.shape.length - 2]! : 1;
    const out = this.be.output(x.shape, x.dtype);
    this.be.launch('softmax', [this.be.buf(x, 'x'), this.be.buf(out, 'out')], {
      dtype: DTYPE_CODE[x.dtype],
      rows,
      d: D,
      queries: Q,
      causal,
    });
    return out;
  }

  softmaxBackward(y: TensorInfo, grad: TensorInfo): TensorInfo {
    expectFloat(y, 'y');
    expectSameDType(y, 'y', grad, 'grad');
    if (sizeOf(grad.shape) !== sizeOf(y.shape))
      throw new ShapeError('grad', `[${y.shape.join(', ')}]`, grad.shape);
    const D = y.shape[y.shape.length - 1] ?? 1;
    const rows = D === 0 ? 0 : sizeOf(y.shape) / D;
    const out = this.be.output(y.shape, y.dtype);
    this.be.launch('softmax_bwd', [this.be.buf(y, 'y'), this.be.buf(grad, 'grad'), this.be.buf(out, 'out')], {
      dtype: DTYPE_CODE[y.dtype],
      rows,
      d: D,
    });
    return out;
  }

  attention(q: TensorInfo, k: TensorInfo, v: TensorInfo, causal: boolean, scale: number): AttentionResult {
    return attentionForward(this.be, q, k, v, causal, scale);
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
    return attentionBackward(this.be, grad, q, k, v, out, lse, causal, scale);
  }

  rmsNorm(x: TensorInfo, weight: TensorInfo, eps: number): RmsNormResult {
    expectFloat(x, 'x');
    expectSameDType(x, 'x', weight, 'weight');
    const D = x.shape[x.shape.length - 1] ?? 1;
    expectShape(weight, 'weight', [D]);
    const rows = D === 0 ? 0 : sizeOf(x.shape) / D;
    const y = this.be.output(x.shape, x.dtype);
    const invr = this.be.output([rows], 'f32');
    this.be.launch(
      'rms_norm',
      [this.be.buf(x, 'x'), this.be.buf(weight, 'weight'), this.be.buf(y, 'y'), this.be.buf(invr, 'invr')],
      { dtype: DTYPE_CODE[x.dtype], rows, d: D, eps },
    );
    return { y, invr };
  }

  rmsNormBackward(
    grad: TensorInfo,
    x: TensorInfo,
    weight: TensorInfo,
    invr: TensorInfo,
  ): { gradX: TensorInfo; gradWeight: TensorInfo } {
    expectFloat(x, 'x');
    expectSameDType(x, 'x', grad, 'grad');
    expectSameDType(x, 'x', weight, 'weight');
    expectDType(invr, 'invr', 'f32');
    const D = x.shape[x.shape.length - 1] ?? 1;
    expectShape(weight, 'weight', [D]);
    const rows = D === 0 ? 0 : sizeOf(x.shape) / D;
    if (sizeOf(grad.shape) !== sizeOf(x.shape))
      throw new ShapeError('grad', `[${x.shape.join(', ')}]`, grad.shape);
    if (sizeOf(invr.shape) !== rows) throw new ShapeError('invr', `[${rows}]`, invr.shape);
    const gradX = this.be.output(x.shape, x.dtype);
    const gradWeight = this.be.output(weight.shape, weight.dtype);
    this.be.launch(
      'rms_norm_bwd',
      [
        this.be.buf(grad, 'grad'),
        this.be.buf(x, 'x'),
        this.be.buf(weight, 'weight'),
        this.be.buf(invr, 'invr'),
        this.be.buf(gradX, 'gradX'),
        this.be.buf(gradWeight, 'gradWeight'),
      ],
      { dtype: DTYPE_CODE[x.dtype], rows, d: D },
    );
    return { gradX, gradWeight };
  }

  adamwStep(param: TensorInfo, grad: TensorInfo, m: TensorInfo, v: TensorInfo, p: AdamWParams): void {
    adamwStep(this.be, param, grad, m, v, p);
  }

  sgdStep(param: TensorInfo, grad: TensorInfo, momentumBuf: TensorInfo | null, p: SgdParams): void {
    sgdStep(this.be, param, grad, momentumBuf, p);
  }

  // ---- helpers ------------------------------------------------------------------------------------

  /** Element strides of `shape` read as broadcast to `target` (0 along broadcast axes). */
  private broadcastStrides(shape: readonly number[], target: readonly number[]): number[] {
    const st = rowMajorStrides(shape);
    const off = target.length - shape.length;
    return target.map((_, i) => {
      const j = i - off;
      if (j < 0) return 0;
      return shape[j] === 1 && target[i] !== 1 ? 0 : st[j]!;
    });
  }

  private copy(
    src: TensorInfo,
    dst: TensorInfo,
    shape: readonly number[],
    srcStrides: readonly number[],
    srcOffset: number,
    dstStrides: readonly number[],
    dstOffset: number,
  ): void {
    expectRank(shape, 'shape');
    this.be.launch('copy_strided', [this.be.buf(src, 'x'), this.be.buf(dst, 'out')], {
      srcDtype: DTYPE_CODE[src.dtype],
      dstDtype: DTYPE_CODE[dst.dtype],
      srcOffset,
      dstOffset,
      layout: [shape.length, ...shape, ...srcStrides, ...dstStrides],
    });
  }
}
