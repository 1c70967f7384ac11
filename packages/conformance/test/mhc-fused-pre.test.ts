import {
  type Backend,
  BackendError,
  CpuBackend,
  type DType,
  encode,
  FUSED_MHC,
  fromStorage,
  LigerMHC,
  Linear,
  type MhcCoefficients,
  type MhcImplementation,
  type MhcKernels,
  mhcForward,
  mul,
  noGrad,
  Random,
  sum,
  type Tensor,
  type TensorInfo,
  UNFUSED_MHC,
} from '@liger-mhc/core';
import { describe, expect, it } from 'vitest';
import { runConformance } from '../src/index.js';

// Core's choice of the optional fused coeffs + pre kernel, tested here rather than in core because
// the last case runs the golden layer cases through that path with the kit, and core cannot depend
// on the kit (the kit depends on core).

interface Counts {
  coeffsForward: number;
  /** coeffsPreForward calls (the fused kernel). */
  fusedPre: number;
  preForward: number;
  preBackward: number;
}

interface WrapOptions {
  /** Offer the optional coeffsPreForward kernel. */
  fuse: boolean;
  /** What supportsCoeffsPre answers (default true). */
  supports?: boolean;
  accumulatesGradX?: boolean;
  /** Return a wrongly shaped xIn (contract violation). */
  badXIn?: boolean;
}

/**
 * The CPU backend behind a kernel set that offers coeffsPreForward (calling the CPU coeffs and pre
 * kernels itself, as a GPU backend would in the same pass over x), counting kernel calls.
 */
function wrappedCpu(o: WrapOptions): { be: Backend; counts: Counts } {
  const cpu = new CpuBackend();
  const inner = cpu.mhc;
  const counts: Counts = { coeffsForward: 0, fusedPre: 0, preForward: 0, preBackward: 0 };
  const fused: Pick<MhcKernels, 'coeffsPreForward' | 'supportsCoeffsPre'> = {
    supportsCoeffsPre: () => o.supports ?? true,
    coeffsPreForward(args) {
      counts.fusedPre++;
      const r = inner.coeffsForward(args);
      const [n, k] = args.x.shape as [number, number];
      const hc = args.config.hc;
      const x3: TensorInfo = { handle: args.x.handle, dtype: args.x.dtype, shape: [n, hc, k / hc] };
      const xIn = inner.preForward(x3, r.hPre);
      return { ...r, xIn: o.badXIn ? { ...xIn, shape: [n, k / hc - 1] } : xIn };
    },
  };
  const mhc: MhcKernels = {
    accumulatesGradX: o.accumulatesGradX ?? inner.accumulatesGradX,
    ...(o.fuse ? fused : {}),
    coeffsForward(args) {
      counts.coeffsForward++;
      return inner.coeffsForward(args);
    },
    coeffsBackward: (args) => inner.coeffsBackward(args),
    preForward(x, hPre) {
      counts.preForward++;
      return inner.preForward(x, hPre);
    },
    preBackward(g, x, hPre, acc) {
      counts.preBackward++;
      return inner.preBackward(g, x, hPre, acc);
    },
    postResForward: (...a) => inner.postResForward(...a),
    postResBackward: (...a) => inner.postResBackward(...a),
  };
  const be: Backend = {
    name: o.fuse ? 'cpu+fused-pre' : 'cpu+plain',
    capabilities: cpu.capabilities,
    mhc,
    ops: cpu.ops,
    alloc: (d, n) => cpu.alloc(d, n),
    write: (h, d) => cpu.write(h, d),
    read: (h) => cpu.read(h),
    readSync: (h) => cpu.readSync(h),
    disposeData: (h) => cpu.disposeData(h),
    memory: () => cpu.memory(),
    resetPeak: () => cpu.resetPeak(),
    sync: () => cpu.sync(),
    dispose: () => cpu.dispose(),
  };
  return { be, counts };
}

function rndOn(be: Backend, shape: number[], seed: number, dtype: DType, requiresGrad = false): Tensor {
  const rng = new Random(seed);
  const v = Float64Array.from({ length: shape.reduce((a, d) => a * d, 1) }, () => rng.normal());
  return fromStorage(encode(dtype, v), shape, dtype, { backend: be, requiresGrad });
}

const bits = async (t: Tensor | null) =>
  Array.from(new Uint32Array(Float32Array.from(await t!.data()).buffer));

