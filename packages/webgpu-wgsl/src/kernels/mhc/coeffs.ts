import {
  ArgumentError,
  type CoeffsBackwardArgs,
  type CoeffsBackwardResult,
  type CoeffsForwardArgs,
  type CoeffsForwardResult,
  type DType,
  ShapeError,
  sizeOf,
  type TensorInfo,
} from '@liger-mhc/core';
import type { WebGpuBackend } from '../../backend.js';
import {
  COMPACT_M,
  coeffsBackwardPhiReduceKernel,
  coeffsBackwardReduceKernel,
  coeffsBackwardTokenKernel,
  coeffsBackwardXCompactKernel,
  coeffsBackwardXKernel,
  coeffsForwardCompactKernel,
  coeffsForwardKernel,
  coeffsShape,
} from './coeffs.wgsl.js';
import {
  coeffsForwardSplitKernel,
  coeffsPhiPackKernel,
  coeffsSplit,
  coeffsSplitBlocker,
  coeffsSplitReduceKernel,
  SPLIT_KG16_K,
  SPLIT_PRE_PIECES,
  SPLIT_REDUCE_WG,
  SPLIT_SMALL_N,
  type SplitOptions,
  splitMainParams,
} from './coeffs-split.wgsl.js';
import { wide } from './common.js';
import { expectSize, pairOutput } from './host-helpers.js';

// Host side of coeffs (coeffs.wgsl.ts, coeffs-split.wgsl.ts): the forward's path choice and split
// options, the forward (optionally with the fused pre) and the backward. Every argument is checked
// before anything is allocated or encoded. `pinned`: the split options tests pin (kernelOverrides),
// {} in production.

/**
 * The split kernel's options for a call of N tokens and K = hc·c (production choices, each the
 * faster of the measured alternatives at the shapes it covers):
 *  - 4 tokens a thread below SPLIT_SMALL_N tokens: with 8, small calls leave too few tiles to
 *    fill the GPU;
 *  - with 8 tokens, from K = SPLIT_KG16_K, 16 threads per token along K, no Σx² split and no
 *    touch loads; below it, 8 threads, the Σx² split between column groups and touch loads one
 *    step ahead (each set won at its shapes and lost at the other's);
 *  - the KG threads' partial sums added with subgroup shuffles where the device allows it (no
 *    barriers), else through workgroup memory;
 *  - tiles from the last token down (with 8 tokens): the op before a layer's coeffs (post_res of
 *    the previous layer, ascending) leaves its last tokens in L2.
 * Tests pin other valid sets through the package's internals (kernelOverrides).
 */
export function splitOptions(be: WebGpuBackend, pinned: SplitOptions, N: number, K: number): SplitOptions {
  const tokens = pinned.tokens ?? (N < SPLIT_SMALL_N ? 4 : 8);
  const base: SplitOptions =
    tokens !== 8
      ? {}
      : K >= SPLIT_KG16_K
        ? { kg: 16, ssSplit: false, prefetch: 0, tileOrder: 'desc' }
        : { kg: 8, ssSplit: true, prefetch: 1, tileOrder: 'desc' };
  const o: SplitOptions = { ...base, ...pinned, tokens };
  // The shuffle reduction where the device's subgroups allow it (see WebGpuBackend.subgroupLanes).
  // Its butterfly runs over a token's KG threads inside one subgroup, so on narrower subgroups
  // (lavapipe with 128-bit vectors has 4 lanes) even a requested 'subgroup' takes the workgroup
  // reduction: its shuffles would otherwise read lanes outside the subgroup (undefined values).
  const lanes = be.subgroupLanes;
  const fits = lanes > 0 && lanes >= (o.kg ?? 8);
  if (o.reduce === 'subgroup' && !fits) return { ...o, reduce: 'workgroup' };
  return { reduce: fits ? 'subgroup' : 'workgroup', ...o };
}

/** b and the three alphas in one f32 [M+3] buffer (the kernels' `coef`). */
function coefBuffer(
  be: WebGpuBackend,
  args: { b: TensorInfo; alphaPre: TensorInfo; alphaPost: TensorInfo; alphaRes: TensorInfo },
  M: number,
) {
  coefDtypes(args);
  const coef = be.output([M + 3], 'f32');
  const dst = be.buf(coef, 'coef');
  be.copy(be.buf(args.b, 'b'), 0, dst, 0, M * 4);
  be.copy(be.buf(args.alphaPre, 'alphaPre'), 0, dst, M * 4, 4);
  be.copy(be.buf(args.alphaPost, 'alphaPost'), 0, dst, (M + 1) * 4, 4);
  be.copy(be.buf(args.alphaRes, 'alphaRes'), 0, dst, (M + 2) * 4, 4);
  return coef;
}

