import {
  compare,
  defaultFixturesDir,
  type FixtureTensor,
  loadCases,
  type MiniLmCase,
  TOLERANCES,
} from '@liger-mhc/conformance';
import {
  ArgumentError,
  type Backend,
  BackendError,
  CpuBackend,
  type DType,
  encode,
  fromStorage,
  type LigerMHC,
  MiniMhcLM,
  type Module,
  Random,
  registerBackend,
  type Tensor,
  tensor,
  tidy,
  UnsupportedKernelError,
} from '@liger-mhc/core';
import { GPT, plainGPT, ReferenceMHC, ReferenceMiniMhcLM } from '@liger-mhc/models';
import { describe, expect, it } from 'vitest';
import { applyLigerMhc, PatchedLigerMHC } from '../src/index.js';
import { availableBackends } from './backends.js';

const backends = await availableBackends();
const miniLmCases = (await loadCases(defaultFixturesDir())).cases.filter(
  (c): c is MiniLmCase => c.op === 'miniLm',
);

interface Run {
  loss: Float32Array;
  logits: Float32Array;
  grads: Record<string, Float32Array>;
}

/** Loss, logits and every parameter gradient of one forward/backward (gradients reset first). */
async function run(
  model: Module & { loss(ids: Tensor, labels: Tensor): { loss: Tensor; logits: Tensor } },
  ids: Tensor,
  labels: Tensor,
): Promise<Run> {
  for (const p of model.parameters()) {
    p.grad?.dispose();
    p.grad = null;
  }
  const [loss, logits] = tidy(() => {
    const out = model.loss(ids, labels);
    out.loss.backward();
    return [out.loss, out.logits];
  });
  const grads: Record<string, Float32Array> = {};
  for (const [name, p] of model.namedParameters()) grads[name] = Float32Array.from(await p.grad!.data());
  const r = {
    loss: Float32Array.from(await loss.data()),
    logits: Float32Array.from(await logits.data()),
    grads,
  };
  loss.dispose();
  logits.dispose();
  return r;
}

function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  label: string,
  dtype: DType = 'f32',
): void {
  const c = compare(actual, expected, TOLERANCES[dtype]);
  expect(c.ratio, `${label}: max abs error ${c.maxAbsError}`).toBeLessThanOrEqual(1);
}

/**
 * Gradients of two computations of the same model. Some are pure cancellation (the α gradients of
 * a freshly initialised layer sum terms that nearly cancel to ~1e-11), so the absolute floor is
 * relative to the largest gradient of the whole model, not of the one tensor.
 */
function expectCloseGrads(actual: Run['grads'], expected: Run['grads'], label: string): void {
  let scale = 0;
  for (const g of Object.values(expected)) for (const v of g) scale = Math.max(scale, Math.abs(v));
  for (const [k, e] of Object.entries(expected)) {
    const a = actual[k]!;
    let worst = 0;
    for (let i = 0; i < e.length; i++) {
      const bound = TOLERANCES.f32.atol * scale + TOLERANCES.f32.rtol * Math.abs(e[i]!);
      worst = Math.max(worst, Math.abs(a[i]! - e[i]!) / bound);
    }
    expect(worst, `${label} ${k}`).toBeLessThanOrEqual(1);
  }
}

function expectIdentical(a: Run, b: Run): void {
  expect(Buffer.from(a.loss.buffer).equals(Buffer.from(b.loss.buffer))).toBe(true);
  expect(Buffer.from(a.logits.buffer).equals(Buffer.from(b.logits.buffer))).toBe(true);
  expect(Object.keys(a.grads)).toEqual(Object.keys(b.grads));
  for (const k of Object.keys(a.grads))
    expect(Buffer.from(a.grads[k]!.buffer).equals(Buffer.from(b.grads[k]!.buffer)), `grad ${k}`).toBe(true);
}

/** The golden case's parameters, in MiniMhcLM's names. */
function goldenParams(c: MiniLmCase): Record<string, FixtureTensor> {
  const p: Record<string, FixtureTensor> = {
    'embedding.weight': c.inputs.embedding,
    'head.weight': c.inputs.head,
  };
  c.inputs.layers.forEach((l, i) => {
    for (const [k, v] of Object.entries(l))
      p[k === 'weight' ? `layers.${i}.layer.weight` : `layers.${i}.${k}`] = v;
  });
  return p;
}

