import { type GradNode, Random, type Tensor, tensor } from '@liger-mhc/core';
import { GPT } from '@liger-mhc/models';
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
});
