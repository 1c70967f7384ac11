import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSafetensors } from '@liger-mhc/core';
import { afterAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const main = join(here, '..', 'dist', 'main.js');
const parity = join(here, '..', '..', '..', 'packages', 'models', 'fixtures', 'parity');
const scratch = mkdtempSync(join(tmpdir(), 'lmhc-ckpt-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [main, ...args], {
    encoding: 'utf8',
    env: { ...process.env, LIGER_MHC_BACKEND: '' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('liger-mhc train, then generate from the checkpoint alone', () => {
  const run = join(scratch, 'mini-lm');
  it('train stores the config and vocabulary; generate prints the prompt and new text', () => {
    const t = cli('train', '--backend', 'cpu', '--steps', '3', '--sample-length', '5', '--out', run);
    expect(t.err).toBe('');
    expect(t.code).toBe(0);
    const file = readSafetensors(new Uint8Array(readFileSync(join(run, 'model.safetensors'))));
    expect(file.metadata['liger_mhc.model']).toBe('mini-lm');
    const vocab = JSON.parse(file.metadata['liger_mhc.vocabulary']!) as string[];
    expect(vocab).toContain('F');
    expect(JSON.parse(file.metadata['liger_mhc.config']!)).toMatchObject({
      vocab: vocab.length,
      hc: 4,
      layers: 2,
    });

    const g = cli(
      'generate',
      '--backend',
      'cpu',
      '--weights',
      run,
      '--prompt',
      'Fellow',
      '--length',
      '40',
      '--seed',
      '5',
    );
    expect(g.err).toBe('');
    expect(g.code).toBe(0);
    const text = g.out.replace(/\n$/, '');
    expect(text.startsWith('Fellow')).toBe(true);
    expect(text.length).toBe('Fellow'.length + 40);
    for (const ch of text) expect(vocab).toContain(ch);
    // Seeded: the same command prints the same text; greedy ignores the seed.
    expect(
      cli(
        'generate',
        '--backend',
        'cpu',
        '--weights',
        run,
        '--prompt',
        'Fellow',
        '--length',
        '40',
        '--seed',
        '5',
      ).out,
    ).toBe(g.out);
    const greedy = (seed: string) =>
      cli(
        'generate',
        '--backend',
        'cpu',
        '--weights',
        run,
        '--prompt',
        'F',
        '--length',
        '10',
        '--temperature',
        '0',
        '--seed',
        seed,
      ).out;
    expect(greedy('1')).toBe(greedy('2'));
  });

  it('bad input is a usage error naming the flag', () => {
    expect(cli('generate', '--prompt', 'x').err).toMatch(/--weights is required/);
    expect(cli('generate', '--weights', join(scratch, 'none'), '--prompt', 'x').err).toMatch(/no such file/);
    const bad = cli('generate', '--backend', 'cpu', '--weights', run, '--prompt', 'Fellow\u2603');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--prompt: .*position 6/);
    expect(cli('generate', '--weights', run, '--prompt', 'x', '--top-k', '0').code).toBe(2);
  });
});

describe('liger-mhc convert', () => {
  it("turns Liger's PyTorch mini LM into a self-describing checkpoint that passes its parity case", () => {
    const manifest = JSON.parse(readFileSync(join(parity, 'manifest.json'), 'utf8'));
    const c = manifest.cases.find((k: { name: string }) => k.name === 'liger-mini-lm-hc2');
    const out = join(scratch, 'ours.safetensors');
    const r = cli(
      'convert',
      '--in',
      join(parity, c.checkpoint),
      '--from',
      'liger',
      '--out',
      out,
      '--model',
      'mini-lm',
      '--config',
      JSON.stringify(c.config),
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const file = readSafetensors(new Uint8Array(readFileSync(out)));
    expect(file.tensors.has('layers.0.alphaPre')).toBe(true);
    expect(file.metadata['liger_mhc.names']).toBe('liger-mhc');
    // Back to Liger's names: the same tensors as the PyTorch file, byte for byte.
    const back = join(scratch, 'liger.safetensors');
    expect(cli('convert', '--in', out, '--to', 'liger', '--nesting', 'liger-test', '--out', back).code).toBe(
      0,
    );
    const a = readSafetensors(new Uint8Array(readFileSync(join(parity, c.checkpoint))));
    const b = readSafetensors(new Uint8Array(readFileSync(back)));
    expect([...b.tensors.keys()].sort()).toEqual([...a.tensors.keys()].sort());
    for (const [k, e] of a.tensors)
      expect(Buffer.from(b.tensors.get(k)!.data).equals(Buffer.from(e.data))).toBe(true);
  });

  it('refuses a description that does not fit, and half-given flags', () => {
    const out = join(scratch, 'bad.safetensors');
    const r = cli(
      'convert',
      '--in',
      join(parity, 'liger-mini-lm-hc2.safetensors'),
      '--from',
      'liger',
      '--out',
      out,
      '--model',
      'mini-lm',
      '--config',
      '{"vocab":32,"hc":2,"c":8,"layers":1}',
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/ShapeError|mismatch/);
    expect(cli('convert', '--in', 'a', '--out', 'b', '--model', 'mini-lm').err).toMatch(
      /--model and --config go together/,
    );
    writeFileSync(join(scratch, 'v.json'), '{');
    expect(
      cli(
        'convert',
        '--in',
        'a',
        '--out',
        'b',
        '--model',
        'mini-lm',
        '--config',
        '{}',
        '--vocabulary',
        join(scratch, 'v.json'),
      ).code,
    ).toBe(2);
  });
});

describe('liger-mhc conformance --fixtures (model parity fixtures)', () => {
  it('runs every case of the folder on the backend', () => {
    const r = cli('conformance', '--backend', 'cpu', '--fixtures', parity, '--verbose');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/ok {3}tiny-deepseek-v4\n/);
    expect(r.out.trim().split('\n').at(-1)).toBe('4 passed, 0 failed');
  });

  it('a wrong expected value fails with one line naming the case and the quantity', () => {
    const dir = join(scratch, 'broken-parity');
    rmSync(dir, { recursive: true, force: true });
    spawnSync('cp', ['-r', parity, dir]);
    const p = join(dir, 'tiny-deepseek-v4-hc2.expected.json');
    const e = JSON.parse(readFileSync(p, 'utf8'));
    e.loss += 0.01;
    writeFileSync(p, JSON.stringify(e));
    const r = cli('conformance', '--backend', 'cpu', '--fixtures', dir, '--filter', 'v4-hc2');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^FAIL tiny-deepseek-v4-hc2 loss: /m);
    expect(r.out.trim().split('\n').at(-1)).toBe('0 passed, 1 failed');
  });
});
