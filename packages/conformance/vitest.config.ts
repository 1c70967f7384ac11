import { fileURLToPath } from 'node:url';
import { defineConfig, mergeConfig } from 'vitest/config';
import { sharedTestConfig } from '../../tooling/vitest.shared.js';

// Tests run against core's sources (its Node entry, which installs the host hooks), so they do not
// depend on a stale build of core and see one registry instance.
const coreSrc = fileURLToPath(new URL('../core/src/', import.meta.url));

export default mergeConfig(
  sharedTestConfig,
  defineConfig({
    resolve: {
      alias: [
        { find: /^@liger-mhc\/core\/internals$/, replacement: `${coreSrc}internals.ts` },
        { find: /^@liger-mhc\/core$/, replacement: `${coreSrc}index.node.ts` },
      ],
    },
  }),
);
