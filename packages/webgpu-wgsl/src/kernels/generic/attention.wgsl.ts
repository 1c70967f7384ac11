import type { DType } from '@liger-mhc/core';
import type { KernelDef } from '../../backend.js';
import { kernelParams } from '../../kernel-params.js';
import { ENTRY_ARGS, isHalf, LINEAR_WG } from '../wgsl-lib.js';

/**
 * Fused scaled dot-product attention (flash-style: online softmax, f32 accumulation, only the output
 * and a per-row log-sum-exp leave the kernel). One thread owns one query row (forward, dq) or one
 * key row (dk, dv) with its D-vectors in registers, so a thread writing a half row owns whole
 * words; a workgroup owns 64 rows of one batch and stages the other side's rows through workgroup
 * memory a tile at a time, so each is read from storage once per workgroup rather than once per
 * thread. The per-thread vectors are fixed-size arrays, so a pipeline serves head dims up to its
 * capacity (a power of two); D itself is a runtime bound, which keeps shader compilers from
 * unrolling the inner loops into code that lavapipe takes minutes to compile.
 *
 * Parameters: ATTENTION_PARAMS.
 */
/** Shared by the three kernels: rows is the thread count (query rows, or key rows for dK/dV). */
export const ATTENTION_PARAMS = kernelParams({
  rows: 'u32',
  tq: 'u32',
  tk: 'u32',
  causal: 'u32',
  scale: 'f32',
  D: 'u32',
  batch: 'u32',
});

export const ATTN_WG = 64;
/** Largest head dim a thread keeps in registers. */
export const ATTN_MAX_D = 256;

/** The register capacity of the pipeline serving head dim d (d <= ATTN_MAX_D). */
export function attentionCapacity(d: number): number {
  let c = 16;
  while (c < d) c *= 2;
  return c;
}

/** WGSL: thread `t`'s vector `dst` (array<f32, D>) from row `row` of buffer `src`, times `mul`. */
function loadRow(dst: string, src: string, row: string, mul = ''): string {
  return `for (var c = 0u; c < D; c++) { ${dst}[c] = ld_${src}(${row} * D + c)${mul}; }`;
}

/** WGSL: dot of register vector `a` with row `row` of buffer `src`. */
function dotRow(a: string, src: string, row: string): string {
  return `{ let o_ = ${row} * D; for (var c = 0u; c < D; c++) { acc_ += ${a}[c] * ld_${src}(o_ + c); } }`;
}

/** WGSL: write register vector `a` (times `mul`) as row `row` of output `dst` (dtype od). */
function storeRow(dst: string, a: string, row: string, od: DType, mul = ''): string {
  if (!isHalf(od)) return `for (var c = 0u; c < D; c++) { st_${dst}(${row} * D + c, ${a}[c]${mul}); }`;
  // Half rows start on a word (D is even for half outputs): each pair is one whole word.
  return `for (var c = 0u; c < D; c += 2u) { st2_${dst}(${row} * D + c, vec2<f32>(${a}[c], ${a}[c + 1u])${mul}, true); }`;
}

const PREAMBLE = `
  let rows = params.rows;
  let tq = params.tq;
  let tk = params.tk;
  let causal = params.causal != 0u;
  let scale = params.scale;
  let D = params.D;`;

/** Keys a forward workgroup stages per tile: K and V tiles of KT × cap f32 fill 16 KiB. */
export function attentionTileRows(cap: number): number {
  return Math.min(ATTN_WG, 2048 / cap);
}

/**
 * Forward: out [rows, D] (od), lse [rows] f32. Query row i of batch b sees keys 0..i when causal.
 * A workgroup owns 64 query rows of one batch and stages K and V through workgroup memory a tile
 * at a time, so each key row is read from storage once per workgroup rather than once per query.
 * Workgroups are batch × ceil(Tq / 64).
 */
