import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CoeffsConfig,
  type DType,
  decode,
  encode,
  type SinkhornSaveMode,
  type TensorInfo,
} from '@liger-mhc/core';
import type { CudaBackend } from '../../src/index.js';
import { type Check, compare, dispose, download, TOL, upload } from './util.js';

interface FT {
  shape: number[];
  data: number[];
}
// biome-ignore lint/suspicious/noExplicitAny: fixture JSON is loosely typed; fields are read by name
type Fixture = any;

export function loadFixtures(dir: string): Fixture[] {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { file: string; op: string }[];
  return index.map((e) => JSON.parse(readFileSync(join(dir, e.file), 'utf8')));
}

const dt = (s: string): DType => s as DType;

function cfg(f: Fixture, hc: number): CoeffsConfig {
  return {
    hc,
    tmax: f.config.tmax,
    rmsEps: f.config.rmsEps,
    preEps: f.config.preEps,
    sinkhornEps: f.config.sinkhornEps,
    postMult: f.config.postMult,
  };
}

/** Forward and backward of every mHC kernel against the golden fixtures, called directly (no autograd). */
export async function runGolden(be: CudaBackend, dir: string): Promise<Check[]> {
  const checks: Check[] = [];
  for (const f of loadFixtures(dir)) {
    if (f.op === 'coeffs')
      for (const save of ['history', 'recompute'] as const) checks.push(...(await coeffsCase(be, f, save)));
    else if (f.op === 'apply') checks.push(...(await applyCase(be, f)));
    else if (f.op === 'layer')
      for (const save of ['history', 'recompute'] as const) checks.push(...(await layerCase(be, f, save)));
  }
  return checks;
}

/**
 * A float64 cotangent as two tensors of the storage dtype whose sum is (nearly) exact: gradients are
 * linear in the cotangent, so running the backward on both and adding the results on the host
 * compares against the fixture's unrounded cotangent (as core's conformance kit does).
 */
function splitCotangent(be: CudaBackend, t: FT, shape: number[], dtype: DType): [TensorInfo, TensorInfo] {
  const hi = decode(dtype, encode(dtype, t.data));
  const lo = t.data.map((v, i) => v - hi[i]!);
  return [upload(be, hi, shape, dtype), upload(be, lo, shape, dtype)];
}

async function sum2(
  be: CudaBackend,
  a: TensorInfo | null,
  b: TensorInfo | null,
): Promise<Float64Array | null> {
  if (!a || !b) return null;
  const x = await download(be, a);
  const y = await download(be, b);
  return x.map((v, i) => v + y[i]!);
}

function cmpArr(name: string, tensor: string, actual: Float64Array | null, e: FT, dtype: DType): Check {
  if (!actual) return { case: name, tensor, pass: false, ratio: Infinity, maxAbs: Infinity };
  return compare(name, tensor, actual, e.data, TOL[dtype]);
}

async function cmp(
  be: CudaBackend,
  name: string,
  tensor: string,
  t: TensorInfo | null,
  e: FT,
): Promise<Check> {
  if (!t) return { case: name, tensor, pass: false, ratio: Infinity, maxAbs: Infinity };
  return compare(name, tensor, await download(be, t), e.data, TOL[t.dtype]);
}

function coeffsInputs(be: CudaBackend, f: Fixture) {
  const xs = f.inputs.x.shape as number[];
  const hc = xs[xs.length - 2]!;
  const c = xs[xs.length - 1]!;
  const n = xs.slice(0, -2).reduce((a: number, b: number) => a * b, 1);
  const x = upload(be, f.inputs.x.data, [n, hc * c], dt(f.dtypes.x));
  const phi = upload(be, f.inputs.phi.data, f.inputs.phi.shape, dt(f.dtypes.phi));
  const b = upload(be, f.inputs.b.data, f.inputs.b.shape, 'f32');
  const aPre = upload(be, f.inputs.alphaPre.data, [], 'f32');
  const aPost = upload(be, f.inputs.alphaPost.data, [], 'f32');
  const aRes = upload(be, f.inputs.alphaRes.data, [], 'f32');
  return { x, phi, b, aPre, aPost, aRes, hc, c, n };
}

