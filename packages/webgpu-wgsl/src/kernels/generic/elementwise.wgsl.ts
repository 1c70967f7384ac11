import type { BinaryOp, DType, UnaryOp } from '@liger-mhc/core';
import type { KernelDef } from '../../backend.js';
import { kernelParams, type ParamLayout, type ParamSchema } from '../../kernel-params.js';
import { type Buf, ENTRY_ARGS, isHalf, LINEAR_WG } from '../wgsl-lib.js';

/**
 * Elementwise kernels: one thread per output word (two elements for bf16/f16, so each thread owns the
 * word it writes; one element for f32/i32). The value of element `i` is a WGSL expression; math f32.
 * Every kernel's params start with n (the element count); some add their own (see each schema).
 */
export const MAX_RANK = 8;

/** Params of the elementwise kernels that need only the element count. */
export const COUNT_PARAMS = kernelParams({ n: 'u32' });

export function elementwiseKernel<S extends ParamSchema & { n: 'u32' }>(
  key: string,
  inputs: readonly Buf[],
  od: DType,
  expr: string,
  params: ParamLayout<S>,
  extra = '',
): KernelDef<S> {
  const body = isHalf(od)
    ? `
  let i0 = 2u * t;
  if (i0 >= n) { return; }
  var v = vec2<f32>(0.0);
  { let i = i0; v.x = ${expr}; }
  if (i0 + 1u < n) { let i = i0 + 1u; v.y = ${expr}; }
  stw_o(t, v);`
    : `
  if (t >= n) { return; }
  let i = t;
  st_o(i, ${expr});`;
  return {
    key: `ew:${key}:${inputs.map((b) => b.dtype).join(',')}:${od}`,
    params,
    bufs: [...inputs, { name: 'o', dtype: od, access: 'rw' }],
    body: `
${extra}
@compute @workgroup_size(256)
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let t = wg_lin * 256u + lid;
  let n = params.n;
  ${body}
}
`,
  };
}

/** Workgroups for an elementwise kernel over n elements of `od`. */
export function elementwiseGroups(n: number, od: DType): number {
  return Math.ceil((isHalf(od) ? Math.ceil(n / 2) : n) / 256);
}

/**
 * Params of a binary kernel: the output's (collapsed) shape and the strides of a and b in it, the
 * first `rank` entries (rank 0 when a and b have the output's shape).
 */
export const BINARY_PARAMS = kernelParams({
  n: 'u32',
  rank: 'u32',
  shape: { array: 'u32', length: MAX_RANK },
  aStrides: { array: 'u32', length: MAX_RANK },
  bStrides: { array: 'u32', length: MAX_RANK },
});

const STRIDED = `
// Offsets into a and b of output element i (NumPy broadcasting: stride 0 on broadcast axes).
fn offs(i: u32) -> vec2<u32> {
  var rem = i;
  var oa = 0u;
  var ob = 0u;
  for (var d = params.rank; d > 0u; d--) {
    let s = params_shape(d - 1u);
    let c = rem % s;
    rem = rem / s;
    oa += c * params_aStrides(d - 1u);
    ob += c * params_bStrides(d - 1u);
  }
  return vec2<u32>(oa, ob);
}
`;

const BINARY_EXPR: Record<BinaryOp, string> = {
  add: 'x + y',
  sub: 'x - y',
  mul: 'x * y',
  div: 'x / y',
};

export function binaryKernel(
  op: BinaryOp,
  ad: DType,
  bd: DType,
  od: DType,
  same: boolean,
): KernelDef<typeof BINARY_PARAMS.schema> {
  const fn = `fn bin(x: f32, y: f32) -> f32 { return ${op === 'div' && od === 'i32' ? 'select(0.0, trunc(x / y), y != 0.0)' : BINARY_EXPR[op]}; }`;
  const expr = same ? 'bin(ld_a(i), ld_b(i))' : 'bin(ld_a(offs(i).x), ld_b(offs(i).y))';
  return elementwiseKernel(
    `binary:${op}:${same}`,
    [
      { name: 'a', dtype: ad, access: 'read' },
      { name: 'b', dtype: bd, access: 'read' },
    ],
    od,
    expr,
    BINARY_PARAMS,
    `${fn}\n${same ? '' : STRIDED}`,
  );
}