export function attentionKernel(
  dt: DType,
  od: DType,
  cap: number,
): KernelDef<typeof ATTENTION_PARAMS.schema> {
  const kt = attentionTileRows(cap);
  return {
    params: ATTENTION_PARAMS,
    key: `attention:${dt}:${od}:${cap}`,
    bufs: [
      { name: 'q', dtype: dt, access: 'read' },
      { name: 'k', dtype: dt, access: 'read' },
      { name: 'v', dtype: dt, access: 'read' },
      { name: 'o', dtype: od, access: 'rw' },
      { name: 'lse', dtype: 'f32', access: 'rw' },
    ],
    body: `
var<workgroup> ktile: array<f32, ${kt * cap}>;
var<workgroup> vtile: array<f32, ${kt * cap}>;
@compute @workgroup_size(${ATTN_WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  ${PREAMBLE}
  let tiles = (tq + ${ATTN_WG - 1}u) / ${ATTN_WG}u;
  let b = wg_lin / tiles;
  if (b >= params.batch) { return; }
  let first = (wg_lin % tiles) * ${ATTN_WG}u;
  let i = first + lid;
  let live = i < tq;
  let t = b * tq + i;
  let len = select(tk, min(tk, i + 1u), causal);
  // Keys past the workgroup's last query are masked for all of its rows.
  let kend = select(tk, min(tk, min(tq, first + ${ATTN_WG}u)), causal);
  var qv: array<f32, ${cap}>;
  var acc: array<f32, ${cap}>;
  if (live) { ${loadRow('qv', 'q', 't', ' * scale')} }
  var m = -3.4028234663852886e38;
  var l = 0.0;
  for (var j0 = 0u; j0 < kend; j0 += ${kt}u) {
    let n = min(${kt}u, kend - j0);
    workgroupBarrier();
    for (var x = lid; x < n * ${cap}u; x += ${ATTN_WG}u) {
      let r = x / ${cap}u;
      let c = x % ${cap}u;
      let src = (b * tk + j0 + r) * D + c;
      ktile[x] = select(0.0, ld_k(src), c < D);
      vtile[x] = select(0.0, ld_v(src), c < D);
    }
    workgroupBarrier();
    let nj = select(0u, min(n, len - min(len, j0)), live);
    for (var jj = 0u; jj < nj; jj++) {
      let o_ = jj * ${cap}u;
      var s = 0.0;
      for (var c = 0u; c < D; c++) { s += qv[c] * ktile[o_ + c]; }
      // Online softmax: a new running max rescales what has been summed so far.
      if (s > m) {
        let corr = exp(m - s);
        l *= corr;
        for (var c = 0u; c < D; c++) { acc[c] *= corr; }
        m = s;
      }
      let p = exp(s - m);
      l += p;
      for (var c = 0u; c < D; c++) { acc[c] += p * vtile[o_ + c]; }
    }
  }
  if (!live) { return; }
  let inv = 1.0 / l;
  ${storeRow('o', 'acc', 't', od, ' * inv')}
  lse[t] = m + log(l);
}
`,
  };
}

/** WGSL: stage rows [r0, r0 + n) of `src` ([*, D]) into the tile `dst` ([n][cap] f32, 0 past D). */
function stageTile(dst: string, src: string, r0: string, cap: number): string {
  return `for (var x = lid; x < n * ${cap}u; x += ${ATTN_WG}u) {
      let c = x % ${cap}u;
      ${dst}[x] = select(0.0, ld_${src}((${r0} + x / ${cap}u) * D + c), c < D);
    }`;
}

/** WGSL shared by the tiled kernels: the workgroup's batch `b` and first row (`rowsPer` rows a batch). */
function workgroupRows(rowsPer: string): string {
  return `let tiles = (${rowsPer} + ${ATTN_WG - 1}u) / ${ATTN_WG}u;
  let b = wg_lin / tiles;
  if (b >= params.batch) { return; }
  let first = (wg_lin % tiles) * ${ATTN_WG}u;`;
}

/**
 * Backward, queries: dq_i = scale · Σ_j P_ij (dP_ij − Δ_i) k_j with P recomputed from the lse,
 * dP_ij = dO_i · v_j and Δ_i = dO_i · O_i, which it also writes for the key pass. Workgroups are
 * batch × ceil(Tq / 64); K and V are staged as in the forward.
 */
export function attentionBackwardQKernel(
  dt: DType,
  od: DType,
  cap: number,
): KernelDef<typeof ATTENTION_PARAMS.schema> {
  const kt = attentionTileRows(cap);
  return {
    params: ATTENTION_PARAMS,
    key: `attention_bwd_q:${dt}:${od}:${cap}`,
    bufs: [
      { name: 'g', dtype: dt, access: 'read' },
      { name: 'q', dtype: dt, access: 'read' },
      { name: 'k', dtype: dt, access: 'read' },
      { name: 'v', dtype: dt, access: 'read' },
      { name: 'o', dtype: dt, access: 'read' },
      { name: 'lse', dtype: 'f32', access: 'read' },
      { name: 'dq', dtype: od, access: 'rw' },
      { name: 'delta', dtype: 'f32', access: 'rw' },
    ],
    body: `
var<workgroup> ktile: array<f32, ${kt * cap}>;
var<workgroup> vtile: array<f32, ${kt * cap}>;
@compute @workgroup_size(${ATTN_WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  ${PREAMBLE}
  ${workgroupRows('tq')}
  let i = first + lid;
  let live = i < tq;
  let t = b * tq + i;
  let len = select(tk, min(tk, i + 1u), causal);
  let kend = select(tk, min(tk, min(tq, first + ${ATTN_WG}u)), causal);
  var qv: array<f32, ${cap}>;
  var gv: array<f32, ${cap}>;
  var dqa: array<f32, ${cap}>;
  var delta_i = 0.0;
  var lse_i = 0.0;
  if (live) {
    ${loadRow('qv', 'q', 't', ' * scale')}
    ${loadRow('gv', 'g', 't')}
    var acc_ = 0.0;
    ${dotRow('gv', 'o', 't')}
    delta_i = acc_;
    lse_i = lse[t];
  }
  for (var j0 = 0u; j0 < kend; j0 += ${kt}u) {
    let n = min(${kt}u, kend - j0);
    workgroupBarrier();
    ${stageTile('ktile', 'k', 'b * tk + j0', cap)}
    ${stageTile('vtile', 'v', 'b * tk + j0', cap)}
    workgroupBarrier();
    let nj = select(0u, min(n, len - min(len, j0)), live);
    for (var jj = 0u; jj < nj; jj++) {
      let o_ = jj * ${cap}u;
      var s = 0.0;
      var dp = 0.0;
      for (var c = 0u; c < D; c++) {
        s += qv[c] * ktile[o_ + c];
        dp += gv[c] * vtile[o_ + c];
      }
      let ds = exp(s - lse_i) * (dp - delta_i);
      for (var c = 0u; c < D; c++) { dqa[c] += ds * ktile[o_ + c]; }
    }
  }
  if (!live) { return; }
  ${storeRow('dq', 'dqa', 't', od, ' * scale')}
  delta[t] = delta_i;
}
`,
  };
}