function goldenGrads(c: MiniLmCase): Record<string, FixtureTensor> {
  const g: Record<string, FixtureTensor> = {
    'embedding.weight': c.grads.embedding,
    'head.weight': c.grads.head,
  };
  c.grads.layers.forEach((l, i) => {
    for (const [k, v] of Object.entries(l))
      g[k === 'weight' ? `layers.${i}.layer.weight` : `layers.${i}.${k}`] = v;
  });
  return g;
}

async function referenceMiniLm(c: MiniLmCase, be: Backend): Promise<ReferenceMiniMhcLM> {
  const { vocab, hc, c: width, layers, tmax, rmsEps, preEps, sinkhornEps, postMult } = c.config;
  // As core's conformance runner builds it: f32 activations, bf16 φ (the fixture's φ is bf16-exact).
  const model = new ReferenceMiniMhcLM({
    vocab,
    hc,
    c: width,
    layers,
    tmax,
    rmsEps,
    preEps,
    sinkhornEps,
    postMult,
    activationDtype: 'f32',
    phiDtype: 'bf16',
    backend: be,
    rng: new Random(1),
  });
  const state = model.stateDict();
  for (const [name, t] of Object.entries(goldenParams(c))) {
    const p = state[name]!;
    // The fixture values are exact in the parameter's dtype (bf16 for φ).
    p.backend.write(p.handle, encode(p.dtype, t.data));
  }
  return model;
}

