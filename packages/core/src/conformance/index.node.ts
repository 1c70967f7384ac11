/** The Node entry of @liger-mhc/core/conformance: reads fixture directories through node:fs. */
import '../platform/node.js';

export * from './index.js';
