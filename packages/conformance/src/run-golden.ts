import type { Backend, SinkhornSaveMode, Tensor } from '@liger-mhc/core';
import {
  add,
  type DType,
  decode,
  encode,
  fromStorage,
  isDType,
  keep,
  MiniMhcLM,
  matmul,
  mhcCoeffs,
  mhcCoeffsPre,
  mhcPostRes,
  mhcPre,
  mul,
  sum,
  tidy,
} from '@liger-mhc/core';
import { writeInto } from '@liger-mhc/core/internals';
import type { ApplyCase, CoeffsCase, FixtureTensor, GoldenCase, LayerCase, MiniLmCase } from './fixtures.js';
import { runV4Case } from './run-golden-v4.js';
import { runXLayerCase } from './run-golden-xlayer.js';
import { compare, TOLERANCES, type Tolerance } from './tolerances.js';

/** One compared tensor of one case. */
export interface Check {
  case: string;
  tensor: string;
  ratio: number;
  maxAbsError: number;
  tolerance: Tolerance;
  pass: boolean;
  error?: string;
}

/** actual: an output kept past the tidy scope (disposed after comparing), or a leaf's .grad. */
export type Pending = {
  tensor: string;
  actual: Tensor | null;
  expected: FixtureTensor | number;
  dtype: DType;
};

export function dt(name: string | undefined, fallback: DType = 'f32'): DType {
  return name && isDType(name) ? name : fallback;
}

export function up(be: Backend, t: FixtureTensor, dtype: DType, requiresGrad = false): Tensor {
  return fromStorage(encode(dtype, t.data), t.shape, dtype, { backend: be, requiresGrad });
}

/** Σ out·cotangent over the outputs whose cotangent is not all zero (those stay out of the graph). */
export function vjpLoss(pairs: [Tensor, Tensor | null][]): Tensor | null {
  let loss: Tensor | null = null;
  for (const [out, cot] of pairs) {
    if (!cot) continue;
    const term = sum(mul(out, cot));
    loss = loss ? add(loss, term) : term;
  }
  return loss;
}

/**
 * out.backward(cotangent) for a cotangent given in float64. A cotangent of a half-precision output
 * has to be stored in that dtype, and rounding it alone moves cancelling reductions (the gradient
 * of alphaRes sums N·hc² terms that nearly cancel) by up to ~20%: an error of the test, not of
 * the backend. The VJP is linear in the cotangent, so it is fed as two exactly representable parts,
 * hi = round(cot) and lo = round(cot - hi), in two backward passes whose gradients accumulate:
 * the sum equals the float64 VJP up to ~2^-16 relative.
 */
export function backwardExact(be: Backend, out: Tensor, cot: FixtureTensor, dtype: DType): void {
  if (dtype === 'f32') {
    out.backward(up(be, cot, 'f32'));
    return;
  }
  const hi = decode(dtype, encode(dtype, cot.data));
  const lo = cot.data.map((v, i) => v - hi[i]!);
  out.backward(fromStorage(encode(dtype, hi), cot.shape, dtype, { backend: be }), { retainGraph: true });
  out.backward(fromStorage(encode(dtype, lo), cot.shape, dtype, { backend: be }));
}

export function isZero(t: FixtureTensor): boolean {
  return t.data.every((v) => v === 0);
}

export async function finish(caseName: string, pending: Pending[], dtypeTol?: DType): Promise<Check[]> {
  const checks: Check[] = [];
  for (const p of pending) {
    const tol = TOLERANCES[dtypeTol ?? p.dtype];
    const expected = typeof p.expected === 'number' ? [p.expected] : p.expected.data;
    if (!p.actual) {
      const allZero = expected.every((v) => v === 0);
      checks.push({
        case: caseName,
        tensor: p.tensor,
        ratio: allZero ? 0 : Number.POSITIVE_INFINITY,
        maxAbsError: allZero ? 0 : Number.POSITIVE_INFINITY,
        tolerance: tol,
        pass: allZero,
        error: allZero ? undefined : 'no gradient was produced',
      });
      continue;
    }
    const actual = await p.actual.data();
    const c = compare(actual, expected, tol);
    checks.push({
      case: caseName,
      tensor: p.tensor,
      ratio: c.ratio,
      maxAbsError: c.maxAbsError,
      tolerance: tol,
      pass: c.pass,
    });
  }
  return checks;
}

