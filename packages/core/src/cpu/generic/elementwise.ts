import type { TensorInfo } from '../../backend/contract.js';
import type { BinaryOp, UnaryOp } from '../../backend/generic-kernels.js';
import { type DType, f32ToBf16, f32ToF16 } from '../../dtype.js';
import { ArgumentError } from '../../errors.js';
import { broadcastShapes, checkShape, sameShape, stridesOf } from '../../tensor/shape.js';
import type { CpuBackend } from '../cpu-backend.js';
import { type FloatArray, readFloats } from '../cpu-handle.js';
import {
  broadcastStrides,
  checkDType,
  checkSameDType,
  checkSameShape,
  collapseDims,
  floatsOf,
  forEachRow,
  rawOutput,
  storageOf,
} from './util.js';

/**
 * Elementwise kernels: fill, cast, binary (NumPy broadcasting), unary and its backward, affine.
 * Math runs on JS numbers (f64); the output is rounded once to its storage dtype by `finish()`.
 * i32 tensors take the same f64 path (exact below 2^53) and are truncated toward zero on the way out,
 * so an i32 `div` is C-style integer division (and x/0 gives 0, as ToInt32 maps ±Inf to 0).
 */

const BINARY_OPS: ReadonlySet<string> = new Set<BinaryOp>(['add', 'sub', 'mul', 'div']);
const UNARY_OPS: ReadonlySet<string> = new Set<UnaryOp>([
  'neg',
  'exp',
  'log',
  'sqrt',
  'rsqrt',
  'square',
  'abs',
  'relu',
  'sigmoid',
  'tanh',
  'gelu',
  'silu',
]);

export function fill(cpu: CpuBackend, shape: readonly number[], dtype: DType, value: number): TensorInfo {
  checkShape('shape', shape);
  checkDType(dtype, 'dtype');
  if (typeof value !== 'number') throw new ArgumentError('value', `expected a number, got ${typeof value}`);
  const out = rawOutput(cpu, shape, dtype);
  // Encode the value once and fill the raw storage with its bit pattern.
  const bits =
    dtype === 'bf16'
      ? f32ToBf16(value)
      : dtype === 'f16'
        ? f32ToF16(value)
        : dtype === 'i32'
          ? Math.trunc(value)
          : value;
  out.data.fill(bits);
  return out.finish();
}

export function cast(cpu: CpuBackend, x: TensorInfo, dtype: DType): TensorInfo {
  const src = storageOf(x, 'x');
  checkDType(dtype, 'dtype');
  if (dtype === x.dtype) {
    const out = rawOutput(cpu, x.shape, dtype);
    out.data.set(src);
    return out.finish();
  }
  // f32/f64 values in; finish() rounds to the target (half: nearest even; i32: toward zero).
  const v = readFloats(x);
  const out = cpu.output(x.shape, dtype);
  out.values.set(v);
  return out.finish();
}

export function binary(cpu: CpuBackend, op: BinaryOp, a: TensorInfo, b: TensorInfo): TensorInfo {
  if (!BINARY_OPS.has(op))
    throw new ArgumentError('op', `expected one of ${[...BINARY_OPS].join(', ')}, got ${op}`);
  storageOf(a, 'a');
  storageOf(b, 'b');
  checkSameDType(b, 'b', a, 'a');
  const shape = broadcastShapes(a.shape, b.shape, ['a', 'b']);
  const x = readFloats(a);
  const y = readFloats(b);
  const out = cpu.output(shape, a.dtype);
  const o = out.values;
  if (sameShape(a.shape, b.shape)) {
    binaryRow(op, o, 0, 1, x, 0, 1, y, 0, 1, o.length);
    return out.finish();
  }
  const rank = shape.length;
  const c = collapseDims(shape, [
    stridesOf(shape),
    broadcastStrides(a.shape, rank, shape),
    broadcastStrides(b.shape, rank, shape),
  ]);
  const last = c.shape.length - 1;
  const n = c.shape[last];
  const [so, sa, sb] = [c.strides[0][last], c.strides[1][last], c.strides[2][last]];
  forEachRow(c.shape, c.strides, (offs) => binaryRow(op, o, offs[0], so, x, offs[1], sa, y, offs[2], sb, n));
  return out.finish();
}

/** One strided row of a binary op; the switch sits outside the loops so each loop is one operation. */
function binaryRow(
  op: BinaryOp,
  o: FloatArray,
  io: number,
  so: number,
  x: FloatArray,
  ia: number,
  sa: number,
  y: FloatArray,
  ib: number,
  sb: number,
  n: number,
): void {
  switch (op) {
    case 'add':
      for (let j = 0; j < n; j++, io += so, ia += sa, ib += sb) o[io] = x[ia] + y[ib];
      return;
    case 'sub':
      for (let j = 0; j < n; j++, io += so, ia += sa, ib += sb) o[io] = x[ia] - y[ib];
      return;
    case 'mul':
      for (let j = 0; j < n; j++, io += so, ia += sa, ib += sb) o[io] = x[ia] * y[ib];
      return;
    case 'div':
      for (let j = 0; j < n; j++, io += so, ia += sa, ib += sb) o[io] = x[ia] / y[ib];
      return;
  }
}

export function affine(cpu: CpuBackend, x: TensorInfo, a: number, b: number): TensorInfo {
  storageOf(x, 'x');
  if (typeof a !== 'number') throw new ArgumentError('a', `expected a number, got ${typeof a}`);
  if (typeof b !== 'number') throw new ArgumentError('b', `expected a number, got ${typeof b}`);
  const v = readFloats(x);
  const out = cpu.output(x.shape, x.dtype);
  const o = out.values;
  for (let i = 0; i < v.length; i++) o[i] = a * v[i] + b;
  return out.finish();
}

