import { fileURLToPath } from 'node:url';
import { defineConfig, mergeConfig } from 'vitest/config';
import { sharedTestConfig } from '../../tooling/vitest.shared.js';

// Tests run against core's and the conformance kit's sources, so they see the same registry instance
// as this package and do not depend on a stale build of either.
const coreSrc = fileURLToPath(new URL('../core/src/', import.meta.url));
const kitSrc = fileURLToPath(new URL('../conformance/src/', import.meta.url));

export default mergeConfig(
  sharedTestConfig,
  defineConfig({
    resolve: {
      alias: [
        { find: /^@liger-mhc\/conformance$/, replacement: `${kitSrc}index.node.ts` },
        { find: /^@liger-mhc\/core\/internals$/, replacement: `${coreSrc}internals.ts` },
        { find: /^@liger-mhc\/core$/, replacement: `${coreSrc}index.node.ts` },
      ],
    },
    test: {
      // The tests import the sources (src/index.ts, the browser entry): install Dawn first, as the
      // package's Node entry does.
      setupFiles: ['./src/dawn.ts'],
      testTimeout: 300_000,
      // On CPU-only machines the adapter is Mesa's lavapipe, whose LLVM pipeline compile dominates
      // the run (seconds per mHC kernel, every kernel on a machine with a cold shader cache): its
      // optimisation passes buy nothing for test-sized data, and 128-bit vectors (4 invocations per
      // SIMD lane group instead of 8 with AVX2) halve the code LLVM compiles per kernel; the
      // narrower subgroups also exercise the kernels' subgroup paths at a second width. Ignored by
      // every other driver.
      env: {
        GALLIVM_PERF: process.env.GALLIVM_PERF ?? 'nopt',
        LP_NATIVE_VECTOR_WIDTH: process.env.LP_NATIVE_VECTOR_WIDTH ?? '128',
      },
    },
  }),
);