describe.each(backends.map((b) => [b.name, b] as const))('applyLigerMhc on %s', (_name, be) => {
  // A generous timeout: a GPU backend under a software Vulkan (lavapipe) compiles each new shader
  // on first use, which for the unfused reference path's many small kernels can take a minute.
  for (const c of miniLmCases)
    it(`golden ${c.name}: patched = unpatched = golden; after unpatch bit-identical`, {
      timeout: 180_000,
    }, async () => {
      const model = await referenceMiniLm(c, be);
      const ids = fromStorage(Int32Array.from(c.inputs.inputIds.data), c.inputs.inputIds.shape, 'i32', {
        backend: be,
      });
      const labels = fromStorage(Int32Array.from(c.inputs.labels.data), c.inputs.labels.shape, 'i32', {
        backend: be,
      });
      let before: Run;
      try {
        before = await run(model, ids, labels);
      } catch (err) {
        if (err instanceof UnsupportedKernelError) {
          console.info(`[patch tests] ${be.name}: skipped, ${err.message}`);
          return;
        }
        throw err;
      }
      const golden = goldenGrads(c);
      // A gradient is stored (and judged) in its parameter's dtype: bf16 for φ, as in core's runner.
      const dtypes = Object.fromEntries([...model.namedParameters()].map(([k, p]) => [k, p.dtype]));
      // The unpatched (reference, generic ops) model matches the golden case ...
      expectClose(before.loss, [c.outputs.loss], 'reference loss');
      expectClose(before.logits, c.outputs.logits.data, 'reference logits');
      for (const [k, g] of Object.entries(golden))
        expectClose(before.grads[k]!, g.data, `reference grad ${k}`, dtypes[k]);

      const handle = await applyLigerMhc(model, { backend: be });
      expect(handle.report.backend).toBe(be.name);
      expect(handle.report.movedParameters).toEqual([]);
      expect(handle.report.patched.map((p) => p.path)).toEqual(
        Array.from({ length: c.config.layers }, (_, i) => `layers.${i}`),
      );
      expect(handle.report.patched.every((p) => p.fused.join() === 'coeffs,pre,postRes')).toBe(true);
      expect(model.blocks.every((b) => b instanceof PatchedLigerMHC)).toBe(true);
      // ... and so does the patched one (fused kernels), with the same parameter names.
      const patched = await run(model, ids, labels);
      expectClose(patched.loss, [c.outputs.loss], 'patched loss');
      expectClose(patched.logits, c.outputs.logits.data, 'patched logits');
      for (const [k, g] of Object.entries(golden))
        expectClose(patched.grads[k]!, g.data, `patched grad ${k}`, dtypes[k]);
      expectCloseGrads(patched.grads, before.grads, 'patched vs unpatched');
      // The two paths are different computations: identical bits would mean nothing was swapped.
      expect(Buffer.from(patched.logits.buffer).equals(Buffer.from(before.logits.buffer))).toBe(false);

      handle.unpatch();
      expect(handle.active).toBe(false);
      expect(model.blocks.every((b) => (b as unknown) instanceof ReferenceMHC)).toBe(true);
      expectIdentical(await run(model, ids, labels), before);
      handle.unpatch(); // idempotent
      model.dispose();
    });

  it('GPT with reference mHC: same outputs and gradients when patched, per op subset too', {
    timeout: 180_000,
  }, async () => {
    const model = new GPT({
      vocab: 11,
      dim: 12,
      heads: 3,
      layers: be.name === 'cpu' ? 2 : 1,
      hc: 3,
      maxSeq: 8,
      residual: 'reference-mhc',
      backend: be,
      rng: new Random(3),
    });
    const ids = tensor([1, 5, 2, 7, 3, 9, 4, 0, 6, 10, 8, 1], [2, 6], { dtype: 'i32', backend: be });
    const labels = tensor([5, 2, 7, 3, 9, 4, 0, 6, 10, 8, 1, 2], [2, 6], { dtype: 'i32', backend: be });
    let before: Run;
    try {
      before = await run(model, ids, labels);
    } catch (err) {
      if (err instanceof UnsupportedKernelError)
        return void console.info(`[patch tests] ${be.name}: skipped, ${err.message}`);
      throw err;
    }
    // Op subsets are backend-independent wiring: the CPU covers them; other backends (slow under a
    // software Vulkan) run the fully fused patch.
    const subsets =
      be.name === 'cpu' ? [{}, { pre: false, postRes: false }, { coeffs: false }, { postRes: false }] : [{}];
    for (const ops of subsets) {
      const h = await applyLigerMhc(model, { ops });
      expect(h.report.patched).toHaveLength(2 * model.config.layers);
      const want = ['coeffs', 'pre', 'postRes'].filter((k) => (ops as Record<string, boolean>)[k] !== false);
      expect(h.report.patched[0]!.fused).toEqual(want);
      const r = await run(model, ids, labels);
      expectClose(r.loss, before.loss, `loss ${JSON.stringify(ops)}`);
      expectClose(r.logits, before.logits, `logits ${JSON.stringify(ops)}`);
      expectCloseGrads(r.grads, before.grads, JSON.stringify(ops));
      h.unpatch();
      expectIdentical(await run(model, ids, labels), before);
    }
    model.dispose();
  });
});

