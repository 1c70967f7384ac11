/**
 * The Node entry of @liger-mhc/core (the `node` export condition): the host hooks for files, the
 * environment and package resolution, then the same API as the browser entry (index.ts).
 */
import './platform/node.js';

export * from './index.js';
