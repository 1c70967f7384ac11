import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { defineCommand } from '../args.js';
import { backendOption } from '../backend-flag.js';
import { CliError } from '../cli-error.js';

/** A directory the command reads, checked before any work: a CliError naming the flag and path. */
async function checkDirectory(flag: string, dir: string): Promise<void> {
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(
      `${flag} ${dir}: ${code === 'ENOENT' || code === 'ENOTDIR' ? 'no such directory' : `cannot read it (${code})`}`,
    );
  }
  if (!isDir) throw new CliError(`${flag} ${dir}: is a file, expected a directory`);
}

/**
 * `liger-mhc conformance`: one line per failing tensor, the last line `N passed, M failed`, exit
 * status 1 on any failure.
 */
export const conformance = defineCommand({
  name: 'conformance',
  summary: 'run the golden fixtures and the property tests on a backend',
  description: `Any directory of cases in the golden format can be given with --fixtures (no index
needed). A directory of model parity fixtures (a manifest.json of format 'liger-mhc-parity':
checkpoints with the logits, loss and gradients their source computes, see @liger-mhc/models)
runs each model on the backend instead. Prints one line per failing tensor and ends with 'N passed, M failed'; exits 1 on any
failure or when no case was found.`,
  options: {
    backend: backendOption,
    fixtures: {
      type: 'string',
      value: 'DIR',
      help: 'directory of cases',
      defaultNote: 'the golden fixtures of @liger-mhc/conformance',
    },
    filter: { type: 'string', value: 'TEXT', help: 'run only the cases whose name contains TEXT' },
    'no-properties': { type: 'boolean', help: 'skip the property tests' },
    verbose: { type: 'boolean', help: 'print a line for every case, not only failures' },
  },
  examples: [
    'liger-mhc conformance --backend webgpu',
    'liger-mhc conformance --fixtures my-cases --verbose',
    'liger-mhc conformance --fixtures packages/models/fixtures/parity',
  ],
  async run(v) {
    const { formatFailure, runConformance } = await import('@liger-mhc/conformance');
    const { chooseBackend } = await import('../backends.js');
    // pnpm runs scripts from the workspace root; a relative directory means the caller's.
    const fixturesDir = v.fixtures ? resolve(process.env.INIT_CWD ?? process.cwd(), v.fixtures) : undefined;
    if (fixturesDir !== undefined) await checkDirectory('--fixtures', fixturesDir);
    const backend = await chooseBackend(v.backend);
    const parity = await import('@liger-mhc/models/parity');
    if (fixturesDir && (await parity.isParityFixtureDir(fixturesDir))) {
      const report = await parity.runParityFixtures(fixturesDir, backend, {
        filter: v.filter,
        onCase: (name, checks) => {
          const ok = checks.every((c) => c.pass);
          if (v.verbose) process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${name}\n`);
          for (const c of checks)
            if (!c.pass)
              process.stdout.write(
                `FAIL ${c.case} ${c.quantity}: error ratio ${c.ratio.toPrecision(3)} (max |err| ${c.maxAbsError.toPrecision(3)})${c.note ? `, ${c.note}` : ''}\n`,
              );
        },
      });
      process.stdout.write(
        `backend ${backend.name} (${backend.capabilities.device}), model fixtures ${fixturesDir}\n`,
      );
      process.stdout.write(`${report.passed} passed, ${report.failed} failed\n`);
      if (report.passed + report.failed === 0) process.stderr.write('no cases found\n');
      return report.failed === 0 && report.passed > 0 ? 0 : 1;
    }
    const report = await runConformance({
      backend,
      fixturesDir,
      filter: v.filter,
      properties: !v['no-properties'],
      onCase: (name, checks) => {
        const ok = checks.every((c) => c.pass);
        if (v.verbose) process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${name}\n`);
        for (const c of checks) if (!c.pass) process.stdout.write(`${formatFailure(c)}\n`);
      },
    });
    process.stdout.write(
      `backend ${report.backend} (${backend.capabilities.device}), fixtures ${report.fixturesDir}\n`,
    );
    for (const u of report.unknown) process.stdout.write(`skipped ${u}: unknown op\n`);
    if (report.passed + report.failed === 0) {
      process.stdout.write('0 passed, 0 failed\n');
      process.stderr.write('no cases found\n');
      return 1;
    }
    process.stdout.write(`${report.passed} passed, ${report.failed} failed\n`);
    return report.failed === 0 ? 0 : 1;
  },
});
