import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * What core's package.json promises a user's install: the library only. The golden fixtures, their
 * runner and the property tests are @liger-mhc/conformance; test libraries stay devDependencies.
 */
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  files: string[];
  exports: Record<string, unknown>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
};

const TEST_LIBRARIES = ['fast-check', 'vitest', '@liger-mhc/conformance'];

describe("core's package.json", () => {
  it('ships no fixtures and no conformance entry', () => {
    expect(pkg.files.filter((f) => /fixture/i.test(f))).toEqual([]);
    expect(Object.keys(pkg.exports).filter((k) => /conformance|fixture/.test(k))).toEqual([]);
  });

  it('declares no test library among what an install pulls in', () => {
    const installed = {
      ...pkg.dependencies,
      ...pkg.peerDependencies,
      ...pkg.optionalDependencies,
    };
    expect(Object.keys(installed).filter((d) => TEST_LIBRARIES.includes(d))).toEqual([]);
  });
});