const MATH = `
fn tanh_f(x: f32) -> f32 {
  // exp of a non-positive argument only: large |x| gives ±1, never inf/inf.
  let e = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}
const GELU_C: f32 = 0.7978845608028654;
const GELU_K: f32 = 0.044715;
fn gelu_f(x: f32) -> f32 { return 0.5 * x * (1.0 + tanh_f(GELU_C * (x + GELU_K * x * x * x))); }
fn gelu_d(x: f32) -> f32 {
  let t = tanh_f(GELU_C * (x + GELU_K * x * x * x));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_K * x * x);
}
`;

const UNARY_EXPR: Record<UnaryOp, string> = {
  neg: '-x',
  exp: 'exp(x)',
  log: 'log(x)',
  sqrt: 'sqrt(x)',
  rsqrt: '1.0 / sqrt(x)',
  square: 'x * x',
  abs: 'abs(x)',
  relu: 'select(0.0, x, x > 0.0)',
  sigmoid: 'sigmoid_f(x)',
  tanh: 'tanh_f(x)',
  gelu: 'gelu_f(x)',
  silu: 'x * sigmoid_f(x)',
};

/** d op(x)/dx · g. */
const UNARY_GRAD: Record<UnaryOp, string> = {
  neg: '-g',
  exp: 'g * exp(x)',
  log: 'g / x',
  sqrt: '0.5 * g / sqrt(x)',
  rsqrt: '-0.5 * g * pow(1.0 / sqrt(x), 3.0)',
  square: '2.0 * x * g',
  abs: 'select(select(0.0, -g, x < 0.0), g, x > 0.0)',
  relu: 'select(0.0, g, x > 0.0)',
  sigmoid: 'g * sigmoid_f(x) * (1.0 - sigmoid_f(x))',
  tanh: 'g * (1.0 - tanh_f(x) * tanh_f(x))',
  gelu: 'g * gelu_d(x)',
  silu: 'g * sigmoid_f(x) * (1.0 + x * (1.0 - sigmoid_f(x)))',
};

export function unaryKernel(op: UnaryOp, xd: DType): KernelDef<typeof COUNT_PARAMS.schema> {
  return elementwiseKernel(
    `unary:${op}`,
    [{ name: 'a', dtype: xd, access: 'read' }],
    xd,
    'un(ld_a(i))',
    COUNT_PARAMS,
    `${MATH}\nfn un(x: f32) -> f32 { return ${UNARY_EXPR[op]}; }`,
  );
}

export function unaryBackwardKernel(
  op: UnaryOp,
  xd: DType,
  gd: DType,
): KernelDef<typeof COUNT_PARAMS.schema> {
  return elementwiseKernel(
    `unary_bwd:${op}`,
    [
      { name: 'a', dtype: xd, access: 'read' },
      { name: 'b', dtype: gd, access: 'read' },
    ],
    xd,
    'unb(ld_a(i), ld_b(i))',
    COUNT_PARAMS,
    `${MATH}\nfn unb(x: f32, g: f32) -> f32 { return ${UNARY_GRAD[op]}; }`,
  );
}

export const AFFINE_PARAMS = kernelParams({ n: 'u32', scale: 'f32', shift: 'f32' });

/** scale·x + shift. */
export function affineKernel(xd: DType): KernelDef<typeof AFFINE_PARAMS.schema> {
  return elementwiseKernel(
    'affine',
    [{ name: 'a', dtype: xd, access: 'read' }],
    xd,
    'params.scale * ld_a(i) + params.shift',
    AFFINE_PARAMS,
  );
}

/** Conversion between dtypes (halves round to nearest even on the way out; float -> i32 truncates). */
export function castKernel(xd: DType, od: DType): KernelDef<typeof COUNT_PARAMS.schema> {
  return elementwiseKernel('cast', [{ name: 'a', dtype: xd, access: 'read' }], od, 'ld_a(i)', COUNT_PARAMS);
}

export const FILL_PARAMS = kernelParams({ words: 'u32', word: 'i32' });

/**
 * Fill with a constant given as raw storage bits (`word`: the value's bits for 32-bit dtypes, or
 * the half's 16 bits twice), so i32 values above 2^24 and half rounding match the CPU exactly.
 */
export function fillKernel(): KernelDef<typeof FILL_PARAMS.schema> {
  return {
    key: 'fill',
    params: FILL_PARAMS,
    bufs: [{ name: 'o', dtype: 'i32', access: 'rw' }],
    body: `
@compute @workgroup_size(256)
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let t = wg_lin * 256u + lid;
  if (t >= params.words) { return; }
  o[t] = params.word;
}
`,
  };
}