async function runCoeffs(
  be: Backend,
  c: CoeffsCase,
  save: SinkhornSaveMode,
  label: string,
): Promise<Check[]> {
  const xd = dt(c.dtypes.x);
  const pd = dt(c.dtypes.phi);
  const pending: Pending[] = [];
  const inputs = {
    x: up(be, c.inputs.x, xd, true),
    phi: up(be, c.inputs.phi, pd, true),
    b: up(be, c.inputs.b, 'f32', true),
    alphaPre: up(be, c.inputs.alphaPre, 'f32', true),
    alphaPost: up(be, c.inputs.alphaPost, 'f32', true),
    alphaRes: up(be, c.inputs.alphaRes, 'f32', true),
  };
  const { x, phi, b, alphaPre, alphaPost, alphaRes } = inputs;
  tidy(() => {
    const h = mhcCoeffs(x, phi, b, alphaPre, alphaPost, alphaRes, {
      ...c.config,
      allowFp32: true,
      sinkhornSave: save,
    });
    const cot = (k: 'hPre' | 'hPost' | 'hRes') =>
      isZero(c.cotangents[k]) ? null : up(be, c.cotangents[k], 'f32');
    const loss = vjpLoss([
      [h.hPre, cot('hPre')],
      [h.hPost, cot('hPost')],
      [h.hRes, cot('hRes')],
    ]);
    loss?.backward();
    for (const k of ['hPre', 'hPost', 'hRes'] as const)
      pending.push({ tensor: k, actual: keep(h[k]), expected: c.outputs[k], dtype: 'f32' });
  });
  for (const [k, t] of Object.entries(inputs) as [keyof typeof inputs, Tensor][])
    pending.push({ tensor: `grad.${k}`, actual: t.grad, expected: c.grads[k], dtype: t.dtype });
  const checks = await finish(label, pending);
  disposeAll(pending, Object.values(inputs));
  return checks;
}

async function runApply(be: Backend, c: ApplyCase): Promise<Check[]> {
  const xd = dt(c.dtypes.x);
  const fd = dt(c.dtypes.f, xd);
  const pending: Pending[] = [];
  const opts = { allowFp32: true, orientation: c.config.orientation };
  // pre and post_res are separate VJPs in the fixture, so each gets fresh leaves.
  const pre = { x: up(be, c.inputs.x, xd, true), hPre: up(be, c.inputs.hPre, 'f32', true) };
  const post = {
    x: up(be, c.inputs.x, xd, true),
    f: up(be, c.inputs.f, fd, true),
    hPost: up(be, c.inputs.hPost, 'f32', true),
    hRes: up(be, c.inputs.hRes, 'f32', true),
  };
  tidy(() => {
    const xIn = mhcPre(pre.x, pre.hPre, opts);
    backwardExact(be, xIn, c.cotangents.xIn, xd);
    pending.push({ tensor: 'xIn', actual: keep(xIn), expected: c.outputs.xIn, dtype: xd });
    const xOut = mhcPostRes(post.x, post.f, post.hPost, post.hRes, opts);
    backwardExact(be, xOut, c.cotangents.xOut, xd);
    pending.push({ tensor: 'xOut', actual: keep(xOut), expected: c.outputs.xOut, dtype: xd });
  });
  for (const [k, t] of Object.entries(pre))
    pending.push({
      tensor: `grad.pre.${k}`,
      actual: t.grad,
      expected: c.grads.pre[k as 'x'],
      dtype: t.dtype,
    });
  for (const [k, t] of Object.entries(post))
    pending.push({
      tensor: `grad.postRes.${k}`,
      actual: t.grad,
      expected: c.grads.postRes[k as 'x'],
      dtype: t.dtype,
    });
  const checks = await finish(c.name, pending);
  disposeAll(pending, [...Object.values(pre), ...Object.values(post)]);
  return checks;
}

/**
 * How a layer case computes coefficients and pre: 'layer' as LigerMHC and mhcForward do
 * (mhcCoeffsPre: pre fused into the coefficient pass where the backend offers it), 'separate'
 * as mhcCoeffs then mhcPre.
 */
type LayerPath = 'layer' | 'separate';

async function runLayer(
  be: Backend,
  c: LayerCase,
  save: SinkhornSaveMode,
  path: LayerPath,
  label: string,
): Promise<Check[]> {
  const xd = dt(c.dtypes.x);
  const pd = dt(c.dtypes.phi);
  const pending: Pending[] = [];
  const inputs = {
    x: up(be, c.inputs.x, xd, true),
    phi: up(be, c.inputs.phi, pd, true),
    b: up(be, c.inputs.b, 'f32', true),
    alphaPre: up(be, c.inputs.alphaPre, 'f32', true),
    alphaPost: up(be, c.inputs.alphaPost, 'f32', true),
    alphaRes: up(be, c.inputs.alphaRes, 'f32', true),
    weight: up(be, c.inputs.weight, xd, true),
  };
  const { x, phi, b, alphaPre, alphaPost, alphaRes, weight } = inputs;
  const opts = { ...c.config, allowFp32: true, sinkhornSave: save };
  tidy(() => {
    const separate = () => {
      const coeffs = mhcCoeffs(x, phi, b, alphaPre, alphaPost, alphaRes, opts);
      return { coeffs, xIn: mhcPre(x, coeffs.hPre, opts) };
    };
    const { coeffs: h, xIn } =
      path === 'layer' ? mhcCoeffsPre(x, phi, b, alphaPre, alphaPost, alphaRes, opts) : separate();
    const f = matmul(xIn, weight, { transB: true });
    const out = mhcPostRes(x, f, h.hPost, h.hRes, opts);
    backwardExact(be, out, c.cotangents.out, xd);
    pending.push({ tensor: 'out', actual: keep(out), expected: c.outputs.out, dtype: xd });
    for (const k of ['hPre', 'hPost', 'hRes'] as const)
      pending.push({ tensor: k, actual: keep(h[k]), expected: c.outputs[k], dtype: 'f32' });
  });
  for (const [k, t] of Object.entries(inputs) as [keyof typeof inputs, Tensor][])
    pending.push({ tensor: `grad.${k}`, actual: t.grad, expected: c.grads[k], dtype: t.dtype });
  // Everything downstream of a rounded activation carries its rounding: judge the whole case at x's dtype.
  const checks = await finish(label, pending, xd);
  disposeAll(pending, Object.values(inputs));
  return checks;
}

