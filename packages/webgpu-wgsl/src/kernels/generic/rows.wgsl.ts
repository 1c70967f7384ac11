import type { DType } from '@liger-mhc/core';
import type { KernelDef } from '../../backend.js';
import { kernelParams } from '../../kernel-params.js';
import { ENTRY_ARGS, isHalf, LINEAR_WG } from '../wgsl-lib.js';

/**
 * Row-wise kernels (softmax, cross-entropy, RMSNorm): one workgroup per row, partial results per
 * thread combined by a fixed tree (deterministic). Rows are walked two elements at a time when a
 * half-dtype output is written, so each thread owns whole words; `aligned` (even row length) is a
 * precondition for half outputs (the host falls back to f32 + cast otherwise).
 */
export const ROW_WG = 64;

// Every thread reads all WG partials and adds them in index order: one result, bit-identical in
// every thread, and no barrier inside a loop (which Mesa's lavapipe compiles very slowly).
const ROW_HELPERS = `
var<workgroup> red: array<f32, ${ROW_WG}>;
fn row_max(lid: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  var r = red[0];
  for (var i = 1u; i < ${ROW_WG}u; i++) { r = max(r, red[i]); }
  workgroupBarrier();
  return r;
}
fn row_sum(lid: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  var r = 0.0;
  for (var i = 0u; i < ${ROW_WG}u; i++) { r += red[i]; }
  workgroupBarrier();
  return r;
}
`;

export const SOFTMAX_PARAMS = kernelParams({ rows: 'u32', V: 'u32', tq: 'u32' });
export const SOFTMAX_BACKWARD_PARAMS = kernelParams({ rows: 'u32', V: 'u32' });
/** Cross-entropy rows and backward: n is the row count (rows) or N·V (backward). */
export const CE_PARAMS = kernelParams({ n: 'u32', V: 'u32', ignoreIndex: 'i32' });
export const CE_MEAN_PARAMS = kernelParams({ rows: 'u32', ignoreIndex: 'i32' });
export const RMSNORM_PARAMS = kernelParams({ rows: 'u32', D: 'u32', eps: 'f32' });
export const RMSNORM_BACKWARD_PARAMS = kernelParams({ rows: 'u32', D: 'u32' });

/**
 * WGSL: the workgroup writes o[base + j] = f(i = base + j, j) for j < `bound`, two elements a thread
 * for a half output (each thread owns whole words), else one. Where `valid` is given, elements with
 * j >= valid are written as 0 without evaluating f.
 */
function storeRow(half: boolean, bound: string, f: (i: string, j: string) => string, valid?: string): string {
  if (!half) {
    const v = f('base + j', 'j');
    return `for (var j = lid; j < ${bound}; j += ${ROW_WG}u) { st_o(base + j, ${valid ? `select(0.0, ${v}, j < ${valid})` : v}); }`;
  }
  const lo = valid ?? bound;
  return `for (var j = 2u * lid; j < ${bound}; j += ${2 * ROW_WG}u) {
    let i = base + j;
    var v = vec2<f32>(0.0);
    ${valid ? `if (j < ${valid}) { v.x = ${f('i', 'j')}; }` : `v.x = ${f('i', 'j')};`}
    if (j + 1u < ${lo}) { v.y = ${f('i + 1u', 'j + 1u')}; }
    st2_o(i, v, true);
  }`;
}

/**
 * Softmax over the last axis, optionally causal (row r sees keys 0..(r mod Tq)).
 * tq: the query count of the causal mask (0 = not causal).
 */
export function softmaxKernel(xd: DType, od: DType): KernelDef<typeof SOFTMAX_PARAMS.schema> {
  const half = isHalf(od);
  return {
    params: SOFTMAX_PARAMS,
    key: `softmax:${xd}:${od}`,
    bufs: [
      { name: 'a', dtype: xd, access: 'read' },
      { name: 'o', dtype: od, access: 'rw' },
    ],
    body: `${ROW_HELPERS}
@compute @workgroup_size(${ROW_WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let r = wg_lin;
  if (r >= params.rows) { return; }
  let V = params.V;
  let tq = params.tq;
  let len = select(V, min(V, r % max(tq, 1u) + 1u), tq > 0u);
  let base = r * V;
  var m = -3.4028234663852886e38;
  for (var j = lid; j < len; j += ${ROW_WG}u) { m = max(m, ld_a(base + j)); }
  m = row_max(lid, m);
  var s = 0.0;
  for (var j = lid; j < len; j += ${ROW_WG}u) { s += exp(ld_a(base + j) - m); }
  s = row_sum(lid, s);
  ${storeRow(half, 'V', (i) => `exp(ld_a(${i}) - m) / s`, 'len')}
}
`,
  };
}

