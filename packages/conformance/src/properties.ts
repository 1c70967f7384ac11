import type { Backend, Tensor } from '@liger-mhc/core';
import {
  add as addT,
  encode,
  fromStorage,
  keep,
  mhcCoeffs,
  mhcPostRes,
  mhcPre,
  mul as mulT,
  noGrad,
  Random,
  sum as sumAll,
  tidy,
} from '@liger-mhc/core';
import fc from 'fast-check';
import type { Check } from './run-golden.js';
import type { Tolerance } from './tolerances.js';

/**
 * Property tests on random small shapes (odd sizes included), run on the backend under test:
 *   - hRes columns sum to 1 within 1e-5 (the last Sinkhorn step normalises columns) and every
 *     entry is in (0, 1];
 *   - hPre in [preEps, 1 + preEps], hPost in [0, postMult];
 *   - gradients agree with central finite differences of the same backend's forward, taken along
 *     random directions and accumulated in f64 (inputs f32 with allowFp32, so they can be perturbed
 *     finely).
 */
const COLUMN_TOL = 1e-5;

interface Shape {
  n: number;
  hc: number;
  c: number;
  tmax: number;
  seed: number;
}

const shapeArb = fc.record({
  n: fc.integer({ min: 1, max: 5 }),
  hc: fc.integer({ min: 1, max: 6 }),
  c: fc.integer({ min: 1, max: 37 }),
  tmax: fc.integer({ min: 1, max: 20 }),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
});

function randomInputs(be: Backend, s: Shape, requiresGrad: boolean) {
  const rng = new Random(s.seed);
  const k = s.hc * s.c;
  const m = s.hc * s.hc + 2 * s.hc;
  const make = (shape: number[], std: number, dtype: 'f32' | 'bf16' = 'f32') => {
    const v = new Float64Array(shape.reduce((a, d) => a * d, 1));
    for (let i = 0; i < v.length; i++) v[i] = std * rng.normal();
    return fromStorage(encode(dtype, v), shape, dtype, { backend: be, requiresGrad });
  };
  return {
    x: make([s.n, s.hc, s.c], 1),
    phi: make([k, m], 0.3),
    b: make([m], 0.5),
    alphaPre: make([], 1),
    alphaPost: make([], 1),
    alphaRes: make([], 1),
    f: make([s.n, s.c], 1),
  };
}

async function checkRanges(be: Backend, s: Shape): Promise<string | null> {
  const inp = randomInputs(be, s, false);
  const opts = { tmax: s.tmax, preEps: 1e-4, postMult: 2, allowFp32: true };
  const h = noGrad(() => mhcCoeffs(inp.x, inp.phi, inp.b, inp.alphaPre, inp.alphaPost, inp.alphaRes, opts));
  const [pre, post, res] = await Promise.all([h.hPre.data(), h.hPost.data(), h.hRes.data()]);
  for (const t of [...Object.values(inp), h.hPre, h.hPost, h.hRes]) t.dispose();
  for (let i = 0; i < pre.length; i++)
    if (!(pre[i]! >= 1e-4 && pre[i]! <= 1 + 1e-4))
      return `hPre[${i}] = ${pre[i]} outside [preEps, 1 + preEps]`;
  for (let i = 0; i < post.length; i++)
    if (!(post[i]! >= 0 && post[i]! <= 2)) return `hPost[${i}] = ${post[i]} outside [0, 2]`;
  const hc = s.hc;
  for (let t = 0; t < s.n; t++) {
    for (let j = 0; j < hc; j++) {
      // Only columns are exact: the last Sinkhorn step normalises them. Rows converge at a rate
      // that depends on the logits, so after a finite tmax they are close to 1 but not within 1e-5.
      let col = 0;
      for (let i = 0; i < hc; i++) {
        const v = res[t * hc * hc + i * hc + j]!;
        if (!(v > 0 && v <= 1 + COLUMN_TOL)) return `hRes[${t}][${i}][${j}] = ${v} is not in (0, 1]`;
        col += v;
      }
      if (Math.abs(col - 1) > COLUMN_TOL) return `hRes[${t}] column ${j} sums to ${col}`;
    }
  }
  return null;
}

/** Σ w·out over all outputs of the layer-level graph (coeffs -> pre -> post_res with f = xIn·2). */
function objective(be: Backend, inp: ReturnType<typeof randomInputs>, s: Shape, w: Float64Array[]) {
  return tidy(() => {
    const opts = { tmax: s.tmax, preEps: 1e-4, allowFp32: true };
    const h = mhcCoeffs(inp.x, inp.phi, inp.b, inp.alphaPre, inp.alphaPost, inp.alphaRes, opts);
    const xIn = mhcPre(inp.x, h.hPre, opts);
    const out = mhcPostRes(inp.x, inp.f, h.hPost, h.hRes, opts);
    return keep(weighted(be, [h.hPre, h.hPost, h.hRes, xIn, out], w));
  });
}

