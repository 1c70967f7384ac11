import { mergeConfig } from 'vitest/config';
import { sharedTestConfig } from '../../tooling/vitest.shared.js';

// One test file at a time: the pack test may build a backend package's dist while another file
// would be importing that dist to test on the backend.
export default mergeConfig(sharedTestConfig, { test: { fileParallelism: false } });
