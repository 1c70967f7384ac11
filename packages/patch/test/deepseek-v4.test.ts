import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { TOLERANCES } from '@liger-mhc/conformance';
import { type Backend, deserializeStateDict, tensor } from '@liger-mhc/core';
import { TinyDeepseekV4, toOurNames } from '@liger-mhc/models';
import { type ParityCheck, type ParityExpected, runParityFixtures } from '@liger-mhc/models/parity';
import { describe, expect, it } from 'vitest';
import { v4KernelsOf } from '../src/deepseek-v4.js';
import { applyLigerMhc, type PatchHandle } from '../src/index.js';
import { availableBackends } from './backends.js';

const backends = await availableBackends();
const FIXTURES = join(
  dirname(createRequire(import.meta.url).resolve('@liger-mhc/models/package.json')),
  'fixtures',
  'parity',
);

const failures = (checks: ParityCheck[]) =>
  checks
    .filter((c) => !c.pass)
    .map((c) => `${c.case} ${c.quantity}: ratio ${c.ratio}`)
    .join('\n');

async function loadFixtureModel(be: Backend): Promise<{ model: TinyDeepseekV4; expected: ParityExpected }> {
  const manifest = JSON.parse(await readFile(join(FIXTURES, 'manifest.json'), 'utf8'));
  const c = manifest.cases.find((k: { name: string }) => k.name === 'tiny-deepseek-v4');
  const model = new TinyDeepseekV4({ ...c.config, backend: be });
  const state = deserializeStateDict(new Uint8Array(await readFile(join(FIXTURES, c.checkpoint))), {
    backend: be,
  });
  await model.loadStateDict(toOurNames(state, 'deepseek-v4'));
  for (const t of Object.values(state)) t.dispose();
  const expected = JSON.parse(await readFile(join(FIXTURES, c.expected), 'utf8')) as ParityExpected;
  return { model, expected };
}

describe('applyLigerMhc on the tiny DeepSeek-V4 model', () => {
  for (const name of ['cpu', 'webgpu', 'cuda']) {
    it(`patched onto the fused kernels, it matches the float64 reference on ${name}`, async (ctx) => {
      const be = backends.find((b) => b.name === name);
      if (!be) return ctx.skip();
      const reports: PatchHandle['report'][] = [];
      const report = await runParityFixtures(FIXTURES, be, {
        filter: 'tiny-deepseek-v4',
        prepare: async (model) => {
          const handle = await applyLigerMhc(model);
          reports.push(handle.report);
          return () => handle.unpatch();
        },
      });
      expect(report.cases.length).toBe(2);
      expect(failures(report.cases.flatMap((c) => c.checks))).toBe('');
      // Both blocks of the two-layer case, the one block of the one-layer case.
      const blocks = (r: PatchHandle['report']) => r.patched.filter((p) => p.path.startsWith('layers.'));
      expect(reports.map((r) => blocks(r).map((p) => p.path))).toEqual([
        ['layers.0', 'layers.1'],
        ['layers.0'],
      ]);
      expect(reports[0]!.patched[0]!.fused).toEqual(['coeffs', 'pre', 'postRes']);
      // Head, expand and norm-in-pre are fused exactly where the backend has their kernels.
      const k = v4KernelsOf(be);
      const extra = reports[0]!.patched.find((p) => p.path === '');
      const fusedExtra = (['head', 'expand'] as const).filter((x) => k[x]);
      expect(extra?.to).toBe(fusedExtra.length ? `fused ${fusedExtra.join(' and ')}` : undefined);
      expect(reports[0]!.patched[0]!.to).toBe(
        k.preNorm ? 'fused mHC kernels, norm fused into pre' : 'fused mHC kernels',
      );
    });

    it(`unpatch restores the unfused model bit for bit on ${name}`, async (ctx) => {
      const be = backends.find((b) => b.name === name);
      if (!be) return ctx.skip();
      const { model, expected } = await loadFixtureModel(be);
      const b = expected.ids.length;
      const t = expected.ids[0]!.length;
      const ids = tensor(expected.ids.flat(), [b, t], { dtype: 'i32', backend: be });
      const before = await model.forward(ids).data();
      const handle = await applyLigerMhc(model);
      expect(Object.hasOwn(model.blocks[0]!, 'hcPre')).toBe(true);
      const patched = await model.forward(ids).data();
      handle.unpatch();
      expect(handle.active).toBe(false);
      expect(Object.hasOwn(model.blocks[0]!, 'hcPre')).toBe(false);
      const after = await model.forward(ids).data();
      expect(Array.from(after)).toEqual(Array.from(before));
      // The fused path computes the same logits within the f32 tolerance, but not the same bits
      // (a different summation order), which shows the patch really swapped the computation.
      const tol = TOLERANCES.f32;
      const scale = Math.max(...Array.from(before, Math.abs));
      let differs = false;
      for (let i = 0; i < before.length; i++) {
        expect(Math.abs(patched[i]! - before[i]!)).toBeLessThanOrEqual(
          tol.atol * scale + tol.rtol * Math.abs(before[i]!),
        );
        if (patched[i] !== before[i]) differs = true;
      }
      expect(differs).toBe(true);
      // Only the V4 kernels the backend has can be asked for.
      const k = v4KernelsOf(be);
      if (!k.head) await expect(applyLigerMhc(model, { v4: { head: true } })).rejects.toThrow(/v4\.head/);
      const again = await applyLigerMhc(model, { v4: { head: false, expand: false, preNorm: false } });
      await expect(applyLigerMhc(model)).rejects.toThrow(/already patched/);
      again.unpatch();
      model.dispose();
    });
  }
});
