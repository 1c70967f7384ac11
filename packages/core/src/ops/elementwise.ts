import type { BinaryOp, UnaryOp } from '../backend/generic-kernels.js';
import { DTypeError } from '../errors.js';
import { broadcastShapes } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { backendOf, needsGrad, record, wrap } from './dispatch.js';
import { sumToShape } from './reduce.js';
import { saveForBackward } from './save.js';

function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const be = backendOf({ a, b });
  if (a.dtype !== b.dtype) throw new DTypeError('b', `${a.dtype} (the dtype of a)`, b.dtype);
  broadcastShapes(a.shape, b.shape, ['a', 'b']);
  const out = wrap(be, be.ops.binary(op, a, b));
  if (!needsGrad(a, b)) return out;
  const sa = op === 'mul' || op === 'div' ? saveForBackward(a) : null;
  const sb = op === 'mul' || op === 'div' ? saveForBackward(b) : null;
  const owned = [sa, sb].filter((t): t is Tensor => t !== null);
  record([out], {
    name: op,
    inputs: [a, b],
    owned,
    backward: ([g]) => {
      const gg = g!;
      const k = be.ops;
      let ga: Tensor | null = null;
      let gb: Tensor | null = null;
      if (op === 'add') {
        ga = a.requiresGrad ? sumToShape(gg.reshape(gg.shape), a.shape) : null;
        gb = b.requiresGrad ? sumToShape(gg.reshape(gg.shape), b.shape) : null;
      } else if (op === 'sub') {
        ga = a.requiresGrad ? sumToShape(gg.reshape(gg.shape), a.shape) : null;
        gb = b.requiresGrad ? sumToShape(wrap(be, k.affine(gg, -1, 0)), b.shape) : null;
      } else if (op === 'mul') {
        ga = a.requiresGrad ? sumToShape(wrap(be, k.binary('mul', gg, sb!)), a.shape) : null;
        gb = b.requiresGrad ? sumToShape(wrap(be, k.binary('mul', gg, sa!)), b.shape) : null;
      } else {
        // d(a/b)/da = 1/b ; d(a/b)/db = -a/b²
        ga = a.requiresGrad ? sumToShape(wrap(be, k.binary('div', gg, sb!)), a.shape) : null;
        if (b.requiresGrad) {
          const t1 = wrap(be, k.binary('mul', gg, sa!));
          const b2 = wrap(be, k.binary('mul', sb!, sb!));
          const t2 = wrap(be, k.binary('div', t1, b2));
          t1.dispose();
          b2.dispose();
          const t3 = wrap(be, k.affine(t2, -1, 0));
          t2.dispose();
          gb = sumToShape(t3, b.shape);
        }
      }
      return [ga, gb];
    },
  });
  return out;
}

export const add = (a: Tensor, b: Tensor) => binary('add', a, b);
export const sub = (a: Tensor, b: Tensor) => binary('sub', a, b);
export const mul = (a: Tensor, b: Tensor) => binary('mul', a, b);
export const div = (a: Tensor, b: Tensor) => binary('div', a, b);

export function unary(op: UnaryOp, x: Tensor): Tensor {
  const be = backendOf({ x });
  if (x.dtype === 'i32') throw new DTypeError('x', 'a float dtype', x.dtype);
  const out = wrap(be, be.ops.unary(op, x));
  if (!needsGrad(x)) return out;
  const sx = saveForBackward(x);
  record([out], {
    name: op,
    inputs: [x],
    owned: [sx],
    backward: ([g]) => [wrap(be, be.ops.unaryBackward(op, sx, g!))],
  });
  return out;
}

export const neg = (x: Tensor) => unary('neg', x);
export const exp = (x: Tensor) => unary('exp', x);
export const log = (x: Tensor) => unary('log', x);
export const sqrt = (x: Tensor) => unary('sqrt', x);
export const square = (x: Tensor) => unary('square', x);
export const relu = (x: Tensor) => unary('relu', x);
export const sigmoid = (x: Tensor) => unary('sigmoid', x);
export const tanh = (x: Tensor) => unary('tanh', x);
export const gelu = (x: Tensor) => unary('gelu', x);
export const silu = (x: Tensor) => unary('silu', x);

/** a·x + b elementwise. */
export function affine(x: Tensor, a: number, b = 0): Tensor {
  const be = backendOf({ x });
  const out = wrap(be, be.ops.affine(x, a, b));
  if (needsGrad(x))
    record([out], { name: 'affine', inputs: [x], backward: ([g]) => [wrap(be, be.ops.affine(g!, a, 0))] });
  return out;
}

export const scale = (x: Tensor, s: number) => affine(x, s, 0);
