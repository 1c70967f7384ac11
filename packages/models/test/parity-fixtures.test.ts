import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from '@liger-mhc/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ParityCheck, runParityFixtures } from '../src/parity-fixtures.js';
import { availableBackends } from './backends.js';

const here = dirname(fileURLToPath(import.meta.url));
const FIXTURES = resolve(here, '..', 'fixtures', 'parity');

function describeFailures(checks: ParityCheck[]): string {
  return checks
    .filter((c) => !c.pass)
    .map(
      (c) =>
        `${c.case} ${c.quantity}: ratio ${c.ratio.toExponential(2)} max|err| ${c.maxAbsError}${c.note ? ` (${c.note})` : ''}`,
    )
    .join('\n');
}

let backends: Backend[] = [];
beforeAll(async () => {
  backends = await availableBackends();
});
afterAll(() => {
  for (const b of backends) if (b.name !== 'cpu') b.dispose();
});

describe('model parity fixtures (PyTorch float64 oracle)', () => {
  for (const name of ['cpu', 'webgpu', 'cuda']) {
    it(`every case matches on ${name}`, async (ctx) => {
      const be = backends.find((b) => b.name === name);
      if (!be) return ctx.skip();
      const report = await runParityFixtures(FIXTURES, be);
      const all = report.cases.flatMap((c) => c.checks);
      expect(describeFailures(all)).toBe('');
      expect(report.cases.map((c) => c.name).sort()).toEqual([
        'liger-mini-lm-hc2',
        'liger-mini-lm-hc4',
        'tiny-deepseek-v4',
        'tiny-deepseek-v4-hc2',
      ]);
      // Logits, loss and at least one gradient per case.
      for (const c of report.cases) expect(c.checks.length).toBeGreaterThan(3);
    });
  }
});
