import type { DType } from '@liger-mhc/core';
import type { KernelDef } from '../../backend.js';
import { kernelParams, type ParamLayout, type ParamSchema } from '../../kernel-params.js';
import { ENTRY_ARGS, isHalf, LINEAR_WG } from '../wgsl-lib.js';

/**
 * Optimizer steps, in place. One thread per parameter word (two elements for halves), so the thread
 * that rewrites a packed word computes both of its elements; the f32 state is per element.
 * Params: n (elements), then the step's scalars.
 */
function optimKernel<S extends ParamSchema & { n: 'u32' }>(
  key: string,
  params: ParamLayout<S>,
  pd: DType,
  gd: DType,
  state: string[],
  update: string,
): KernelDef<S> {
  const half = isHalf(pd);
  const body = half
    ? `
  let i0 = 2u * t;
  if (i0 >= n) { return; }
  var v = ld2_p(i0);
  v.x = upd(i0, v.x);
  if (i0 + 1u < n) { v.y = upd(i0 + 1u, v.y); }
  stw_p(t, v);`
    : `
  if (t >= n) { return; }
  p[t] = upd(t, p[t]);`;
  return {
    key: `${key}:${pd}:${gd}`,
    params,
    bufs: [
      { name: 'p', dtype: pd, access: 'rw' },
      { name: 'g', dtype: gd, access: 'read' },
      ...state.map((name) => ({ name, dtype: 'f32' as const, access: 'rw' as const })),
    ],
    body: `
${update}
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

/** decay = 1 - lr·weightDecay; bc1, bc2 = 1 - beta^step (bias corrections). */
export const ADAMW_PARAMS = kernelParams({
  n: 'u32',
  lr: 'f32',
  beta1: 'f32',
  beta2: 'f32',
  eps: 'f32',
  decay: 'f32',
  bc1: 'f32',
  bc2: 'f32',
});

/** AdamW. */
export function adamwKernel(pd: DType, gd: DType): KernelDef<typeof ADAMW_PARAMS.schema> {
  return optimKernel(
    'adamw',
    ADAMW_PARAMS,
    pd,
    gd,
    ['m', 'v'],
    `fn upd(i: u32, w: f32) -> f32 {
  let g = ld_g(i);
  let b1 = params.beta1;
  let b2 = params.beta2;
  let mi = b1 * m[i] + (1.0 - b1) * g;
  let vi = b2 * v[i] + (1.0 - b2) * g * g;
  m[i] = mi;
  v[i] = vi;
  return w * params.decay - (params.lr * (mi / params.bc1)) / (sqrt(vi / params.bc2) + params.eps);
}`,
  );
}

/** nesterov: 1 for Nesterov momentum, else 0. */
export const SGD_PARAMS = kernelParams({
  n: 'u32',
  lr: 'f32',
  momentum: 'f32',
  weightDecay: 'f32',
  nesterov: 'u32',
});

/** SGD, with a momentum buffer or without. */
export function sgdKernel(pd: DType, gd: DType, withBuffer: boolean): KernelDef<typeof SGD_PARAMS.schema> {
  return optimKernel(
    withBuffer ? 'sgd_momentum' : 'sgd',
    SGD_PARAMS,
    pd,
    gd,
    withBuffer ? ['buf'] : [],
    `fn upd(i: u32, w: f32) -> f32 {
  let g = ld_g(i) + params.weightDecay * w;
  ${
    withBuffer
      ? `let mu = params.momentum;
  let b = mu * buf[i] + g;
  buf[i] = b;
  let d = select(b, g + mu * b, params.nesterov != 0u);
  return w - params.lr * d;`
      : 'return w - params.lr * g;'
  }
}`,
  );
}
