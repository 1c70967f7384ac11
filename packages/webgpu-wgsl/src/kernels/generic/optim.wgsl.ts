import type { DType } from '@liger-mhc/core';
import type { KernelDef } from '../../backend.js';
import { ENTRY_ARGS, isHalf, LINEAR_WG } from '../wgsl-lib.js';

/**
 * Optimizer steps, in place. One thread per parameter word (two elements for halves), so the thread
 * that rewrites a packed word computes both of its elements; the f32 state is per element.
 * Params: 0 n, then the step's scalars (f32).
 */
function optimKernel(key: string, pd: DType, gd: DType, state: string[], update: string): KernelDef {
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
  let n = pu(0u);
  ${body}
}
`,
  };
}

/** AdamW; params 1 lr, 2 beta1, 3 beta2, 4 eps, 5 1-lr·wd, 6 1-beta1^t, 7 1-beta2^t. */
export function adamwKernel(pd: DType, gd: DType): KernelDef {
  return optimKernel(
    'adamw',
    pd,
    gd,
    ['m', 'v'],
    `fn upd(i: u32, w: f32) -> f32 {
  let g = ld_g(i);
  let b1 = pf(2u);
  let b2 = pf(3u);
  let mi = b1 * m[i] + (1.0 - b1) * g;
  let vi = b2 * v[i] + (1.0 - b2) * g * g;
  m[i] = mi;
  v[i] = vi;
  return w * pf(5u) - (pf(1u) * (mi / pf(6u))) / (sqrt(vi / pf(7u)) + pf(4u));
}`,
  );
}

/** SGD; params 1 lr, 2 momentum, 3 weight decay, 4 nesterov (u32), 5 has buffer (u32). */
export function sgdKernel(pd: DType, gd: DType, withBuffer: boolean): KernelDef {
  return optimKernel(
    withBuffer ? 'sgd_momentum' : 'sgd',
    pd,
    gd,
    withBuffer ? ['buf'] : [],
    `fn upd(i: u32, w: f32) -> f32 {
  let g = ld_g(i) + pf(3u) * w;
  ${
    withBuffer
      ? `let mu = pf(2u);
  let b = mu * buf[i] + g;
  buf[i] = b;
  let d = select(b, g + mu * b, pu(4u) != 0u);
  return w - pf(1u) * d;`
      : 'return w - pf(1u) * g;'
  }
}`,
  );
}
