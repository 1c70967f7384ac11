import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const main = join(here, '..', 'dist', 'main.js');
const scratch = mkdtempSync(join(tmpdir(), 'lmhc-gpt-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [main, ...args], {
    encoding: 'utf8',
    env: { ...process.env, LIGER_MHC_BACKEND: '' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('liger-mhc train --model gpt', () => {
  it('trains a (tiny) mHC GPT on the corpus and writes the run', () => {
    const out = join(scratch, 'gpt');
    const r = cli(
      'train',
      '--model',
      'gpt',
      '--backend',
      'cpu',
      '--steps',
      '30',
      '--batch',
      '8',
      '--seq',
      '16',
      '--dim',
      '16',
      '--heads',
      '2',
      '--layers',
      '1',
      '--hc',
      '2',
      '--lr',
      '1e-2',
      '--eval-every',
      '10',
      '--sample-length',
      '8',
      '--out',
      out,
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^training GPT \(mHC, hc 2\) on 'cpu'/);
    const run = JSON.parse(readFileSync(join(out, 'loss.json'), 'utf8')) as {
      model: string;
      losses: [number, number][];
    };
    expect(run.model).toBe('gpt');
    expect(run.losses).toHaveLength(30);
    const mean = (xs: [number, number][]) => xs.reduce((a, p) => a + p[1], 0) / xs.length;
    // From about ln(76) ≈ 4.3 (uniform over the characters) down by a clear margin in 30 steps.
    expect(mean(run.losses.slice(0, 3))).toBeGreaterThan(3.5);
    expect(mean(run.losses.slice(-5))).toBeLessThan(mean(run.losses.slice(0, 3)) - 0.6);
    expect(readFileSync(join(out, 'sample.txt'), 'utf8').startsWith('Fellow-Citizens of the Senate')).toBe(
      true,
    );
  });

  it('the plain residual baseline and option errors', () => {
    const r = cli(
      'train',
      '--model',
      'gpt',
      '--residual',
      'plain',
      '--backend',
      'cpu',
      '--steps',
      '2',
      '--batch',
      '2',
      '--seq',
      '8',
      '--dim',
      '8',
      '--heads',
      '2',
      '--layers',
      '1',
      '--sample-length',
      '0',
      '--out',
      join(scratch, 'plain'),
    );
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^training GPT \(plain residual\) on 'cpu'/);
    expect(cli('train', '--model', 'transformer').err).toMatch(
      /--model: expected mini-lm or gpt, got 'transformer'/,
    );
    expect(cli('train', '--model', 'gpt', '--residual', 'dense').err).toMatch(
      /--residual: expected mhc or plain/,
    );
  });
});