interface LayerRun {
  y: number[];
  grads: Record<string, number[]>;
  /** Name and inputs of the node on the xIn the wrapped layer received. */
  preNode: { name: string; inputsAreXAndHPre: boolean } | null;
}

/** LigerMHC forward + backward on `be` (same seeds on every backend). */
async function runLigerMhc(
  be: Backend,
  opts: { hook?: (c: MhcCoefficients) => void; grad?: 'all' | 'x' | 'params' | 'none' } = {},
): Promise<LayerRun> {
  const hc = 3;
  const c = 8;
  const grad = opts.grad ?? 'all';
  const linear = new Linear(c, c, { backend: be, rng: new Random(7) });
  let seen: Tensor | null = null;
  const m = new LigerMHC(
    (t: Tensor) => {
      seen = t;
      return linear.forward(t);
    },
    { hc, c, backend: be, rng: new Random(3), alphaInit: 0.3, phiDtype: 'bf16' },
  );
  for (const p of [m.phi, m.b, m.alphaPre, m.alphaPost, m.alphaRes])
    p.requiresGrad = grad === 'all' || grad === 'params';
  let hPre: Tensor | null = null;
  m.onCoefficients = (co) => {
    opts.hook?.(co);
    hPre = co.hPre;
  };
  const x = rndOn(be, [2, 5, hc, c], 11, 'bf16', grad === 'all' || grad === 'x');
  const w = rndOn(be, [2, 5, hc, c], 12, 'bf16');
  const y = m.forward(x);
  const s = seen as Tensor | null;
  const node = s?.gradFn ?? null;
  const preNode = node && {
    name: node.name,
    inputsAreXAndHPre: node.inputs.length === 2 && node.inputs[0] === x && node.inputs[1] === hPre,
  };
  if (grad !== 'none') sum(mul(y, w)).backward();
  const grads: Record<string, number[]> = { x: grad === 'all' || grad === 'x' ? await bits(x.grad) : [] };
  for (const [name, p] of m.namedParameters()) grads[name] = p.grad ? await bits(p.grad) : [];
  grads['layer.weight'] = linear.weight.grad ? await bits(linear.weight.grad) : [];
  return { y: await bits(y), grads, preNode };
}