function checkUnaryOp(op: UnaryOp): void {
  if (!UNARY_OPS.has(op))
    throw new ArgumentError('op', `expected one of ${[...UNARY_OPS].join(', ')}, got ${op}`);
}

/** Logistic function without overflow: exp of a non-positive argument only. */
function sigmoid(v: number): number {
  if (v >= 0) return 1 / (1 + Math.exp(-v));
  const e = Math.exp(v);
  return e / (1 + e);
}

/**
 * GELU is the tanh approximation, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), not the exact-erf form.
 * Why: it is GPT-2's activation (the small GPT we train), and every backend can evaluate it with a
 * built-in tanh (WGSL has no erf), so GPU results match this reference to rounding instead of to the
 * accuracy of a hand-rolled erf.
 */
const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_K = 0.044715;

export function unary(cpu: CpuBackend, op: UnaryOp, x: TensorInfo): TensorInfo {
  checkUnaryOp(op);
  const v = floatsOf(x, 'x');
  const out = cpu.output(x.shape, x.dtype);
  const o = out.values;
  const n = v.length;
  switch (op) {
    case 'neg':
      for (let i = 0; i < n; i++) o[i] = -v[i];
      break;
    case 'exp':
      for (let i = 0; i < n; i++) o[i] = Math.exp(v[i]);
      break;
    case 'log':
      for (let i = 0; i < n; i++) o[i] = Math.log(v[i]);
      break;
    case 'sqrt':
      for (let i = 0; i < n; i++) o[i] = Math.sqrt(v[i]);
      break;
    case 'rsqrt':
      for (let i = 0; i < n; i++) o[i] = 1 / Math.sqrt(v[i]);
      break;
    case 'square':
      for (let i = 0; i < n; i++) o[i] = v[i] * v[i];
      break;
    case 'abs':
      for (let i = 0; i < n; i++) o[i] = Math.abs(v[i]);
      break;
    case 'relu':
      // Math.max propagates NaN (as PyTorch's relu does), so a diverging run is not silently masked.
      for (let i = 0; i < n; i++) o[i] = Math.max(v[i], 0);
      break;
    case 'sigmoid':
      for (let i = 0; i < n; i++) o[i] = sigmoid(v[i]);
      break;
    case 'tanh':
      for (let i = 0; i < n; i++) o[i] = Math.tanh(v[i]);
      break;
    case 'gelu':
      for (let i = 0; i < n; i++) {
        const t = v[i];
        o[i] = 0.5 * t * (1 + Math.tanh(GELU_C * (t + GELU_K * t * t * t)));
      }
      break;
    case 'silu':
      for (let i = 0; i < n; i++) o[i] = v[i] * sigmoid(v[i]);
      break;
  }
  return out.finish();
}

export function unaryBackward(cpu: CpuBackend, op: UnaryOp, x: TensorInfo, grad: TensorInfo): TensorInfo {
  checkUnaryOp(op);
  const v = floatsOf(x, 'x');
  floatsOf(grad, 'grad');
  checkSameDType(grad, 'grad', x, 'x');
  checkSameShape(grad, 'grad', x, 'x');
  const g = readFloats(grad);
  const out = cpu.output(x.shape, x.dtype);
  const o = out.values;
  const n = v.length;
  switch (op) {
    case 'neg':
      for (let i = 0; i < n; i++) o[i] = -g[i];
      break;
    case 'exp':
      for (let i = 0; i < n; i++) o[i] = g[i] * Math.exp(v[i]);
      break;
    case 'log':
      for (let i = 0; i < n; i++) o[i] = g[i] / v[i];
      break;
    case 'sqrt':
      for (let i = 0; i < n; i++) o[i] = (0.5 * g[i]) / Math.sqrt(v[i]);
      break;
    case 'rsqrt':
      // d x^(-1/2) = -1/2 · x^(-3/2)
      for (let i = 0; i < n; i++) {
        const r = 1 / Math.sqrt(v[i]);
        o[i] = -0.5 * g[i] * r * r * r;
      }
      break;
    case 'square':
      for (let i = 0; i < n; i++) o[i] = 2 * v[i] * g[i];
      break;
    case 'abs':
      // sign(x), with 0 at 0 (the subgradient PyTorch uses).
      for (let i = 0; i < n; i++) o[i] = v[i] > 0 ? g[i] : v[i] < 0 ? -g[i] : 0;
      break;
    case 'relu':
      for (let i = 0; i < n; i++) o[i] = v[i] > 0 ? g[i] : 0;
      break;
    case 'sigmoid':
      for (let i = 0; i < n; i++) {
        const s = sigmoid(v[i]);
        o[i] = g[i] * s * (1 - s);
      }
      break;
    case 'tanh':
      for (let i = 0; i < n; i++) {
        const t = Math.tanh(v[i]);
        o[i] = g[i] * (1 - t * t);
      }
      break;
    case 'gelu':
      // d/dx of the tanh form: 0.5·(1+t) + 0.5·x·(1-t²)·c·(1 + 3k·x²), t = tanh(c·(x + k·x³)).
      for (let i = 0; i < n; i++) {
        const u = v[i];
        const t = Math.tanh(GELU_C * (u + GELU_K * u * u * u));
        o[i] = g[i] * (0.5 * (1 + t) + 0.5 * u * (1 - t * t) * GELU_C * (1 + 3 * GELU_K * u * u));
      }
      break;
    case 'silu':
      // d x·σ(x) = σ(x)·(1 + x·(1 − σ(x)))
      for (let i = 0; i < n; i++) {
        const s = sigmoid(v[i]);
        o[i] = g[i] * s * (1 + v[i] * (1 - s));
      }
      break;
  }
  return out.finish();
}
