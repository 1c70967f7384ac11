import type { Backend } from '@liger-mhc/core';
import { initBackend } from '@liger-mhc/core';
import { defaultFixturesDir, defaultV4FixturesDir, defaultXLayerFixturesDir, loadCases } from './fixtures.js';
import { runProperties } from './properties.js';
import { type Check, runGoldenCase } from './run-golden.js';

export { compareLayerPaths, type DeviceCheckOptions, runDeviceChecks } from './device-checks.js';
export * from './fixtures.js';
export { runProperties } from './properties.js';
export { type Check, runGoldenCase } from './run-golden.js';
export * from './tolerances.js';

export interface ConformanceOptions {
  /** Backend name (initialised if needed) or instance. */
  backend: string | Backend;
  /**
   * Directory of golden cases; default: the fixtures shipped with this package (fixtures/golden,
   * fixtures/golden-v4 and fixtures/golden-xlayer).
   */
  fixturesDir?: string;
  /** Run the property suites too (default true). */
  properties?: boolean;
  /** fast-check runs per property (default 25). */
  propertyRuns?: number;
  /** Only cases whose name contains this. */
  filter?: string;
  /** Called after each case. */
  onCase?: (name: string, checks: Check[]) => void;
}

export interface CaseResult {
  name: string;
  pass: boolean;
  checks: Check[];
}

export interface ConformanceReport {
  backend: string;
  fixturesDir: string;
  passed: number;
  failed: number;
  cases: CaseResult[];
  /** Failing checks, one per failing tensor. */
  failures: Check[];
  /** Files in the directory whose op the kit does not know. */
  unknown: string[];
}

/**
 * The conformance kit every backend runs against itself: every golden case forward and backward
 * (coeffs and layer cases in both Sinkhorn save modes, layer cases also with the separate ops), plus
 * property tests. A backend is done when this passes, not when its own tests do.
 */
export async function runConformance(options: ConformanceOptions): Promise<ConformanceReport> {
  const be = typeof options.backend === 'string' ? await initBackend(options.backend) : options.backend;
  const dir = options.fixturesDir ?? defaultFixturesDir();
  const { cases, unknown } = await loadCases(dir);
  if (!options.fixturesDir) {
    for (const extra of [defaultV4FixturesDir(), defaultXLayerFixturesDir()]) {
      const more = await loadCases(extra);
      cases.push(...more.cases);
      unknown.push(...more.unknown);
    }
  }
  const results: CaseResult[] = [];
  for (const c of cases) {
    if (options.filter && !c.name.includes(options.filter)) continue;
    for (const checks of await runGoldenCase(be, c)) {
      const name = checks[0]?.case ?? c.name;
      results.push({ name, pass: checks.every((k) => k.pass), checks });
      options.onCase?.(name, checks);
    }
  }
  if (options.properties ?? true) {
    for (const check of await runProperties(be, { runs: options.propertyRuns })) {
      if (options.filter && !check.case.includes(options.filter)) continue;
      results.push({ name: check.case, pass: check.pass, checks: [check] });
      options.onCase?.(check.case, [check]);
    }
  }
  const failures = results.flatMap((r) => r.checks.filter((k) => !k.pass));
  const passed = results.filter((r) => r.pass).length;
  return {
    backend: be.name,
    fixturesDir: dir,
    passed,
    failed: results.length - passed,
    cases: results,
    failures,
    unknown,
  };
}

/** One line per failing tensor: case, tensor, max error, tolerance (as the CLI prints it). */
export function formatFailure(f: Check): string {
  const tol = `rtol ${f.tolerance.rtol}, atol ${f.tolerance.atol}·max|expected|`;
  if (f.error) return `FAIL ${f.case}  ${f.tensor}  ${f.error}`;
  return `FAIL ${f.case}  ${f.tensor}  max abs error ${fmt(f.maxAbsError)} (${fmt(f.ratio)}× the bound)  tolerance ${tol}`;
}

function fmt(v: number): string {
  return Number.isFinite(v) ? v.toExponential(3) : String(v);
}
