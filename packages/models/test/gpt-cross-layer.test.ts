import { type GradNode, Random, type Tensor, tensor } from '@liger-mhc/core';
import { describe, expect, it } from 'vitest';
import { GPT, type GPTBlock } from '../src/index.js';

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

describe('GPT: cross-layer fused mHC boundaries', () => {
  it('fuses post_res and the next coefficients + pre between all sublayers, same loss and grads as block by block', async () => {
    const config = { vocab: 8, dim: 16, heads: 2, layers: 2, hc: 4, maxSeq: 8, rng: new Random(4) };
    const model = new GPT(config);
    const ids = tensor([1, 2, 3, 4, 5, 6, 7, 0], [2, 4], { dtype: 'i32' });
    const labels = tensor([2, 3, 4, 5, 6, 7, 0, 1], [2, 4], { dtype: 'i32' });
    const { loss } = model.loss(ids, labels);
    // 2 blocks × (attn, mlp) = 4 mHC sublayers, 3 boundaries between them.
    expect(nodeNames(loss).filter((n) => n === 'mhcPostResCoeffsPre')).toHaveLength(3);
    loss.backward();
    const fusedLoss = await loss.item();
    const fusedGrads = await Promise.all(model.parameters().map((p) => p.grad!.data()));
    for (const p of model.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }

    // The same model, each block's own forward in turn (no boundary fused).
    const blocks = model.blocks.children().map(([, b]) => b as GPTBlock);
    const forward = model.forward.bind(model);
    model.forward = (t: Tensor) => {
      const saved = blocks.map((b) => b.sublayers);
      for (const b of blocks) b.sublayers = () => [b];
      try {
        return forward(t);
      } finally {
        blocks.forEach((b, i) => {
          b.sublayers = saved[i]!;
        });
      }
    };
    const plain = model.loss(ids, labels).loss;
    expect(nodeNames(plain)).not.toContain('mhcPostResCoeffsPre');
    plain.backward();
    expect(await plain.item()).toBe(fusedLoss);
    const plainGrads = await Promise.all(model.parameters().map((p) => p.grad!.data()));
    for (const [i, g] of plainGrads.entries()) expect(fusedGrads[i]).toEqual(g);
  });
});
