import { sharedTestConfig } from '../tooling/vitest.shared.js';

export default sharedTestConfig;
