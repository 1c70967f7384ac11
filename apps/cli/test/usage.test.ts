import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../src/commands/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const main = join(here, '..', 'dist', 'main.js');
const pkg = JSON.parse(readFileSync(join(here, '..', 'package.json'), 'utf8')) as { version: string };

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [main, ...args], {
    encoding: 'utf8',
    env: { ...process.env, LIGER_MHC_BACKEND: '' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Usage errors: one line on stderr, nothing on stdout, exit status 2, before any work. */
function usageError(args: string[], line: string) {
  const r = cli(...args);
  expect(r.err).toBe(`${line}\n`);
  expect(r.out).toBe('');
  expect(r.code).toBe(2);
}

describe('strict flags', () => {
  it('an unknown flag names itself (and the flag it is a typo of)', () => {
    usageError(['train', '--stpes', '5'], 'liger-mhc train: unknown flag --stpes (did you mean --steps?)');
    usageError(
      ['conformance', '--verbos'],
      'liger-mhc conformance: unknown flag --verbos (did you mean --verbose?)',
    );
    usageError(['train', '--zzzzzz'], 'liger-mhc train: unknown flag --zzzzzz');
  });

  it('a leading flag runs the default command, as pnpm start passes it (with its --)', () => {
    usageError(['--', '--stpes', '5'], 'liger-mhc train: unknown flag --stpes (did you mean --steps?)');
    usageError(
      ['train', '--', '--stpes', '5'],
      'liger-mhc train: unknown flag --stpes (did you mean --steps?)',
    );
  });

  it('a missing value is an error, also where the next word is a flag', () => {
    usageError(['train', '--steps'], 'liger-mhc train: --steps needs a value');
    usageError(['train', '--steps', '--batch', '4'], 'liger-mhc train: --steps needs a value');
    usageError(['train', '--out='], 'liger-mhc train: --out: expected a non-empty value');
  });

  it('bad numbers and enum values name the flag, the expectation and the value', () => {
    usageError(['train', '--steps', '1.5'], "liger-mhc train: --steps: expected an integer >= 1, got '1.5'");
    usageError(['train', '--steps', '0'], "liger-mhc train: --steps: expected an integer >= 1, got '0'");
    usageError(['train', '--lr', 'fast'], "liger-mhc train: --lr: expected a number >= 0, got 'fast'");
    usageError(['train', '--lr=-1'], "liger-mhc train: --lr: expected a number >= 0, got '-1'");
    usageError(['train', '--seed', ''], "liger-mhc train: --seed: expected an integer, got ''");
    usageError(['train', '--dtype', 'f64'], "liger-mhc train: --dtype: expected f32, bf16 or f16, got 'f64'");
    usageError(
      ['train', '--model', 'llama'],
      "liger-mhc train: --model: expected mini-lm or gpt, got 'llama'",
    );
  });

  it("a model's flag with the other model is an error, not silently ignored", () => {
    usageError(['train', '--dim', '32'], 'liger-mhc train: --dim applies only with --model gpt');
    usageError(
      ['train', '--model', 'gpt', '--c', '8'],
      'liger-mhc train: --c applies only with --model mini-lm',
    );
  });

  it('booleans take no value; positional words and unknown commands are errors', () => {
    usageError(['conformance', '--verbose=yes'], 'liger-mhc conformance: --verbose takes no value');
    usageError(
      ['train', '300'],
      "liger-mhc train: unexpected argument '300' (flags are written --name value)",
    );
    usageError(
      ['trian'],
      "liger-mhc: unknown command 'trian' (commands: train, generate, convert, conformance, doctor; see liger-mhc --help)",
    );
    usageError(['--version', 'x'], 'liger-mhc: --version takes no other arguments');
  });
});

describe('--version and --help', () => {
  it('--version prints the package version', () => {
    for (const flag of ['--version', '-v']) {
      const r = cli(flag);
      expect(r.code).toBe(0);
      expect(r.out).toBe(`${pkg.version}\n`);
    }
  });

  it('--help lists every command; no arguments prints it with status 2', () => {
    const r = cli('--help');
    expect(r.code).toBe(0);
    for (const c of COMMANDS)
      expect(r.out).toMatch(new RegExp(`^  ${c.name} +${c.summary.slice(0, 20)}`, 'm'));
    const bare = cli();
    expect(bare.code).toBe(2);
    expect(bare.out).toBe(r.out);
  });

  it("every command's --help lists every flag of its table, with its default", () => {
    for (const c of COMMANDS) {
      for (const args of [
        [c.name, '--help'],
        [c.name, '-h'],
        ['help', c.name],
      ]) {
        const r = cli(...args);
        expect(r.code, args.join(' ')).toBe(0);
        expect(r.out.startsWith(`usage: liger-mhc ${c.name} [flags]\n`)).toBe(true);
        for (const [name, spec] of Object.entries(c.options)) {
          const line = r.out.split('\n').find((l) => l.startsWith(`  --${name} `) || l === `  --${name}`);
          expect(line, `${c.name} --${name}`).toBeDefined();
          if (spec.type !== 'boolean' && spec.default !== undefined && !spec.defaultNote)
            expect(r.out).toContain(`default ${spec.default}`);
        }
      }
    }
    expect(cli('train', '--help').out).toMatch(
      /^ {2}--steps N +optimisation steps \(default: mini-lm 300, gpt 200\)$/m,
    );
  });

  it('--help wins over other flags and starts no work', () => {
    const r = cli('train', '--steps', '5', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^usage: liger-mhc train/);
  });
});

describe('liger-mhc doctor', () => {
  it('reports every backend, the selection and the CUDA state as JSON', () => {
    const r = cli('doctor', '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.version).toBe(pkg.version);
    expect(report.backends.map((b: { name: string }) => b.name)).toEqual(['cpu', 'webgpu', 'cuda']);
    const cpu = report.backends[0];
    expect(cpu).toMatchObject({ ok: true, device: 'cpu', error: null });
    for (const b of report.backends) expect(b.ok ? b.device : b.error).toEqual(expect.any(String));
    // The WebGPU section is there exactly when the backend started.
    expect(report.webgpu !== null).toBe(report.backends[1].ok);
    if (report.webgpu) expect(report.webgpu.description).toEqual(expect.any(String));
    expect(typeof report.selected.name).toBe('string');
    expect(report.cuda).toBeTypeOf('object');
  });

  it('prints a readable report', () => {
    const r = cli('doctor');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^liger-mhc \d+\.\d+\.\d+, Node v\d+/);
    expect(r.out).toMatch(/^ {2}cpu +ok +cpu$/m);
    expect(r.out).toMatch(/^cuda$/m);
  });
});
