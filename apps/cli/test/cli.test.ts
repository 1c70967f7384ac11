import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const main = join(here, '..', 'dist', 'main.js');
const golden = join(here, '..', '..', '..', 'packages', 'conformance', 'fixtures', 'golden');
const scratch = mkdtempSync(join(tmpdir(), 'lmhc-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [main, ...args], {
    encoding: 'utf8',
    env: { ...process.env, LIGER_MHC_BACKEND: '' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('liger-mhc conformance', () => {
  it('runs any directory of cases in the golden format (no index.json needed)', () => {
    const dir = join(scratch, 'subset');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const f of ['coeffs-hc1.json', 'apply-odd.json', 'layer-hc2-c16-tmax4.json'])
      copyFileSync(join(golden, f), join(dir, f));
    const r = cli('conformance', '--backend', 'cpu', '--fixtures', dir, '--no-properties');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    // coeffs and layer cases run in both Sinkhorn save modes, the layer case once more through the
    // separate coeffs and pre ops: 2 + 1 + 3.
    expect(r.out.trim().split('\n').at(-1)).toBe('6 passed, 0 failed');
  });

  it('prints one line per failing tensor and exits non-zero', () => {
    const dir = join(scratch, 'broken');
    mkdirSync(dir, { recursive: true });
    const c = JSON.parse(readFileSync(join(golden, 'apply-f32.json'), 'utf8'));
    c.outputs.xOut.data[5] += 0.5;
    writeFileSync(join(dir, 'apply-f32.json'), JSON.stringify(c));
    const r = cli('conformance', '--backend', 'cpu', '--fixtures', dir, '--no-properties');
    expect(r.code).toBe(1);
    const lines = r.out.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('FAIL'))).toHaveLength(1);
    expect(lines.find((l) => l.startsWith('FAIL'))).toMatch(
      /^FAIL apply-f32 {2}xOut {2}max abs error 5\.0\d*e-1 .*tolerance rtol 0\.0001, atol 0\.00001/,
    );
    expect(lines.at(-1)).toBe('0 passed, 1 failed');
  });

  it('an unknown backend is a usage error naming the flag and the choices', () => {
    const r = cli('conformance', '--backend', 'nope');
    expect(r.code).toBe(2);
    expect(r.err).toBe("liger-mhc conformance: --backend: expected cpu, webgpu or cuda, got 'nope'\n");
  });

  it('an empty directory fails rather than passing vacuously', () => {
    const dir = join(scratch, 'empty');
    mkdirSync(dir, { recursive: true });
    const r = cli('conformance', '--backend', 'cpu', '--fixtures', dir, '--no-properties');
    expect(r.code).toBe(1);
    expect(r.out.trim().split('\n').at(-1)).toBe('0 passed, 0 failed');
  });
});

describe('liger-mhc train', () => {
  it('trains a few steps and writes curve, sample and weights', () => {
    const out = join(scratch, 'run');
    const r = cli(
      'train',
      '--backend',
      'cpu',
      '--steps',
      '30',
      '--batch',
      '8',
      '--seq',
      '32',
      '--eval-every',
      '10',
      '--out',
      out,
      '--sample-length',
      '40',
    );
    expect(r.code).toBe(0);
    const log = JSON.parse(readFileSync(join(out, 'loss.json'), 'utf8'));
    expect(log.losses).toHaveLength(30);
    const first = log.losses[0][1];
    const last = log.losses.slice(-5).reduce((a: number, p: number[]) => a + p[1]!, 0) / 5;
    expect(first).toBeGreaterThan(4);
    expect(last).toBeLessThan(first - 1);
    expect(readFileSync(join(out, 'loss.svg'), 'utf8')).toMatch(/^<svg/);
    expect(readFileSync(join(out, 'sample.txt'), 'utf8').startsWith('Fellow-Citizens of the Senate')).toBe(
      true,
    );
    expect(readFileSync(join(out, 'model.safetensors')).length).toBeGreaterThan(10_000);
  });

  it('rejects bad flags with a usage error', () => {
    const r = cli('train', '--steps', 'many');
    expect(r.code).toBe(2);
    expect(r.err).toBe("liger-mhc train: --steps: expected an integer >= 1, got 'many'\n");
  });
});
