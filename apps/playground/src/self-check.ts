import { type GoldenCase, runGoldenCase } from '@liger-mhc/conformance';
import type { Backend } from '@liger-mhc/core';

/**
 * Run golden fixtures in the page with the same kit the Node conformance command uses, and write a
 * summary (and `data-selfcheck` = pass | fail on <body>, for automated tests).
 */
export async function selfCheck(be: Backend, out: HTMLElement): Promise<void> {
  out.textContent = 'running…';
  const lines: string[] = [];
  let passed = 0;
  let failed = 0;
  // The build copies a few golden cases next to the page, listed in fixtures/index.json.
  const index = (await (await fetch('fixtures/index.json')).json()) as { name: string; file: string }[];
  for (const { name, file } of index) {
    const c = (await (await fetch(`fixtures/${file}`)).json()) as GoldenCase;
    for (const checks of await runGoldenCase(be, c)) {
      const bad = checks.filter((k) => !k.pass);
      if (bad.length === 0) passed++;
      else failed++;
      lines.push(`${bad.length ? 'FAIL' : 'ok  '} ${checks[0]?.case ?? name}`);
      for (const k of bad)
        lines.push(`     ${k.tensor}: ${k.error ?? `${k.ratio.toExponential(2)}× the bound`}`);
    }
  }
  lines.push(`${passed} passed, ${failed} failed on ${be.name}`);
  out.textContent = lines.join('\n');
  document.body.dataset.selfcheck = failed === 0 ? 'pass' : 'fail';
}
