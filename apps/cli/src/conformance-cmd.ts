import { resolve } from 'node:path';
import { formatFailure, runConformance } from '@liger-mhc/core/conformance';
import { bool, type ParsedArgs, str } from './args.js';
import { chooseBackend } from './backends.js';

/**
 * `pnpm conformance --backend NAME [--fixtures DIR]`: one line per failing tensor, the last line
 * `N passed, M failed`, exit status 1 on any failure.
 */
export async function runConformanceCommand(args: ParsedArgs): Promise<number> {
  const backend = await chooseBackend(str(args, 'backend'));
  const dir = str(args, 'fixtures');
  const fixturesDir = dir ? resolve(process.env.INIT_CWD ?? process.cwd(), dir) : undefined;
  const verbose = bool(args, 'verbose');
  const report = await runConformance({
    backend,
    fixturesDir,
    filter: str(args, 'filter'),
    properties: !bool(args, 'no-properties'),
    onCase: (name, checks) => {
      const ok = checks.every((c) => c.pass);
      if (verbose) process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${name}\n`);
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
}