/** Query rows a key-pass workgroup stages per tile: Q and dO tiles plus lse and Δ fit 16 KiB. */
export function attentionKvTileRows(cap: number): number {
  return Math.min(ATTN_WG, 1024 / cap);
}

/**
 * Backward, keys: dk_j = scale · Σ_i P_ij (dP_ij − Δ_i) q_i and dv_j = Σ_i P_ij dO_i over the
 * queries that see key j (i >= j when causal). Workgroups are batch × ceil(Tk / 64), each owning 64
 * key rows and staging Q, dO, lse and Δ a tile of query rows at a time.
 */
export function attentionBackwardKvKernel(
  dt: DType,
  od: DType,
  cap: number,
): KernelDef<typeof ATTENTION_PARAMS.schema> {
  const qt = attentionKvTileRows(cap);
  return {
    params: ATTENTION_PARAMS,
    key: `attention_bwd_kv:${dt}:${od}:${cap}`,
    bufs: [
      { name: 'g', dtype: dt, access: 'read' },
      { name: 'q', dtype: dt, access: 'read' },
      { name: 'k', dtype: dt, access: 'read' },
      { name: 'v', dtype: dt, access: 'read' },
      { name: 'lse', dtype: 'f32', access: 'read' },
      { name: 'delta', dtype: 'f32', access: 'read' },
      { name: 'dk', dtype: od, access: 'rw' },
      { name: 'dv', dtype: od, access: 'rw' },
    ],
    body: `
var<workgroup> qtile: array<f32, ${qt * cap}>;
var<workgroup> gtile: array<f32, ${qt * cap}>;
var<workgroup> ltile: array<f32, ${qt}>;
var<workgroup> dtile: array<f32, ${qt}>;
@compute @workgroup_size(${ATTN_WG})
fn main(${ENTRY_ARGS}) {
  ${LINEAR_WG}
  ${PREAMBLE}
  ${workgroupRows('tk')}
  let j = first + lid;
  let live = j < tk;
  let t = b * tk + j;
  var kv: array<f32, ${cap}>;
  var vv: array<f32, ${cap}>;
  var dka: array<f32, ${cap}>;
  var dva: array<f32, ${cap}>;
  if (live) {
    ${loadRow('kv', 'k', 't', ' * scale')}
    ${loadRow('vv', 'v', 't')}
  }
  // Queries before the workgroup's first key see none of its keys when causal.
  for (var i0 = select(0u, min(first, tq), causal); i0 < tq; i0 += ${qt}u) {
    let n = min(${qt}u, tq - i0);
    workgroupBarrier();
    ${stageTile('qtile', 'q', 'b * tq + i0', cap)}
    ${stageTile('gtile', 'g', 'b * tq + i0', cap)}
    if (lid < n) {
      ltile[lid] = lse[b * tq + i0 + lid];
      dtile[lid] = delta[b * tq + i0 + lid];
    }
    workgroupBarrier();
    let start = select(0u, j - min(j, i0), causal);
    let ni = select(0u, n, live);
    for (var ii = start; ii < ni; ii++) {
      let o_ = ii * ${cap}u;
      var s = 0.0;
      var dp = 0.0;
      for (var c = 0u; c < D; c++) {
        s += kv[c] * qtile[o_ + c];
        dp += vv[c] * gtile[o_ + c];
      }
      let p = exp(s - ltile[ii]);
      let ds = p * (dp - dtile[ii]);
      for (var c = 0u; c < D; c++) {
        dka[c] += ds * qtile[o_ + c];
        dva[c] += p * gtile[o_ + c];
      }
    }
  }
  if (!live) { return; }
  ${storeRow('dk', 'dka', 't', od, ' * scale')}
  ${storeRow('dv', 'dva', 't', od)}
}
`,
  };
}