describe('fused coefficients + pre forward (MhcKernels.coeffsPreForward)', () => {
  for (const accumulatesGradX of [true, false])
    it(`LigerMHC forward + backward is bit-identical fused and unfused (accumulatesGradX ${accumulatesGradX})`, async () => {
      const fused = wrappedCpu({ fuse: true, accumulatesGradX });
      const plain = wrappedCpu({ fuse: false, accumulatesGradX });
      const a = await runLigerMhc(fused.be);
      const b = await runLigerMhc(plain.be);
      expect(a.y).toEqual(b.y);
      expect(Object.keys(a.grads)).toEqual([
        'x',
        'phi',
        'b',
        'alphaPre',
        'alphaPost',
        'alphaRes',
        'layer.weight',
      ]);
      for (const k of Object.keys(a.grads)) {
        expect(a.grads[k]!.length, k).toBeGreaterThan(0);
        expect(a.grads[k], k).toEqual(b.grads[k]);
      }
      // The same pre node either way: name 'mhcPre', inputs [x, hPre].
      expect(a.preNode).toEqual({ name: 'mhcPre', inputsAreXAndHPre: true });
      expect(b.preNode).toEqual(a.preNode);
      // Fused: coeffsPreForward ran instead of both kernels; the backward is preBackward.
      expect(fused.counts).toEqual({ coeffsForward: 0, fusedPre: 1, preForward: 0, preBackward: 1 });
      // A backend without the kernel: core runs coeffsForward and preForward.
      expect(plain.counts).toEqual({ coeffsForward: 1, fusedPre: 0, preForward: 1, preBackward: 1 });
    });

  for (const grad of ['x', 'params', 'none'] as const)
    it(`records the pre node exactly when unfused would (gradients: ${grad})`, async () => {
      const fused = wrappedCpu({ fuse: true });
      const plain = wrappedCpu({ fuse: false });
      const a = await runLigerMhc(fused.be, { grad });
      const b = await runLigerMhc(plain.be, { grad });
      expect(a).toEqual(b);
      expect(a.preNode === null).toBe(grad === 'none');
      expect(fused.counts.fusedPre).toBe(1);
      expect(fused.counts.preForward).toBe(0);
    });

  it('under noGrad records no node and still fuses', async () => {
    const fused = wrappedCpu({ fuse: true });
    const m = new LigerMHC((t: Tensor) => t, { hc: 2, c: 4, backend: fused.be, rng: new Random(1) });
    const x = rndOn(fused.be, [3, 2, 4], 2, 'bf16', true);
    const y = noGrad(() => m.forward(x));
    expect(y.gradFn).toBeNull();
    expect(y.requiresGrad).toBe(false);
    expect(fused.counts.fusedPre).toBe(1);
  });

  it('runs the separate kernels where supportsCoeffsPre declines (same result)', async () => {
    const declined = wrappedCpu({ fuse: true, supports: false });
    const plain = wrappedCpu({ fuse: false });
    expect(await runLigerMhc(declined.be)).toEqual(await runLigerMhc(plain.be));
    expect(declined.counts).toEqual({ coeffsForward: 1, fusedPre: 0, preForward: 1, preBackward: 1 });
  });

  it('the hook sees the coefficients the layer used', async () => {
    const fused = wrappedCpu({ fuse: true });
    let seen: readonly number[] = [];
    await runLigerMhc(fused.be, {
      hook: (co) => {
        seen = co.hPre.shape;
      },
    });
    expect(seen).toEqual([2, 5, 3]);
    expect(fused.counts.fusedPre).toBe(1);
  });

  it('the unfused implementation runs no mHC kernel and agrees with the fused one', async () => {
    const w = wrappedCpu({ fuse: true });
    const make = (implementation: MhcImplementation) =>
      new LigerMHC((t: Tensor) => t, {
        hc: 2,
        c: 4,
        backend: w.be,
        rng: new Random(1),
        allowFp32: true,
        implementation,
      });
    const x = rndOn(w.be, [3, 2, 4], 2, 'f32');
    const a = await make(UNFUSED_MHC).forward(x).data();
    expect(w.counts).toEqual({ coeffsForward: 0, fusedPre: 0, preForward: 0, preBackward: 0 });
    const b = await make(FUSED_MHC).forward(x).data();
    expect(w.counts.fusedPre).toBe(1);
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i]!, 5);
  });

  it('mhcForward takes the fused path and matches the unfused op sequence bit for bit', async () => {
    const run = async (be: Backend) => {
      const hc = 4;
      const c = 6;
      const m = hc * hc + 2 * hc;
      const x = rndOn(be, [7, hc, c], 1, 'bf16', true);
      const phi = rndOn(be, [hc * c, m], 2, 'f32', true);
      const b = rndOn(be, [m], 3, 'f32', true);
      const [ap, apo, ar] = [4, 5, 6].map((s) => rndOn(be, [], s, 'f32', true)) as [Tensor, Tensor, Tensor];
      const w = rndOn(be, [7, hc, c], 8, 'bf16');
      const y = mhcForward(x, (t) => mul(t, t), phi, b, ap, apo, ar, { sinkhornSave: 'recompute' });
      sum(mul(y, w)).backward();
      return [await bits(y), ...(await Promise.all([x, phi, b, ap, apo, ar].map((t) => bits(t.grad))))];
    };
    const fused = wrappedCpu({ fuse: true });
    const plain = wrappedCpu({ fuse: false });
    expect(await run(fused.be)).toEqual(await run(plain.be));
    expect(fused.counts.fusedPre).toBe(1);
    expect(fused.counts.preForward).toBe(0);
    expect(fused.counts.coeffsForward).toBe(0);
    expect(plain.counts.preForward).toBe(1);
  });

  it('rejects an xIn of the wrong shape with a BackendError', () => {
    const bad = wrappedCpu({ fuse: true, badXIn: true });
    const m = new LigerMHC((t: Tensor) => t, { hc: 2, c: 4, backend: bad.be, rng: new Random(1) });
    expect(() => m.forward(rndOn(bad.be, [3, 2, 4], 2, 'bf16'))).toThrow(BackendError);
  });

  it('the conformance kit runs the golden layer cases through the fused path, and they pass', async () => {
    const fused = wrappedCpu({ fuse: true });
    const report = await runConformance({ backend: fused.be, filter: 'layer', properties: false });
    expect(report.failures).toEqual([]);
    // 3 layer cases: layer path in both save modes, and the separate ops once.
    expect(report.cases.map((r) => r.name).filter((n) => n.endsWith('(separate ops)'))).toHaveLength(3);
    expect(report.passed).toBe(9);
    expect(fused.counts.fusedPre).toBe(6);
    expect(fused.counts.coeffsForward).toBe(3);
    expect(fused.counts.preForward).toBe(3);
  });
});