async function runMiniLm(be: Backend, c: MiniLmCase): Promise<Check[]> {
  const cfg = c.config;
  const model = new MiniMhcLM({
    vocab: cfg.vocab,
    hc: cfg.hc,
    c: cfg.c,
    layers: cfg.layers,
    tmax: cfg.tmax,
    rmsEps: cfg.rmsEps,
    preEps: cfg.preEps,
    sinkhornEps: cfg.sinkhornEps,
    postMult: cfg.postMult,
    activationDtype: 'f32',
    phiDtype: 'bf16',
    backend: be,
  });
  const params = model.stateDict();
  const load = async (name: string, t: FixtureTensor) => {
    const p = params[name]!;
    const src = up(be, t, p.dtype);
    await writeInto(p, src);
    src.dispose();
  };
  await load('embedding.weight', c.inputs.embedding);
  await load('head.weight', c.inputs.head);
  for (let i = 0; i < cfg.layers; i++) {
    const l = c.inputs.layers[i]!;
    for (const k of ['phi', 'b', 'alphaPre', 'alphaPost', 'alphaRes'] as const)
      await load(`layers.${i}.${k}`, l[k]);
    await load(`layers.${i}.layer.weight`, l.weight);
  }
  const ids = up(be, c.inputs.inputIds, 'i32');
  const labels = up(be, c.inputs.labels, 'i32');
  const pending: Pending[] = [];
  tidy(() => {
    const { loss, logits } = model.loss(ids, labels);
    loss.backward();
    pending.push({ tensor: 'loss', actual: keep(loss), expected: c.outputs.loss, dtype: 'f32' });
    pending.push({ tensor: 'logits', actual: keep(logits), expected: c.outputs.logits, dtype: 'f32' });
  });
  const grad = (name: string, expected: FixtureTensor) =>
    pending.push({
      tensor: `grad.${name}`,
      actual: params[name]!.grad,
      expected,
      dtype: params[name]!.dtype,
    });
  grad('embedding.weight', c.grads.embedding);
  grad('head.weight', c.grads.head);
  for (let i = 0; i < cfg.layers; i++) {
    const g = c.grads.layers[i]!;
    for (const k of ['phi', 'b', 'alphaPre', 'alphaPost', 'alphaRes'] as const)
      grad(`layers.${i}.${k}`, g[k]);
    grad(`layers.${i}.layer.weight`, g.weight);
  }
  const checks = await finish(c.name, pending);
  disposeAll(pending, [ids, labels]);
  model.dispose();
  return checks;
}

/**
 * Every check of one golden case. Coeffs cases run in both Sinkhorn save modes; layer cases run the
 * way the layer does (coefficients + pre in one call, fused where the backend offers it) in both
 * save modes, and once more with the separate mhcCoeffs and mhcPre.
 */
export async function runGoldenCase(be: Backend, c: GoldenCase): Promise<Check[][]> {
  try {
    switch (c.op) {
      case 'coeffs':
        return [
          await runCoeffs(be, c, 'history', c.name),
          await runCoeffs(be, c, 'recompute', `${c.name} (recompute)`),
        ];
      case 'apply':
        return [await runApply(be, c)];
      case 'layer':
        return [
          await runLayer(be, c, 'history', 'layer', c.name),
          await runLayer(be, c, 'recompute', 'layer', `${c.name} (recompute)`),
          await runLayer(be, c, 'history', 'separate', `${c.name} (separate ops)`),
        ];
      case 'miniLm':
        return [await runMiniLm(be, c)];
      case 'postResCoeffsPre':
        return await runXLayerCase(be, c);
      default:
        return await runV4Case(be, c);
    }
  } catch (err) {
    const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return [
      [
        {
          case: c.name,
          tensor: '(run)',
          ratio: Number.NaN,
          maxAbsError: Number.NaN,
          tolerance: TOLERANCES.f32,
          pass: false,
          error: msg,
        },
      ],
    ];
  }
}

export function disposeAll(pending: Pending[], leaves: Tensor[]): void {
  for (const p of pending) if (!p.tensor.startsWith('grad.')) p.actual?.dispose();
  for (const t of leaves) {
    t.grad?.dispose();
    t.grad = null;
    t.dispose();
  }
}