function coefDtypes(args: Record<string, TensorInfo>): void {
  for (const [name, t] of Object.entries(args))
    if (t.dtype !== 'f32') throw new ArgumentError(name, `expected dtype f32, got ${t.dtype}`);
}

function coeffsDims(x: TensorInfo, phi: TensorInfo, b: TensorInfo, hc: number) {
  if (x.shape.length !== 2) throw new ShapeError('x', '[N, K]', x.shape);
  const [N, K] = x.shape as [number, number];
  if (!Number.isInteger(hc) || hc < 1)
    throw new ArgumentError('config.hc', `expected a positive integer, got ${hc}`);
  const { M } = coeffsShape(hc);
  if (K % hc !== 0) throw new ShapeError('x', `[N, K] with K a multiple of hc=${hc}`, x.shape);
  expectSize(phi, 'phi', [K, M]);
  expectSize(b, 'b', [M]);
  return { N, K, M };
}

/**
 * The split path computes pre in its per-token dispatch when x is half with c a multiple of 8 and
 * the device allows 9 storage bindings (WebGPU's default is 8).
 */
export function supportsCoeffsPre(be: WebGpuBackend, args: CoeffsForwardArgs): boolean {
  const { x, config } = args;
  const hc = config.hc;
  if (x.shape.length !== 2 || !Number.isInteger(hc) || hc < 1) return false;
  const K = x.shape[1]!;
  return (
    K % hc === 0 && splitPath(be, hc, x.dtype, K) && wide(K / hc, x.dtype) && be.limits.maxStorageBuffers >= 9
  );
}

function splitPath(be: WebGpuBackend, hc: number, dtype: DType, K: number): boolean {
  return be.capabilities.coeffsForward === 'split' && coeffsSplitBlocker(hc, dtype, K) === null;
}