async function coeffsCase(be: CudaBackend, f: Fixture, save: SinkhornSaveMode): Promise<Check[]> {
  const name = `${f.name} [${save}]`;
  const { x, phi, b, aPre, aPost, aRes, hc, n } = coeffsInputs(be, f);
  const config = cfg(f, hc);
  const fw = be.mhc.coeffsForward({
    x,
    phi,
    b,
    alphaPre: aPre,
    alphaPost: aPost,
    alphaRes: aRes,
    config,
    save,
  });
  const out: Check[] = [
    await cmp(be, name, 'hPre', fw.hPre, f.outputs.hPre),
    await cmp(be, name, 'hPost', fw.hPost, f.outputs.hPost),
    await cmp(be, name, 'hRes', fw.hRes, f.outputs.hRes),
  ];
  const isZero = (t: FT) => t.data.every((v) => v === 0);
  const g = (t: FT, shape: number[]) => (isZero(t) ? null : upload(be, t.data, shape, 'f32'));
  const gPre = g(f.cotangents.hPre, [n, hc]);
  const gPost = g(f.cotangents.hPost, [n, hc]);
  const gRes = g(f.cotangents.hRes, [n, hc, hc]);
  const bw = be.mhc.coeffsBackward({
    gradHPre: gPre,
    gradHPost: gPost,
    gradHRes: gRes,
    x,
    phi,
    b,
    alphaPre: aPre,
    alphaPost: aPost,
    alphaRes: aRes,
    hPre: fw.hPre,
    hPost: fw.hPost,
    hRes: fw.hRes,
    saved: fw.saved,
    config,
    save,
    needs: { x: true, phi: true, b: true, alphas: true },
  });
  out.push(
    await cmp(be, name, 'grad x', bw.gradX, f.grads.x),
    await cmp(be, name, 'grad phi', bw.gradPhi, f.grads.phi),
    await cmp(be, name, 'grad b', bw.gradB, f.grads.b),
    await cmp(be, name, 'grad alphaPre', bw.gradAlphaPre, f.grads.alphaPre),
    await cmp(be, name, 'grad alphaPost', bw.gradAlphaPost, f.grads.alphaPost),
    await cmp(be, name, 'grad alphaRes', bw.gradAlphaRes, f.grads.alphaRes),
  );
  dispose(be, x, phi, b, aPre, aPost, aRes, fw.hPre, fw.hPost, fw.hRes, ...fw.saved, gPre, gPost, gRes);
  dispose(be, bw.gradX, bw.gradPhi, bw.gradB, bw.gradAlphaPre, bw.gradAlphaPost, bw.gradAlphaRes);
  return out;
}

async function applyCase(be: CudaBackend, f: Fixture): Promise<Check[]> {
  const name = f.name;
  const xs = f.inputs.x.shape as number[];
  const hc = xs[xs.length - 2]!;
  const c = xs[xs.length - 1]!;
  const n = xs.slice(0, -2).reduce((a: number, b: number) => a * b, 1);
  const d = dt(f.dtypes.x);
  const x = upload(be, f.inputs.x.data, [n, hc, c], d);
  const fx = upload(be, f.inputs.f.data, [n, c], dt(f.dtypes.f));
  const hPre = upload(be, f.inputs.hPre.data, [n, hc], 'f32');
  const hPost = upload(be, f.inputs.hPost.data, [n, hc], 'f32');
  const hRes = upload(be, f.inputs.hRes.data, [n, hc, hc], 'f32');
  const orient = f.config.orientation;
  const xIn = be.mhc.preForward(x, hPre);
  const xOut = be.mhc.postResForward(x, fx, hPost, hRes, orient);
  const gIns = splitCotangent(be, f.cotangents.xIn, [n, c], d);
  const gOuts = splitCotangent(be, f.cotangents.xOut, [n, hc, c], d);
  const pb = gIns.map((g) => be.mhc.preBackward(g, x, hPre));
  const prb = gOuts.map((g) => be.mhc.postResBackward(g, x, fx, hPost, hRes, orient));
  // Gradients of activations are stored in the activation dtype; those of the coefficients are f32
  // sums over c of products with bf16 values, judged at the activation dtype's tolerance too.
  const out = [
    await cmp(be, name, 'xIn', xIn, f.outputs.xIn),
    await cmp(be, name, 'xOut', xOut, f.outputs.xOut),
    cmpArr(name, 'pre grad x', await sum2(be, pb[0]!.gradX, pb[1]!.gradX), f.grads.pre.x, d),
    cmpArr(name, 'pre grad hPre', await sum2(be, pb[0]!.gradHPre, pb[1]!.gradHPre), f.grads.pre.hPre, d),
    cmpArr(name, 'postRes grad x', await sum2(be, prb[0]!.gradX, prb[1]!.gradX), f.grads.postRes.x, d),
    cmpArr(name, 'postRes grad f', await sum2(be, prb[0]!.gradF, prb[1]!.gradF), f.grads.postRes.f, d),
    cmpArr(
      name,
      'postRes grad hPost',
      await sum2(be, prb[0]!.gradHPost, prb[1]!.gradHPost),
      f.grads.postRes.hPost,
      d,
    ),
    cmpArr(
      name,
      'postRes grad hRes',
      await sum2(be, prb[0]!.gradHRes, prb[1]!.gradHRes),
      f.grads.postRes.hRes,
      d,
    ),
  ];
  dispose(be, x, fx, hPre, hPost, hRes, xIn, xOut, ...gIns, ...gOuts);
  for (const r of pb) dispose(be, r.gradX, r.gradHPre);
  for (const r of prb) dispose(be, r.gradX, r.gradF, r.gradHPost, r.gradHRes);
  return out;
}