function weighted(be: Backend, outs: Tensor[], w: Float64Array[]): Tensor {
  let total: Tensor | null = null;
  outs.forEach((o, i) => {
    const wt = fromStorage(encode(o.dtype, w[i]!), o.shape, o.dtype, { backend: be });
    const term = sumAll(mulT(o, wt));
    total = total ? addT(total, term) : term;
  });
  return total!;
}

async function checkGradients(be: Backend, s: Shape): Promise<{ worst: number; detail: string }> {
  const inp = randomInputs(be, s, true);
  const rng = new Random(s.seed ^ 0x5bd1e995);
  const sizes = [s.n * s.hc, s.n * s.hc, s.n * s.hc * s.hc, s.n * s.c, s.n * s.hc * s.c];
  const w = sizes.map((n) => Float64Array.from({ length: n }, () => rng.normal()));
  const loss = objective(be, inp, s, w);
  loss.backward();
  loss.dispose();
  let worst = 0;
  let detail = '';
  const h = 1e-3;
  for (const [name, t] of Object.entries(inp) as [string, Tensor][]) {
    const raw = (await t.dataRaw()) as Float32Array;
    const g = await t.grad!.data();
    const dir = Float64Array.from({ length: raw.length }, () => rng.normal());
    let analytic = 0;
    for (let i = 0; i < raw.length; i++) analytic += g[i]! * dir[i]!;
    const at = async (eps: number) => {
      const moved = Float32Array.from(raw, (v, i) => v + eps * dir[i]!);
      t.backend.write(t.handle, moved);
      const l = noGrad(() => objective(be, inp, s, w));
      const v = await l.item();
      l.dispose();
      return v;
    };
    const numeric = ((await at(h)) - (await at(-h))) / (2 * h);
    t.backend.write(t.handle, raw);
    // Scale by the gradient's own size so tiny directional derivatives are not judged on noise.
    let gnorm = 0;
    for (let i = 0; i < raw.length; i++) gnorm += g[i]! * g[i]!;
    const denom = Math.max(Math.abs(numeric), Math.sqrt(gnorm) * Math.sqrt(raw.length) * 1e-2, 1e-3);
    const err = Math.abs(numeric - analytic) / denom;
    if (err > worst) {
      worst = err;
      detail = `${name}: analytic ${analytic.toPrecision(6)} vs finite difference ${numeric.toPrecision(6)}`;
    }
  }
  for (const t of Object.values(inp)) {
    t.grad?.dispose();
    t.dispose();
  }
  return { worst, detail };
}

export const GRADIENT_TOLERANCE: Tolerance = { rtol: 2e-3, atol: 0 };

/** Run the property suites; each suite is one check (with the counterexample on failure). */
export async function runProperties(
  be: Backend,
  options: { runs?: number; seed?: number } = {},
): Promise<Check[]> {
  const runs = options.runs ?? 25;
  const seed = options.seed ?? 42;
  const checks: Check[] = [];
  const run = async (name: string, prop: (s: Shape) => Promise<string | null>, tol: Tolerance) => {
    let failure: string | null = null;
    await fc
      .assert(
        fc.asyncProperty(shapeArb, async (s) => {
          const r = await prop(s);
          if (r) failure = `${r} at ${JSON.stringify(s)}`;
          return r === null;
        }),
        { numRuns: runs, seed, endOnFailure: true },
      )
      .catch(() => undefined);
    checks.push({
      case: `property: ${name}`,
      tensor: '-',
      ratio: failure ? Number.POSITIVE_INFINITY : 0,
      maxAbsError: Number.NaN,
      tolerance: tol,
      pass: failure === null,
      error: failure ?? undefined,
    });
  };
  await run('hRes columns sum to 1, hPre/hPost in range', (s) => checkRanges(be, s), {
    rtol: 0,
    atol: COLUMN_TOL,
  });
  await run(
    'gradients match central finite differences',
    async (s) => {
      // Keep shapes small: each check runs 2 forwards per input.
      const r = await checkGradients(be, { ...s, tmax: Math.min(s.tmax, 8) });
      return r.worst <= GRADIENT_TOLERANCE.rtol
        ? null
        : `${r.detail} (relative error ${r.worst.toExponential(2)})`;
    },
    GRADIENT_TOLERANCE,
  );
  return checks;
}
