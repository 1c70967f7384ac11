// Shared vitest settings. `forks` keeps native GPU runtimes (Dawn, CUDA) out of worker threads,
// where their finalizers and process-wide state crash or leak. Each package also writes a JSON
// report that tooling/ci/summarize-tests.mjs totals into one closing line.
import { defineConfig } from 'vitest/config';

export const sharedTestConfig = defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-results.json' },
  },
});
