import { defineConfig, mergeConfig } from 'vitest/config';
import { sharedTestConfig } from '../../tooling/vitest.shared.js';

// The tests import the sources directly (src/index.ts, the browser-safe entry): install the Node
// host hooks first, as the package's Node entry does.
export default mergeConfig(
  sharedTestConfig,
  defineConfig({ test: { setupFiles: ['./src/platform/node.ts'] } }),
);