/** coeffsForward, and with `pre` (where supportsCoeffsPre) xIn from the same dispatch. */
export function coeffsForward(
  be: WebGpuBackend,
  pinned: SplitOptions,
  args: CoeffsForwardArgs,
  pre: boolean,
): CoeffsForwardResult & { xIn?: TensorInfo } {
  const { x, phi, b, alphaPre, alphaPost, alphaRes, config, save } = args;
  be.check({ x, phi, b, alphaPre, alphaPost, alphaRes });
  const hc = config.hc;
  const { N, K, M } = coeffsDims(x, phi, b, hc);
  if (!Number.isInteger(config.tmax) || config.tmax < 1)
    throw new ArgumentError('config.tmax', `expected an integer >= 1, got ${config.tmax}`);
  for (const [name, t] of Object.entries({ alphaPre, alphaPost, alphaRes }))
    if (sizeOf(t.shape) !== 1) throw new ShapeError(name, '[]', t.shape);
  const { T } = coeffsShape(hc);
  const compact = M > COMPACT_M;
  const split = splitPath(be, hc, x.dtype, K);
  // The split path's pack kernel writes these coefficients itself (no copies: see coeffs-split).
  coefDtypes({ b, alphaPre, alphaPost, alphaRes });
  const coef = split ? null : coefBuffer(be, { b, alphaPre, alphaPost, alphaRes }, M);
  const hPre = be.output([N, hc], 'f32');
  const hPost = be.output([N, hc], 'f32');
  const hRes = be.output([N, hc, hc], 'f32');
  const saved: TensorInfo[] = [];
  let xIn: TensorInfo | undefined;
  const HS = hc * hc + (2 * config.tmax - 1) * hc;
  const s1 = save === 'none' ? null : be.output([N, M + 1], 'f32');
  const s2 = save === 'history' ? be.output([N, HS], 'f32') : null;
  if (s1) saved.push(s1);
  if (s2) saved.push(s2);
  const d1 = s1 ?? be.output([1], 'f32');
  const d2 = s2 ?? be.output([1], 'f32');
  const params = {
    N,
    K,
    KP: Math.ceil(K / 2),
    tmax: config.tmax,
    rmsEps: config.rmsEps,
    preEps: config.preEps,
    sinkhornEps: config.sinkhornEps,
    postMult: config.postMult,
  };
  if (split) {
    // φ repacked for the kernel's loads, partial sums per K chunk, then a per-token kernel adds
    // them in chunk order and runs the epilogue (see coeffs-split.wgsl.ts).
    const o = splitOptions(be, pinned, N, K);
    const g = coeffsSplit(N, K, hc, o);
    const pp = be.output([g.packedLen * 4], 'f32');
    // A pack per call, also when φ is unchanged: keeping it across calls (with change tracking
    // of φ, b and the alphas) measured slower on the layer forward.
    be.dispatch(
      coeffsPhiPackKernel(hc, phi.dtype, o),
      [phi, b, alphaPre, alphaPost, alphaRes, pp],
      { K, packed: g.packed },
      Math.ceil(g.packedLen / 256),
    );
    const part = be.output([g.chunks * (M + 1) * N], 'f32');
    be.dispatch(
      coeffsForwardSplitKernel(hc, x.dtype, K, o),
      [x, pp, part],
      splitMainParams(N, K, g),
      g.tiles * g.chunks,
    );
    // With pre (coeffsPreForward) the same dispatch also writes xIn: its extra workgroups run the
    // pre step beside the epilogue (see coeffsSplitReduceKernel).
    const c = K / hc;
    const fusePre = pre;
    xIn = fusePre ? be.output([N, c], x.dtype) : undefined;
    const E = Math.ceil(N / SPLIT_REDUCE_WG);
    const prePieces = o.prePieces ?? SPLIT_PRE_PIECES;
    const per = Math.ceil(c / 8 / prePieces);
    be.dispatch(
      coeffsSplitReduceKernel(hc, save, fusePre ? x.dtype : null, prePieces, o.preOrder),
      [part, pp, hPre, hPost, hRes, d1, d2, ...(xIn ? [x, xIn] : [])],
      {
        ...params,
        chunks: g.chunks,
        coefOffset: g.packed * 4,
        epilogueGroups: E,
        per,
        total: N * per,
        // Pieces a row for the pre role; c is a multiple of 8 only where that role runs.
        P8: fusePre ? c / 8 : 0,
      },
      E + (fusePre ? Math.ceil((N * per) / SPLIT_REDUCE_WG) : 0),
    );
    be.disposeData(pp.handle);
    be.disposeData(part.handle);
  } else {
    be.dispatch(
      (compact ? coeffsForwardCompactKernel : coeffsForwardKernel)(hc, x.dtype, phi.dtype, K, save),
      [x, phi, coef!, hPre, hPost, hRes, d1, d2],
      params,
      compact ? N : Math.ceil(N / T),
    );
  }
  if (coef) be.disposeData(coef.handle);
  if (!s1) be.disposeData(d1.handle);
  if (!s2) be.disposeData(d2.handle);
  return xIn ? { hPre, hPost, hRes, saved, xIn } : { hPre, hPost, hRes, saved };
}