describe('applyLigerMhc: parameters, moves and errors', () => {
  it('training while patched trains the shared parameters', async () => {
    const model = new GPT({
      vocab: 6,
      dim: 8,
      heads: 2,
      layers: 1,
      hc: 2,
      maxSeq: 8,
      residual: 'reference-mhc',
      rng: new Random(4),
    });
    const phi = model.stateDict()['blocks.0.attn.phi']!;
    const phiBefore = Float32Array.from(phi.dataSync());
    const h = await applyLigerMhc(model);
    const patchedLayer = [...model.namedModules()].find(([p]) => p === 'blocks.0.attn')![1] as LigerMHC;
    expect(patchedLayer.phi).toBe(phi);
    const { AdamW } = await import('@liger-mhc/core');
    const opt = new AdamW(model.parameters(), { lr: 1e-2 });
    tidy(() => {
      const out = model.loss(
        tensor([1, 2, 3, 4], [1, 4], { dtype: 'i32' }),
        tensor([2, 3, 4, 5], [1, 4], { dtype: 'i32' }),
      );
      out.loss.backward();
      opt.step();
    });
    h.unpatch();
    expect(model.stateDict()['blocks.0.attn.phi']).toBe(phi);
    expect(Array.from(phi.dataSync())).not.toEqual(Array.from(phiBefore));
  });

  it('moves every parameter to another backend, and back on unpatch', async () => {
    // A second CPU instance under another name is a different backend as far as tensors go.
    let other: Backend | null = null;
    registerBackend('cpu-other', () => (other = new CpuBackend()), -10);
    const model = new GPT({
      vocab: 7,
      dim: 8,
      heads: 2,
      layers: 1,
      hc: 2,
      maxSeq: 8,
      residual: 'reference-mhc',
      rng: new Random(5),
    });
    const ids = tensor([1, 2, 3, 4, 5, 6], [2, 3], { dtype: 'i32' });
    const labels = tensor([2, 3, 4, 5, 6, 0], [2, 3], { dtype: 'i32' });
    const before = await run(model, ids, labels);
    const originals = model.parameters();
    const h = await applyLigerMhc(model, { backend: 'cpu-other' });
    expect(h.report.backend).toBe('cpu');
    expect(h.report.movedParameters).toEqual(Object.keys(model.stateDict()));
    expect(model.parameters().every((p) => p.backend === other)).toBe(true);
    const onOther = await run(model, await ids.to(other!), await labels.to(other!));
    expectClose(onOther.logits, before.logits, 'logits on the other backend');
    expectCloseGrads(onOther.grads, before.grads, 'on the other backend');
    h.unpatch();
    expect(model.parameters()).toEqual(originals);
    expect(model.parameters().every((p) => p.backend.name === 'cpu' && p.backend !== other)).toBe(true);
    expectIdentical(await run(model, ids, labels), before);
  });

  it('clear errors: no mHC layers, already fused, unsupported module, backend not installed, bad ops', async () => {
    const plain = plainGPT({ vocab: 5, dim: 4, heads: 1, layers: 1 });
    await expect(applyLigerMhc(plain)).rejects.toThrow(ArgumentError);
    await expect(applyLigerMhc(plain)).rejects.toThrow(/no mHC layers in this GPT.*hyperConnect/);
    const mini = new MiniMhcLM({ vocab: 5, hc: 2, c: 4, layers: 2, allowFp32: true });
    await expect(applyLigerMhc(mini)).rejects.toThrow(
      /the 2 mHC layer\(s\) of this MiniMhcLM are already LigerMHC/,
    );

    class TweakedMHC extends ReferenceMHC {}
    const ref = new GPT({ vocab: 5, dim: 4, heads: 1, layers: 1, hc: 2, residual: 'reference-mhc' });
    const blockAttn = [...ref.namedModules()].find(([p]) => p === 'blocks.0.attn')![1] as ReferenceMHC;
    const tweaked = new TweakedMHC(blockAttn.layer, { hc: 2, c: 4, params: blockAttn.params });
    ref.blocks.children()[0]![1].replaceModule('attn', tweaked);
    await expect(applyLigerMhc(ref)).rejects.toThrow(
      "model: unsupported module at 'blocks.0.attn': TweakedMHC extends ReferenceMHC",
    );
    // Nothing was patched by the rejected call.
    expect([...ref.namedModules()].some(([, m]) => m instanceof PatchedLigerMHC)).toBe(false);

    const good = new GPT({ vocab: 5, dim: 4, heads: 1, layers: 1, hc: 2, residual: 'reference-mhc' });
    const notInstalled = await applyLigerMhc(good, { backend: 'cuda' }).catch((e: unknown) => e);
    if (!backends.some((b) => b.name === 'cuda')) {
      expect(notInstalled).toBeInstanceOf(BackendError);
      expect((notInstalled as Error).message).toMatch(/applyLigerMhc: backend 'cuda' is not available/);
    }
    const unknown = await applyLigerMhc(good, { backend: 'tpu' }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(BackendError);
    expect((unknown as Error).message).toMatch(
      /backend 'tpu' is not available \(unknown backend 'tpu'; registered: .*cpu/,
    );
    await expect(applyLigerMhc(good, { ops: { coeffs: false, pre: false, postRes: false } })).rejects.toThrow(
      'ops: every op is set to false',
    );
    await expect(applyLigerMhc(good, { ops: { sinkhorn: true } as never })).rejects.toThrow(
      /unknown op\(s\) sinkhorn/,
    );
    expect([...good.namedModules()].filter(([, m]) => m instanceof ReferenceMHC)).toHaveLength(2);
  });
});
