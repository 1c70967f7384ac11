import type { Backend, SinkhornSaveMode, Tensor } from '@liger-mhc/core';
import {
  cast,
  keep,
  matmul,
  mhcCoeffs,
  mhcExpand,
  mhcHead,
  mhcPostRes,
  mhcPreNorm,
  tidy,
} from '@liger-mhc/core';
import type { BlockV4Case, CoeffsV4Case, ExpandCase, HeadCase, PreNormCase, V4Case } from './fixtures-v4.js';
import {
  backwardExact,
  type Check,
  disposeAll,
  dt,
  finish,
  isZero,
  type Pending,
  up,
  vjpLoss,
} from './run-golden.js';

/**
 * Runners of the fixtures/golden-v4 cases. Each loads the inputs in their storage dtype, runs the op
 * forward, feeds the float64 cotangent backward (split into exactly representable parts where the
 * output is half, see backwardExact) and compares outputs and gradients at the dtype each is stored in.
 */

function grads(pending: Pending[], leaves: Record<string, Tensor>, expected: Record<string, unknown>): void {
  for (const [k, t] of Object.entries(leaves))
    pending.push({ tensor: `grad.${k}`, actual: t.grad, expected: expected[k] as never, dtype: t.dtype });
}

async function runHead(be: Backend, c: HeadCase): Promise<Check[]> {
  const xd = dt(c.dtypes.x);
  const leaves = {
    x: up(be, c.inputs.x, xd, true),
    phi: up(be, c.inputs.phi, 'f32', true),
    base: up(be, c.inputs.base, 'f32', true),
    scale: up(be, c.inputs.scale, 'f32', true),
  };
  const pending: Pending[] = [];
  tidy(() => {
    const y = mhcHead(leaves.x, leaves.phi, leaves.base, leaves.scale, {
      rmsEps: c.config.rmsEps,
      preEps: c.config.eps,
      allowFp32: true,
    });
    backwardExact(be, y, c.cotangents.y, xd);
    pending.push({ tensor: 'y', actual: keep(y), expected: c.outputs.y, dtype: xd });
  });
  grads(pending, leaves, c.grads);
  const checks = await finish(c.name, pending);
  disposeAll(pending, Object.values(leaves));
  return checks;
}

async function runExpand(be: Backend, c: ExpandCase): Promise<Check[]> {
  const xd = dt(c.dtypes.x);
  const leaves = { x: up(be, c.inputs.x, xd, true) };
  const pending: Pending[] = [];
  tidy(() => {
    const y = mhcExpand(leaves.x, c.config.hc);
    backwardExact(be, y, c.cotangents.y, xd);
    pending.push({ tensor: 'y', actual: keep(y), expected: c.outputs.y, dtype: xd });
  });
  grads(pending, leaves, c.grads);
  const checks = await finish(c.name, pending);
  disposeAll(pending, Object.values(leaves));
  return checks;
}

async function runPreNorm(be: Backend, c: PreNormCase): Promise<Check[]> {
  const xd = dt(c.dtypes.x);
  const leaves = {
    x: up(be, c.inputs.x, xd, true),
    hPre: up(be, c.inputs.hPre, 'f32', true),
    weight: up(be, c.inputs.weight, dt(c.dtypes.weight), true),
  };
  const pending: Pending[] = [];
  tidy(() => {
    const y = mhcPreNorm(leaves.x, leaves.hPre, leaves.weight, { normEps: c.config.eps });
    backwardExact(be, y, c.cotangents.y, xd);
    pending.push({ tensor: 'y', actual: keep(y), expected: c.outputs.y, dtype: xd });
  });
  grads(pending, leaves, c.grads);
  // The gradients of hPre and weight reduce over x-dtype values: judge them at x's dtype.
  const checks = await finish(c.name, pending, xd === 'f32' ? undefined : xd);
  disposeAll(pending, Object.values(leaves));
  return checks;
}

