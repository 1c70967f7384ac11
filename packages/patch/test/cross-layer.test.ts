import { type GradNode, Random, type Tensor, tensor } from '@liger-mhc/core';
import { GPT, TinyDeepseekV4 } from '@liger-mhc/models';
import { describe, expect, it } from 'vitest';
import { applyLigerMhc } from '../src/index.js';

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

describe('applyLigerMhc: cross-layer boundaries', () => {
  const ids = () => tensor([1, 2, 3, 4, 5, 6], [2, 3], { dtype: 'i32' });
  const config = { vocab: 8, dim: 8, heads: 2, layers: 2, hc: 2, maxSeq: 8 } as const;

  it('a patched reference GPT fuses the boundaries between its mHC sublayers', async () => {
    const model = new GPT({ ...config, residual: 'reference-mhc', rng: new Random(2) });
    const before = await model.forward(ids()).data();
    const handle = await applyLigerMhc(model);
    const logits = model.forward(ids());
    expect(nodeNames(logits).filter((n) => n === 'mhcPostResCoeffsPre')).toHaveLength(3);
    const after = await logits.data();
    // Reference (generic ops) vs fused kernels: same math, f32 rounding apart.
    for (let i = 0; i < before.length; i++) expect(after[i]).toBeCloseTo(before[i]!, 4);
    handle.unpatch();
  });

  it('with some ops left unfused the patched layers run their own forward (no boundary fused)', async () => {
    const model = new GPT({ ...config, residual: 'reference-mhc', rng: new Random(2) });
    const handle = await applyLigerMhc(model, { ops: { postRes: false } });
    expect(nodeNames(model.forward(ids()))).not.toContain('mhcPostResCoeffsPre');
    handle.unpatch();
  });

  it('a patched tiny DeepSeek-V4 model fuses the boundaries inside and across its blocks', async () => {
    const model = new TinyDeepseekV4({ vocab: 8, dim: 8, heads: 2, layers: 2, hc: 4, rng: new Random(3) });
    const run = async () => {
      const logits = model.forward(ids());
      const names = nodeNames(logits);
      logits.backward(
        tensor(
          Array.from({ length: logits.size }, (_, i) => Math.sin(i)),
          [...logits.shape],
        ),
      );
      const grads = await Promise.all(model.parameters().map((p) => p.grad!.data()));
      for (const p of model.parameters()) {
        p.grad?.dispose();
        p.grad = null;
      }
      return { names, logits: await logits.data(), grads };
    };
    const ref = await run();
    const handle = await applyLigerMhc(model);
    const fused = await run();
    // 2 blocks × (attn, ffn) = 4 sublayers, 3 boundaries.
    expect(fused.names.filter((n) => n === 'mhcPostResCoeffsPre')).toHaveLength(3);
    expect(ref.names).not.toContain('mhcPostResCoeffsPre');
    for (let i = 0; i < ref.logits.length; i++) expect(fused.logits[i]).toBeCloseTo(ref.logits[i]!, 4);
    for (const [j, g] of ref.grads.entries()) {
      const scale = Math.max(...Array.from(g, Math.abs));
      for (let i = 0; i < g.length; i++)
        expect(Math.abs(fused.grads[j]![i]! - g[i]!)).toBeLessThan(1e-4 * scale + 1e-6);
    }
    handle.unpatch();
    expect(nodeNames(model.forward(ids()))).not.toContain('mhcPostResCoeffsPre');
  });
});
