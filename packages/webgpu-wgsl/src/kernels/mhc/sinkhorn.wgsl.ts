import { U } from './common.js';

/**
 * Sinkhorn-Knopp on one token's hc×hc matrix, held in a function-local array (one thread per token:
 * hc ≤ 8 makes it at most 64 values, and the math is a few hundred flops).
 *
 *   P = softmax(L over the last axis) + eps
 *   step 0:        P = P / (column sums + eps)
 *   steps 1..:     rows, then columns, tmax-1 times          (2·tmax-1 normalisations in all)
 *
 * History layout per token (f32, HS = hc² + (2·tmax-1)·hc words): the final P, then each step's
 * hc normalisers (the sums + eps) in step order.
 *
 * Backward walks the steps from last to first. For Q = P / d (d the sum + eps of a row or column),
 *   dP = (dQ - Σ_line dQ·Q) / d     and     P = Q · d,
 * so the step's input is rebuilt from its output and normaliser: the walk needs no stored
 * intermediate matrices, only the normalisers (saved by the forward, or recomputed by the backward).
 * Finally the softmax: dL = S ⊙ (dP0 - Σ_row dP0·S), with S recomputed from L.
 *
 * The code is generated unrolled over the matrix (see `U`): every local array index is a constant.
 */

/** k-th element of line a (a row when isRow, else a column). */
const at = (hc: number, isRow: boolean, a: number, b: number): number => (isRow ? a * hc + b : b * hc + a);

/** P := softmax(P over rows) + eps. */
export function skSoftmax(hc: number, P: string, eps: string): string {
  return U(hc, (i) => {
    const idx = (j: number) => `${P}[${i * hc + j}]`;
    return `{
    var mx = ${idx(0)};
    ${U(hc - 1, (j) => `mx = max(mx, ${idx(j + 1)});`, ' ')}
    ${U(hc, (j) => `${idx(j)} = exp(${idx(j)} - mx);`, ' ')}
    let s = ${U(hc, (j) => idx(j), ' + ')};
    ${U(hc, (j) => `${idx(j)} = ${idx(j)} / s + ${eps};`, ' ')}
  }`;
  });
}

/** Normalise the rows or columns of P; `save(a, d)` is a statement storing normaliser a. */
export function skNorm(
  hc: number,
  isRow: boolean,
  P: string,
  eps: string,
  save: (a: number, d: string) => string,
): string {
  return U(hc, (a) => {
    const idx = (b: number) => `${P}[${at(hc, isRow, a, b)}]`;
    return `{
    let d = ${U(hc, idx, ' + ')} + ${eps};
    ${U(hc, (b) => `${idx(b)} = ${idx(b)} / d;`, ' ')}
    ${save(a, 'd')}
  }`;
  });
}

/** One backward step: Q, dQ become the step's input and its gradient; `d(a)` loads normaliser a. */
export function skNormBack(
  hc: number,
  isRow: boolean,
  Q: string,
  dQ: string,
  d: (a: number) => string,
): string {
  return U(hc, (a) => {
    const q = (b: number) => `${Q}[${at(hc, isRow, a, b)}]`;
    const g = (b: number) => `${dQ}[${at(hc, isRow, a, b)}]`;
    return `{
    let da = ${d(a)};
    let dot = ${U(hc, (b) => `${g(b)} * ${q(b)}`, ' + ')};
    ${U(hc, (b) => `${g(b)} = (${g(b)} - dot) / da; ${q(b)} = ${q(b)} * da;`, ' ')}
  }`;
  });
}

/** L := dL from dP (the gradient of softmax(L) + eps); S is recomputed from L. */
export function skSoftmaxBack(hc: number, L: string, dP: string): string {
  return `{
  var S = ${L};
  ${skSoftmax(hc, 'S', '0.0')}
  ${U(hc, (i) => {
    const s = (j: number) => `S[${i * hc + j}]`;
    const g = (j: number) => `${dP}[${i * hc + j}]`;
    return `{
    let dot = ${U(hc, (j) => `${g(j)} * ${s(j)}`, ' + ')};
    ${U(hc, (j) => `${L}[${i * hc + j}] = ${s(j)} * (${g(j)} - dot);`, ' ')}
  }`;
  })}
  }`;
}

/** Loop forms for the compact forward kernel (large hc): the matrix is reached through `A`. */
const lineIdx = (isRow: boolean, a: string, b: string): string =>
  isRow ? `${a} * SK_HC + ${b}` : `${b} * SK_HC + ${a}`;

/** Element k (a WGSL u32 expression) of a matrix, e.g. (k) => `ws[wb + ${k}]`. */
export type At = (k: string) => string;

export function cSkSoftmax(A: At, eps: string): string {
  return `for (var i = 0u; i < SK_HC; i++) {
    let r = i * SK_HC;
    var mx = ${A('r')};
    for (var j = 1u; j < SK_HC; j++) { mx = max(mx, ${A('r + j')}); }
    var s = 0.0;
    for (var j = 0u; j < SK_HC; j++) { let e = exp(${A('r + j')} - mx); ${A('r + j')} = e; s += e; }
    for (var j = 0u; j < SK_HC; j++) { ${A('r + j')} = ${A('r + j')} / s + ${eps}; }
  }`;
}

export function cSkNorm(A: At, isRow: boolean, eps: string, save: (a: string, d: string) => string): string {
  return `for (var a = 0u; a < SK_HC; a++) {
    var d = 0.0;
    for (var b = 0u; b < SK_HC; b++) { d += ${A(lineIdx(isRow, 'a', 'b'))}; }
    d += ${eps};
    for (var b = 0u; b < SK_HC; b++) { let k = ${lineIdx(isRow, 'a', 'b')}; ${A('k')} = ${A('k')} / d; }
    ${save('a', 'd')}
  }`;
}