async function runCoeffsV4(be: Backend, c: CoeffsV4Case, save: SinkhornSaveMode, label: string) {
  const xd = dt(c.dtypes.x);
  const leaves = {
    x: up(be, c.inputs.x, xd, true),
    phi: up(be, c.inputs.phi, dt(c.dtypes.phi), true),
    base: up(be, c.inputs.base, 'f32', true),
    scale: up(be, c.inputs.scale, 'f32', true),
  };
  const pending: Pending[] = [];
  tidy(() => {
    const h = mhcCoeffs(leaves.x, leaves.phi, leaves.base, leaves.scale, {
      ...c.config,
      preset: 'deepseek-v4',
      allowFp32: true,
      sinkhornSave: save,
    });
    const cot = (k: 'hPre' | 'hPost' | 'hRes') =>
      isZero(c.cotangents[k]) ? null : up(be, c.cotangents[k], 'f32');
    vjpLoss([
      [h.hPre, cot('hPre')],
      [h.hPost, cot('hPost')],
      [h.hRes, cot('hRes')],
    ])?.backward();
    for (const k of ['hPre', 'hPost', 'hRes'] as const)
      pending.push({ tensor: k, actual: keep(h[k]), expected: c.outputs[k], dtype: 'f32' });
  });
  grads(pending, leaves, c.grads);
  const checks = await finish(label, pending);
  disposeAll(pending, Object.values(leaves));
  return checks;
}

/**
 * The V4 sublayer as a model would write it on these ops: coefficients from V4's parameters,
 * the layer's RMSNorm fused into pre, the layer input cast to the layer's dtype (f32, Liger's rule),
 * and post_res with that f32 output over x's dtype (mixed dtypes).
 */
async function runBlockV4(be: Backend, c: BlockV4Case, save: SinkhornSaveMode, label: string) {
  const xd = dt(c.dtypes.x);
  const leaves = {
    x: up(be, c.inputs.x, xd, true),
    phi: up(be, c.inputs.phi, 'f32', true),
    base: up(be, c.inputs.base, 'f32', true),
    scale: up(be, c.inputs.scale, 'f32', true),
    normWeight: up(be, c.inputs.normWeight, 'f32', true),
    weight: up(be, c.inputs.weight, 'f32', true),
  };
  const { x, phi, base, scale, normWeight, weight } = leaves;
  const pending: Pending[] = [];
  const opts = { ...c.config, preset: 'deepseek-v4' as const, allowFp32: true, sinkhornSave: save };
  tidy(() => {
    const h = mhcCoeffs(x, phi, base, scale, opts);
    const xIn = mhcPreNorm(x, h.hPre, normWeight, opts);
    const f = matmul(cast(xIn, 'f32'), weight, { transB: true });
    const out = mhcPostRes(x, f, h.hPost, h.hRes, opts);
    backwardExact(be, out, c.cotangents.out, xd);
    pending.push({ tensor: 'out', actual: keep(out), expected: c.outputs.out, dtype: xd });
    for (const k of ['hPre', 'hPost', 'hRes'] as const)
      pending.push({ tensor: k, actual: keep(h[k]), expected: c.outputs[k], dtype: 'f32' });
  });
  grads(pending, leaves, c.grads);
  const checks = await finish(label, pending, xd);
  disposeAll(pending, Object.values(leaves));
  return checks;
}

/** Every check of one golden-v4 case (coefficient cases in both Sinkhorn save modes). */
export async function runV4Case(be: Backend, c: V4Case): Promise<Check[][]> {
  switch (c.op) {
    case 'head':
      return [await runHead(be, c)];
    case 'expand':
      return [await runExpand(be, c)];
    case 'preNorm':
      return [await runPreNorm(be, c)];
    case 'coeffsV4':
      return [
        await runCoeffsV4(be, c, 'history', c.name),
        await runCoeffsV4(be, c, 'recompute', `${c.name} (recompute)`),
      ];
    case 'blockV4':
      return [
        await runBlockV4(be, c, 'history', c.name),
        await runBlockV4(be, c, 'recompute', `${c.name} (recompute)`),
      ];
  }
}
