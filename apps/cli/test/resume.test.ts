import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHECKPOINT_METADATA_KEY, readSafetensors } from '@liger-mhc/core';
import { afterAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const main = join(here, '..', 'dist', 'main.js');
const scratch = mkdtempSync(join(tmpdir(), 'lmhc-resume-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const env = { ...process.env, LIGER_MHC_BACKEND: '' };

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', env });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

// A small model, so that each run takes a second or two on a CPU or on lavapipe.
const small = (backend: string) => [
  'train',
  '--backend',
  backend,
  '--batch',
  '2',
  '--seq',
  '8',
  '--hc',
  '2',
  '--c',
  '8',
  '--layers',
  '1',
  '--tmax',
  '4',
  '--eval-every',
  '2',
  '--sample-length',
  '5',
];

function stepOf(dir: string): number {
  const file = readSafetensors(new Uint8Array(readFileSync(join(dir, 'checkpoint.safetensors'))));
  return (JSON.parse(file.metadata[CHECKPOINT_METADATA_KEY]!) as { state: { step: number } }).state.step;
}

/** The runs must agree bit for bit: every loss, every weight, the optimizer and loop state. */
function expectSameRun(a: string, b: string) {
  const la = JSON.parse(readFileSync(join(a, 'loss.json'), 'utf8'));
  const lb = JSON.parse(readFileSync(join(b, 'loss.json'), 'utf8'));
  expect(lb.losses).toEqual(la.losses);
  expect(lb.validLosses).toEqual(la.validLosses);
  expect(readFileSync(join(b, 'model.safetensors')).equals(readFileSync(join(a, 'model.safetensors')))).toBe(
    true,
  );
  expect(
    readFileSync(join(b, 'checkpoint.safetensors')).equals(readFileSync(join(a, 'checkpoint.safetensors'))),
  ).toBe(true);
  expect(readFileSync(join(b, 'sample.txt'), 'utf8')).toBe(readFileSync(join(a, 'sample.txt'), 'utf8'));
}

describe('liger-mhc train --resume', () => {
  it('a run killed during training and resumed equals the uninterrupted run (cpu)', async () => {
    const killed = join(scratch, 'killed');
    // Checkpoints every 3 steps of a run far too long to finish; SIGKILL once the first one exists.
    const child = spawn(
      process.execPath,
      [main, ...small('cpu'), '--steps', '100000', '--checkpoint-every', '3', '--out', killed],
      { env, stdio: 'ignore' },
    );
    const exited = new Promise((res) => child.on('exit', res));
    const ckpt = join(killed, 'checkpoint.safetensors');
    while (!existsSync(ckpt)) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGKILL');
    await exited;
    const k = stepOf(killed);
    expect(k % 3).toBe(0);
    expect(existsSync(join(killed, 'loss.json'))).toBe(false);

    const total = String(k + 4);
    const resumed = cli(...small('cpu'), '--steps', total, '--resume', killed);
    expect(resumed.err).toBe('');
    expect(resumed.code).toBe(0);
    expect(resumed.out).toContain(`resumed at step ${k} from `);
    const straight = join(scratch, 'straight');
    const s = cli(...small('cpu'), '--steps', total, '--checkpoint-every', '3', '--out', straight);
    expect(s.code).toBe(0);
    expectSameRun(straight, killed);
    const losses = JSON.parse(readFileSync(join(killed, 'loss.json'), 'utf8')).losses as number[][];
    expect(losses.map((l) => l[0])).toEqual(Array.from({ length: k + 4 }, (_, i) => i + 1));
  }, 60_000);

  it('a finished run extended with --resume equals one run of the total length (webgpu)', () => {
    const a = join(scratch, 'gpu-straight');
    const b = join(scratch, 'gpu-resumed');
    const r1 = cli(...small('webgpu'), '--steps', '4', '--out', a);
    expect(r1.code, r1.err).toBe(0);
    expect(cli(...small('webgpu'), '--steps', '1', '--out', b).code).toBe(0);
    const r2 = cli(...small('webgpu'), '--steps', '4', '--resume', b);
    expect(r2.code, r2.err).toBe(0);
    expect(r2.out).toContain('resumed at step 1 from ');
    expectSameRun(a, b);
  }, 60_000);

  it('refuses a checkpoint of other flags, a missing one, or one past --steps, changing nothing', () => {
    const dir = join(scratch, 'short');
    expect(cli(...small('cpu'), '--steps', '2', '--out', dir).code).toBe(0);
    const before = readFileSync(join(dir, 'checkpoint.safetensors'));

    const hc = cli(...small('cpu'), '--steps', '4', '--resume', dir, '--hc', '4');
    expect(hc.code).toBe(1);
    expect(hc.err).toBe(
      `liger-mhc train: --resume: cannot resume from ${join(dir, 'checkpoint.safetensors')}: it was trained with --hc 2, this run has 4\n`,
    );
    const lr = cli(...small('cpu'), '--steps', '4', '--resume', dir, '--lr', '0.5');
    expect(lr.err).toMatch(/it was trained with --lr 0\.01, this run has 0\.5\n$/);

    const past = cli(...small('cpu'), '--steps', '1', '--resume', dir);
    expect(past.code).toBe(1);
    expect(past.err).toBe('liger-mhc train: --steps 1: the checkpoint is already at step 2\n');

    const missing = join(scratch, 'no-such-run');
    const m = cli(...small('cpu'), '--steps', '4', '--resume', missing);
    expect(m.code).toBe(1);
    expect(m.err).toBe(
      `liger-mhc train: --resume: cannot resume from ${join(missing, 'checkpoint.safetensors')}: no such file\n`,
    );
    expect(existsSync(missing)).toBe(false);

    const junk = join(scratch, 'junk');
    mkdirSync(junk);
    writeFileSync(join(junk, 'checkpoint.safetensors'), 'not a checkpoint');
    const j = cli(...small('cpu'), '--steps', '4', '--resume', junk);
    expect(j.code).toBe(1);
    expect(j.err.split('\n')).toHaveLength(2);
    expect(j.err).toMatch(/^liger-mhc train: --resume: cannot resume from .*junk.checkpoint\.safetensors: /);
    expect(readFileSync(join(dir, 'checkpoint.safetensors')).equals(before)).toBe(true);
  }, 60_000);
});

describe('liger-mhc train checks its output and sizes before training', () => {
  const file = join(scratch, 'a-file');
  writeFileSync(file, 'x');

  it('--out that is a file, or lies under one', () => {
    const r = cli(...small('cpu'), '--steps', '1', '--out', file);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toBe(`liger-mhc train: --out ${file}: is a file, expected a directory\n`);
    const under = join(file, 'sub', 'dir');
    const u = cli(...small('cpu'), '--steps', '1', '--out', under);
    expect(u.code).toBe(1);
    expect(u.err).toBe(`liger-mhc train: --out ${under}: ${file} is a file\n`);
  });

  it('--out that cannot be written', () => {
    // Permissions do not stop root; /proc refuses everyone.
    const target =
      process.getuid?.() === 0
        ? '/proc/liger-mhc-out'
        : (() => {
            const d = join(scratch, 'read-only');
            mkdirSync(d);
            chmodSync(d, 0o500);
            return join(d, 'run');
          })();
    const r = cli(...small('cpu'), '--steps', '1', '--out', target);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(
      new RegExp(`^liger-mhc train: --out ${target}: cannot create the directory \\(E[A-Z]+\\)\\n$`),
    );
  });

  // An empty or blank value is a bad flag value like `--steps abc`: a usage error naming the flag,
  // exit 2, before anything runs. A real path that cannot be written is a file error: exit 1,
  // naming the path (above).
  it('an empty --out is a usage error', () => {
    const r = cli(...small('cpu'), '--out', '');
    expect(r.code).toBe(2);
    expect(r.err).toBe('liger-mhc train: --out: expected a non-empty value\n');
  });

  it('a --out of blanks is a usage error, not a folder named with spaces', () => {
    const r = cli(...small('cpu'), '--out', '   ');
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toBe('liger-mhc train: --out: expected a path, got only whitespace\n');
  });

  it('--seq longer than the held-out text names the flag and the corpus size', () => {
    const r = cli(
      'train',
      '--backend',
      'cpu',
      '--seq',
      '30000',
      '--batch',
      '1',
      '--steps',
      '1',
      '--hc',
      '2',
      '--c',
      '8',
      '--layers',
      '1',
      '--out',
      join(scratch, 'long'),
    );
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      'liger-mhc train: --seq 30000: too long for the held-out text of 25793 characters (at most 25791)\n',
    );
  });

  it('conformance --fixtures on a missing directory or a file: one line naming the path', () => {
    const missing = join(scratch, 'no-fixtures');
    const r = cli('conformance', '--backend', 'cpu', '--fixtures', missing);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toBe(`liger-mhc conformance: --fixtures ${missing}: no such directory\n`);
    const f = cli('conformance', '--backend', 'cpu', '--fixtures', file);
    expect(f.err).toBe(`liger-mhc conformance: --fixtures ${file}: is a file, expected a directory\n`);
  });

  it('LIGER_MHC_BACKEND is trimmed as core trims it; an unknown name is one line', () => {
    const args = [...small('cpu').filter((a, i, all) => a !== '--backend' && all[i - 1] !== '--backend')];
    const run = (value: string) =>
      spawnSync(process.execPath, [main, ...args, '--steps', '1', '--out', join(scratch, 'env')], {
        encoding: 'utf8',
        env: { ...process.env, LIGER_MHC_BACKEND: value },
      });
    const ok = run('  cpu\n');
    expect(ok.status).toBe(0);
    expect(ok.stdout.split('\n')[0]).toMatch(/^training mini mHC LM on 'cpu' /);
    const bad = run('nope');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^BackendError: unknown backend 'nope'; registered: [a-z, ]+\n$/);
  });
});