/** dx = y ⊙ (g − Σ g·y) per row. */
export function softmaxBackwardKernel(
  yd: DType,
  gd: DType,
  od: DType,
): KernelDef<typeof SOFTMAX_BACKWARD_PARAMS.schema> {
  const half = isHalf(od);
  return {
    params: SOFTMAX_BACKWARD_PARAMS,
    key: `softmax_bwd:${yd}:${gd}:${od}`,
    bufs: [
      { name: 'y', dtype: yd, access: 'read' },
      { name: 'g', dtype: gd, access: 'read' },
      { name: 'o', dtype: od, access: 'rw' },
    ],
    body: `${ROW_HELPERS}
@compute @workgroup_size(${ROW_WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let r = wg_lin;
  if (r >= params.rows) { return; }
  let V = params.V;
  let base = r * V;
  var d = 0.0;
  for (var j = lid; j < V; j += ${ROW_WG}u) { d += ld_g(base + j) * ld_y(base + j); }
  d = row_sum(lid, d);
  ${storeRow(half, 'V', (i) => `ld_y(${i}) * (ld_g(${i}) - d)`)}
}
`,
  };
}

/**
 * Cross-entropy, stage 1: per row lse and the row's loss term (0 for ignored rows).
 * Params: n rows. Outputs lse [N], term [N] (both f32).
 */
export function crossEntropyRowsKernel(xd: DType): KernelDef<typeof CE_PARAMS.schema> {
  return {
    params: CE_PARAMS,
    key: `ce_rows:${xd}`,
    bufs: [
      { name: 'a', dtype: xd, access: 'read' },
      { name: 'lab', dtype: 'i32', access: 'read' },
      { name: 'lse', dtype: 'f32', access: 'rw' },
      { name: 'term', dtype: 'f32', access: 'rw' },
    ],
    body: `${ROW_HELPERS}
@compute @workgroup_size(${ROW_WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let r = wg_lin;
  if (r >= params.n) { return; }
  let V = params.V;
  let base = r * V;
  var m = -3.4028234663852886e38;
  for (var j = lid; j < V; j += ${ROW_WG}u) { m = max(m, ld_a(base + j)); }
  m = row_max(lid, m);
  var s = 0.0;
  for (var j = lid; j < V; j += ${ROW_WG}u) { s += exp(ld_a(base + j) - m); }
  s = row_sum(lid, s);
  if (lid == 0u) {
    let l = m + log(s);
    lse[r] = l;
    let y = lab[r];
    var t = 0.0;
    if (y != params.ignoreIndex && y >= 0 && u32(y) < V) { t = l - ld_a(base + u32(y)); }
    term[r] = t;
  }
}
`,
  };
}

/**
 * Cross-entropy, stage 2 (one workgroup): out[0] = Σ term / count of kept rows (0 when none),
 * out[1] = count.
 */
export function crossEntropyMeanKernel(): KernelDef<typeof CE_MEAN_PARAMS.schema> {
  return {
    params: CE_MEAN_PARAMS,
    key: 'ce_mean',
    bufs: [
      { name: 'term', dtype: 'f32', access: 'read' },
      { name: 'lab', dtype: 'i32', access: 'read' },
      { name: 'o', dtype: 'f32', access: 'rw' },
    ],
    body: `${ROW_HELPERS}
@compute @workgroup_size(${ROW_WG})
fn main(${ENTRY_ARGS}) {
  let N = params.rows;
  var s = 0.0;
  var c = 0.0;
  for (var r = lid; r < N; r += ${ROW_WG}u) {
    s += term[r];
    c += select(0.0, 1.0, lab[r] != params.ignoreIndex);
  }
  s = row_sum(lid, s);
  c = row_sum(lid, c);
  if (lid == 0u) {
    o[0] = select(0.0, s / c, c > 0.0);
    o[1] = c;
  }
}
`,
  };
}

/**
 * Cross-entropy backward: d = gradLoss/count · (softmax − onehot), 0 for ignored rows.
 * Params: n = N·V elements. `st` holds [mean, count] from stage 2.
 */