/** The mHC layer around f = xIn . W^T, composed from the kernels, forward and backward. */
async function layerCase(be: CudaBackend, f: Fixture, save: SinkhornSaveMode): Promise<Check[]> {
  const name = `${f.name} [${save}]`;
  const { x, phi, b, aPre, aPost, aRes, hc, c, n } = coeffsInputs(be, f);
  const d = x.dtype;
  const w = upload(be, f.inputs.weight.data, [c, c], d);
  const orient = f.config.orientation;
  const config = cfg(f, hc);
  const x3: TensorInfo = { ...x, shape: [n, hc, c] };
  const fw = be.mhc.coeffsForward({
    x,
    phi,
    b,
    alphaPre: aPre,
    alphaPost: aPost,
    alphaRes: aRes,
    config,
    save,
  });
  const xIn = be.mhc.preForward(x3, fw.hPre);
  const fo = be.ops.matmul(xIn, w, { transB: true });
  const outT = be.mhc.postResForward(x3, fo, fw.hPost, fw.hRes, orient);
  const gOuts = splitCotangent(be, f.cotangents.out, [n, hc, c], d);
  // The x gradient as core's autograd runs it: through the kernels where the backend accumulates.
  const acc = be.mhc.accumulatesGradX === true;
  const backward = (gOut: TensorInfo) => {
    const pr = be.mhc.postResBackward(gOut, x3, fo, fw.hPost, fw.hRes, orient);
    const gXIn = be.ops.matmul(pr.gradF, w);
    const gW = be.ops.matmul(pr.gradF, xIn, { transA: true });
    const pb = be.mhc.preBackward(gXIn, x3, fw.hPre, acc ? pr.gradX : null);
    const cb = be.mhc.coeffsBackward({
      accumulateGradX: acc ? { ...pb.gradX, shape: [n, hc * c] } : null,
      gradHPre: pb.gradHPre,
      gradHPost: pr.gradHPost,
      gradHRes: pr.gradHRes,
      x,
      phi,
      b,
      alphaPre: aPre,
      alphaPost: aPost,
      alphaRes: aRes,
      hPre: fw.hPre,
      hPost: fw.hPost,
      hRes: fw.hRes,
      saved: fw.saved,
      config,
      save,
      needs: { x: true, phi: true, b: true, alphas: true },
    });
    let gx: TensorInfo;
    if (acc) {
      gx = { ...cb.gradX!, shape: [n, hc, c] };
      dispose(be, pr.gradX, pr.gradF, pr.gradHPost, pr.gradHRes, gXIn, pb.gradX, pb.gradHPre);
    } else {
      const s1 = be.ops.binary('add', pr.gradX, pb.gradX);
      gx = be.ops.binary('add', s1, { ...cb.gradX!, shape: [n, hc, c] });
      dispose(be, pr.gradX, pr.gradF, pr.gradHPost, pr.gradHRes, gXIn, pb.gradX, pb.gradHPre, s1, cb.gradX);
    }
    return {
      gx,
      gW,
      gPhi: cb.gradPhi,
      gB: cb.gradB,
      gA: [cb.gradAlphaPre, cb.gradAlphaPost, cb.gradAlphaRes],
    };
  };
  const r = gOuts.map(backward);
  const [r0, r1] = [r[0]!, r[1]!];
  const out = [
    await cmp(be, name, 'out', outT, f.outputs.out),
    await cmp(be, name, 'hPre', fw.hPre, f.outputs.hPre),
    await cmp(be, name, 'hPost', fw.hPost, f.outputs.hPost),
    await cmp(be, name, 'hRes', fw.hRes, f.outputs.hRes),
    cmpArr(name, 'grad x', await sum2(be, r0.gx, r1.gx), f.grads.x, d),
    cmpArr(name, 'grad phi', await sum2(be, r0.gPhi, r1.gPhi), f.grads.phi, d),
    cmpArr(name, 'grad b', await sum2(be, r0.gB, r1.gB), f.grads.b, d),
    cmpArr(name, 'grad alphaPre', await sum2(be, r0.gA[0]!, r1.gA[0]!), f.grads.alphaPre, d),
    cmpArr(name, 'grad alphaPost', await sum2(be, r0.gA[1]!, r1.gA[1]!), f.grads.alphaPost, d),
    cmpArr(name, 'grad alphaRes', await sum2(be, r0.gA[2]!, r1.gA[2]!), f.grads.alphaRes, d),
    cmpArr(name, 'grad weight', await sum2(be, r0.gW, r1.gW), f.grads.weight, d),
  ];
  dispose(
    be,
    x,
    phi,
    b,
    aPre,
    aPost,
    aRes,
    w,
    fw.hPre,
    fw.hPost,
    fw.hRes,
    ...fw.saved,
    xIn,
    fo,
    outT,
    ...gOuts,
  );
  for (const q of r) dispose(be, q.gx, q.gW, q.gPhi, q.gB, ...q.gA);
  return out;
}
