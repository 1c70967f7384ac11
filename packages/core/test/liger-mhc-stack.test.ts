import { describe, expect, it } from 'vitest';
import {
  cast,
  encode,
  forwardMhcStack,
  fromStorage,
  type GradNode,
  LigerMHC,
  Linear,
  mul,
  Random,
  sum,
  type Tensor,
} from '../src/index.js';

/**
 * forwardMhcStack: consecutive LigerMHC sublayers share fused boundaries, with the values and
 * gradients of calling each forward in turn (bitwise on the CPU reference).
 */

function build(layers: number, hc: number, c: number, seed: number) {
  return Array.from({ length: layers }, (_, i) => {
    const lin = new Linear(c, c, { rng: new Random(seed + 10 * i) });
    return new LigerMHC(lin, { hc, c, rng: new Random(seed + 10 * i + 1), alphaInit: 0.4 });
  });
}

function input(shape: number[], seed: number): Tensor {
  const rng = new Random(seed);
  const v = Float64Array.from({ length: shape.reduce((a, d) => a * d, 1) }, () => rng.normal());
  return fromStorage(encode('bf16', v), shape, 'bf16', { backend: 'cpu', requiresGrad: true });
}

/** Node names reachable from t's gradient node. */
function nodeNames(t: Tensor): string[] {
  const seen = new Set<GradNode>();
  const names: string[] = [];
  const visit = (n: GradNode | null) => {
    if (!n || seen.has(n)) return;
    seen.add(n);
    names.push(n.name);
    for (const i of n.inputs) visit(i?.gradFn ?? null);
  };
  visit(t.gradFn);
  return names;
}

async function run(stack: boolean, hook: boolean) {
  const mods = build(4, 4, 12, 3);
  let hooked = 0;
  if (hook)
    mods[2]!.onCoefficients = () => {
      hooked++;
    };
  const x = input([2, 3, 4, 12], 7);
  const y = stack ? forwardMhcStack(mods, x) : mods.reduce((h, m) => m.forward(h), x);
  // The graph's node names before backward(), which releases the graph.
  const names = nodeNames(y);
  const w = input([2, 3, 4, 12], 8);
  w.requiresGrad = false;
  sum(mul(cast(y, 'f32'), cast(w, 'f32'))).backward();
  const bits = async (t: Tensor | null) =>
    Array.from(new Uint16Array(Float32Array.from(await t!.data()).buffer));
  const out: Record<string, number[]> = { y: await bits(y), 'grad.x': await bits(x.grad) };
  for (const [i, m] of mods.entries())
    for (const [name, p] of m.namedParameters()) out[`${i}.${name}`] = await bits(p.grad);
  return { out, names, hooked };
}

describe('forwardMhcStack', () => {
  it('fuses every boundary of a LigerMHC stack and matches the per-module forward bitwise', async () => {
    const fused = await run(true, false);
    const plain = await run(false, false);
    // 4 sublayers, 3 boundaries; the first entry and the last exit stay separate ops.
    expect(fused.names.filter((n) => n === 'mhcPostResCoeffsPre')).toHaveLength(3);
    expect(fused.names.filter((n) => n === 'mhcPostRes')).toHaveLength(1);
    expect(fused.names.filter((n) => n === 'mhcCoeffs')).toHaveLength(1);
    expect(plain.names).not.toContain('mhcPostResCoeffsPre');
    expect(Object.keys(fused.out)).toEqual(Object.keys(plain.out));
    for (const k of Object.keys(plain.out)) expect(fused.out[k], k).toEqual(plain.out[k]);
  });

  it('a sublayer with a coefficient hook runs its own forward (hook called), the rest fuse', async () => {
    const fused = await run(true, true);
    const plain = await run(false, true);
    expect(fused.hooked).toBe(1);
    // Boundaries 0|1 and 2|3 fuse; 1|2 does not (sublayer 2 has the hook).
    expect(fused.names.filter((n) => n === 'mhcPostResCoeffsPre')).toHaveLength(1);
    for (const k of Object.keys(plain.out)) expect(fused.out[k], k).toEqual(plain.out[k]);
  });

  it('runs non-mHC layers in the sequence as they are', async () => {
    const mods = build(2, 2, 8, 5);
    const x = input([3, 2, 8], 1);
    const scale = (t: Tensor) => mul(t, fromStorage(encode('bf16', [2]), [], 'bf16', { backend: 'cpu' }));
    const a = await forwardMhcStack([mods[0]!, scale, mods[1]!], x).data();
    const b = await mods[1]!.forward(scale(mods[0]!.forward(x))).data();
    expect(a).toEqual(b);
  });
});
