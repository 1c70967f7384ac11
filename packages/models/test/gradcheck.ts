import { fromStorage, noGrad, Random, randn, type Tensor, tidy } from '@liger-mhc/core';
import { expect } from 'vitest';

/**
 * Directional central differences in f32 on the CPU: for each input i and a random direction v,
 * (L(x_i + εv) − L(x_i − εv)) / 2ε must match ⟨∂L/∂x_i, v⟩ from autograd, with L = Σ f(x)·w for a
 * fixed random cotangent w (so every output element matters, with its own weight). L is summed in
 * float64 from the f32 outputs to keep the rounding of the difference small.
 */
export interface GradcheckOptions {
  eps?: number;
  rtol?: number;
  atol?: number;
  seed?: number;
}

export interface GradcheckResult {
  name: string;
  analytic: number;
  numeric: number;
}

function copyWith(t: Tensor, add: Float32Array | null, scale: number): Tensor {
  const v = Float32Array.from(t.dataSync());
  if (add) for (let i = 0; i < v.length; i++) v[i]! += scale * add[i]!;
  return fromStorage(v, t.shape, 'f32', { backend: t.backend });
}

function objective(out: Tensor, w: Float32Array): number {
  const d = out.dataSync();
  let s = 0;
  for (let i = 0; i < d.length; i++) s += d[i]! * w[i]!;
  return s;
}

export function gradcheck(
  f: (xs: Tensor[]) => Tensor,
  inputs: Record<string, Tensor>,
  options: GradcheckOptions = {},
): GradcheckResult[] {
  const eps = options.eps ?? 1e-2;
  const rtol = options.rtol ?? 1e-2;
  const atol = options.atol ?? 1e-3;
  const rng = new Random(options.seed ?? 7);
  const names = Object.keys(inputs);
  const base = names.map((n) => inputs[n]!);
  const leaves = base.map((t) => {
    const c = copyWith(t, null, 0);
    c.requiresGrad = true;
    return c;
  });
  const out = f(leaves);
  const w = randn(out.shape, { rng }).dataSync() as Float32Array;
  const wT = fromStorage(w, out.shape, 'f32');
  out.backward(wT);
  const results: GradcheckResult[] = [];
  names.forEach((name, i) => {
    const v = randn(base[i]!.shape, { rng }).dataSync() as Float32Array;
    const g = leaves[i]!.grad!.dataSync();
    let analytic = 0;
    for (let j = 0; j < v.length; j++) analytic += g[j]! * v[j]!;
    const at = (s: number) =>
      noGrad(() =>
        tidy(() => {
          const xs = base.map((t, k) => (k === i ? copyWith(t, v, s * eps) : t));
          return objective(f(xs), w);
        }),
      );
    const numeric = (at(1) - at(-1)) / (2 * eps);
    results.push({ name, analytic, numeric });
    expect(
      Math.abs(numeric - analytic),
      `d/d${name}: autograd ${analytic}, central difference ${numeric}`,
    ).toBeLessThanOrEqual(rtol * Math.abs(numeric) + atol);
  });
  for (const l of leaves) {
    l.grad?.dispose();
    l.dispose();
  }
  return results;
}