export function crossEntropyBackwardKernel(xd: DType, od: DType): KernelDef<typeof CE_PARAMS.schema> {
  const half = isHalf(od);
  const value = `fn val(i: u32) -> f32 {
  let V = params.V;
  let r = i / V;
  let y = lab[r];
  let c = st[1];
  if (y == params.ignoreIndex || c == 0.0) { return 0.0; }
  let p = exp(ld_a(i) - lse[r]);
  let scale = gl[0] / c;
  return scale * (p - select(0.0, 1.0, i32(i - r * V) == y));
}`;
  return {
    params: CE_PARAMS,
    key: `ce_bwd:${xd}:${od}`,
    bufs: [
      { name: 'a', dtype: xd, access: 'read' },
      { name: 'lab', dtype: 'i32', access: 'read' },
      { name: 'lse', dtype: 'f32', access: 'read' },
      { name: 'st', dtype: 'f32', access: 'read' },
      { name: 'gl', dtype: 'f32', access: 'read' },
      { name: 'o', dtype: od, access: 'rw' },
    ],
    body: `${value}
@compute @workgroup_size(256)
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let t = wg_lin * 256u + lid;
  let n = params.n;
  ${
    half
      ? `let i0 = 2u * t;
  if (i0 >= n) { return; }
  var v = vec2<f32>(val(i0), 0.0);
  if (i0 + 1u < n) { v.y = val(i0 + 1u); }
  stw_o(t, v);`
      : `if (t >= n) { return; }
  st_o(t, val(t));`
  }
}
`,
  };
}

/** RMSNorm forward: y = x·invr·w per row, invr saved. */
export function rmsNormKernel(xd: DType, wd: DType, od: DType): KernelDef<typeof RMSNORM_PARAMS.schema> {
  const half = isHalf(od);
  return {
    params: RMSNORM_PARAMS,
    key: `rms_norm:${xd}:${wd}:${od}`,
    bufs: [
      { name: 'a', dtype: xd, access: 'read' },
      { name: 'w', dtype: wd, access: 'read' },
      { name: 'o', dtype: od, access: 'rw' },
      { name: 'inv', dtype: 'f32', access: 'rw' },
    ],
    body: `${ROW_HELPERS}
@compute @workgroup_size(${ROW_WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let r = wg_lin;
  if (r >= params.rows) { return; }
  let D = params.D;
  let base = r * D;
  var ss = 0.0;
  for (var j = lid; j < D; j += ${ROW_WG}u) { let v = ld_a(base + j); ss += v * v; }
  ss = row_sum(lid, ss);
  let ir = 1.0 / sqrt(ss / f32(D) + params.eps);
  if (lid == 0u) { inv[r] = ir; }
  ${storeRow(half, 'D', (i, j) => `ld_a(${i}) * ir * ld_w(${j})`)}
}
`,
  };
}

/** RMSNorm backward, gradX per row. */
export function rmsNormBackwardKernel(
  gd: DType,
  xd: DType,
  wd: DType,
  od: DType,
): KernelDef<typeof RMSNORM_BACKWARD_PARAMS.schema> {
  const half = isHalf(od);
  const gx = (i: string, j: string) => `(s * ld_g(${i}) * ld_w(${j}) - ld_a(${i}) * c)`;
  return {
    params: RMSNORM_BACKWARD_PARAMS,
    key: `rms_norm_bwd:${gd}:${xd}:${wd}:${od}`,
    bufs: [
      { name: 'g', dtype: gd, access: 'read' },
      { name: 'a', dtype: xd, access: 'read' },
      { name: 'w', dtype: wd, access: 'read' },
      { name: 'inv', dtype: 'f32', access: 'read' },
      { name: 'o', dtype: od, access: 'rw' },
    ],
    body: `${ROW_HELPERS}
@compute @workgroup_size(${ROW_WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let r = wg_lin;
  if (r >= params.rows) { return; }
  let D = params.D;
  let base = r * D;
  let s = inv[r];
  var dot = 0.0;
  for (var j = lid; j < D; j += ${ROW_WG}u) { dot += ld_g(base + j) * ld_w(j) * ld_a(base + j); }
  dot = row_sum(lid, dot);
  let c = s * s * s * dot / f32(D);
  ${storeRow(half, 'D', gx)}
}
`,
  };
}

/** RMSNorm gradWeight[d] = Σ_rows g·x·invr into f32, rows in order. */
export function rmsNormWeightGradKernel(
  gd: DType,
  xd: DType,
): KernelDef<typeof RMSNORM_BACKWARD_PARAMS.schema> {
  return {
    params: RMSNORM_BACKWARD_PARAMS,
    key: `rms_norm_gw:${gd}:${xd}`,
    bufs: [
      { name: 'g', dtype: gd, access: 'read' },
      { name: 'a', dtype: xd, access: 'read' },
      { name: 'inv', dtype: 'f32', access: 'read' },
      { name: 'o', dtype: 'f32', access: 'rw' },
    ],
    body: `
@compute @workgroup_size(256)
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  let d = wg_lin * 256u + lid;
  let D = params.D;
  if (d >= D) { return; }
  var acc = 0.0;
  for (var r = 0u; r < params.rows; r++) { acc += ld_g(r * D + d) * ld_a(r * D + d) * inv[r]; }
  o[d] = acc;
}
`,
  };
}