export function coeffsBackward(be: WebGpuBackend, args: CoeffsBackwardArgs): CoeffsBackwardResult {
  const { x, phi, b, alphaPre, alphaPost, alphaRes, config, save, needs, saved } = args;
  const { gradHPre, gradHPost, gradHRes } = args;
  be.check({ x, phi, b, alphaPre, alphaPost, alphaRes, gradHPre, gradHPost, gradHRes });
  saved.forEach((t, i) => {
    be.check({ [`saved[${i}]`]: t });
  });
  const hc = config.hc;
  const { N, K, M } = coeffsDims(x, phi, b, hc);
  const compact = M > COMPACT_M;
  const s1 = saved[0];
  if (!s1 || s1.shape[0] !== N || s1.shape[1] !== M + 1)
    throw new ArgumentError('saved', 'expected the tensors saved by coeffsForward (with save != none)');
  const s2 = save === 'history' ? saved[1] : undefined;
  if (save === 'history' && !s2)
    throw new ArgumentError('saved', "save = 'history' but the forward saved no Sinkhorn history");
  for (const [name, t, shape] of [
    ['gradHPre', gradHPre, [N, hc]],
    ['gradHPost', gradHPost, [N, hc]],
    ['gradHRes', gradHRes, [N, hc, hc]],
  ] as const) {
    if (!t) continue;
    expectSize(t, name, shape);
    if (t.dtype !== 'f32') throw new ArgumentError(name, `expected dtype f32, got ${t.dtype}`);
  }
  const result: CoeffsBackwardResult = {
    gradX: null,
    gradPhi: null,
    gradB: null,
    gradAlphaPre: null,
    gradAlphaPost: null,
    gradAlphaRes: null,
  };
  if (!needs.x && !needs.phi && !needs.b && !needs.alphas) return result;

  const coef = coefBuffer(be, { b, alphaPre, alphaPost, alphaRes }, M);
  // The three cotangents as planes of one buffer; a missing one stays zero.
  const cot = be.zeros([N * M], 'f32');
  const cotBuf = be.buf(cot, 'cot');
  if (gradHPre) be.copy(be.buf(gradHPre, 'gradHPre'), 0, cotBuf, 0, N * hc * 4);
  if (gradHPost) be.copy(be.buf(gradHPost, 'gradHPost'), 0, cotBuf, N * hc * 4, N * hc * 4);
  if (gradHRes) be.copy(be.buf(gradHRes, 'gradHRes'), 0, cotBuf, 2 * N * hc * 4, N * hc * hc * 4);
  const gf = be.output([N, M + 1], 'f32');
  const tr = be.output([N, M + 3], 'f32');
  // Recompute mode: the kernel reruns the Sinkhorn forward into this scratch of history layout.
  const HS = hc * hc + (2 * config.tmax - 1) * hc;
  const d2 = s2 ?? be.output([gradHRes ? N * HS : 1], 'f32');
  be.dispatch(
    coeffsBackwardTokenKernel(hc, save),
    [s1, d2, coef, cot, gf, tr],
    {
      N,
      K,
      tmax: config.tmax,
      sinkhornEps: config.sinkhornEps,
      postMult: config.postMult,
      gradRes: gradHRes ? 1 : 0,
    },
    Math.ceil(N / 64),
  );
  if (!s2) be.disposeData(d2.handle);
  be.disposeData(coef.handle);
  be.disposeData(cot.handle);

  if (needs.b || needs.alphas) {
    const red = be.output([M + 3], 'f32');
    be.dispatch(coeffsBackwardReduceKernel(), [tr, red], { N, cols: M + 3 }, M + 3);
    const rb = be.buf(red, 'red');
    if (needs.b) {
      result.gradB = be.output([M], 'f32');
      be.copy(rb, 0, be.buf(result.gradB, 'gradB'), 0, M * 4);
    }
    if (needs.alphas) {
      const names = ['gradAlphaPre', 'gradAlphaPost', 'gradAlphaRes'] as const;
      names.forEach((name, i) => {
        const t = be.output([], 'f32');
        be.copy(rb, (M + i) * 4, be.buf(t, name), 0, 4);
        result[name] = t;
      });
    }
    be.disposeData(red.handle);
  }
  be.disposeData(tr.handle);

  if (needs.x || needs.phi) {
    const WG = 64;
    const KP = Math.ceil(K / 2);
    const KB = Math.ceil(KP / WG);
    // Token chunks: enough workgroups to fill a large GPU (~2048), chunks of >= 16 tokens. The
    // split depends on the shape only, so the reduction order (and the bits) never change.
    let chunks = Math.max(1, Math.min(Math.ceil(2048 / KB), Math.ceil(N / 16)));
    // No tokens: one chunk of nothing (the kernels then write zero gradients), not 0 / 0 chunks.
    const NC = Math.max(1, Math.ceil(N / chunks));
    chunks = Math.max(1, Math.ceil(N / NC));
    const gx = needs.x ? pairOutput(be, [N, K], x.dtype, K) : null;
    const gxT = gx?.t ?? be.output([1], 'f32');
    const direct = chunks === 1 && needs.phi;
    // The compact kernel accumulates into `part` in place: it must start at zero.
    const scratch = (shape: number[]) => (compact ? be.zeros(shape, 'f32') : be.output(shape, 'f32'));
    const gradPhi = needs.phi ? scratch([K, M]) : null;
    const part = direct ? gradPhi! : needs.phi ? scratch([chunks * K * M]) : be.output([1], 'f32');
    be.dispatch(
      (compact ? coeffsBackwardXCompactKernel : coeffsBackwardXKernel)(
        hc,
        x.dtype,
        phi.dtype,
        gx?.od ?? 'f32',
        K,
      ),
      [x, phi, gf, gxT, part],
      { N, K, KP, NC, KB, needX: needs.x ? 1 : 0, needPhi: needs.phi ? 1 : 0 },
      KB * chunks,
    );
    if (gradPhi && !direct) {
      be.dispatch(
        coeffsBackwardPhiReduceKernel(),
        [part, gradPhi],
        { KM: K * M, chunks },
        Math.ceil((K * M) / 256),
      );
    }
    if (!direct) be.disposeData(part.handle);
    if (gx) result.gradX = gx.finish();
    else be.disposeData(gxT.handle);
    result.gradPhi = gradPhi;
  }
  be.disposeData(gf.handle);
  return result;
}
