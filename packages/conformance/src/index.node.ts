/**
 * The Node entry of @liger-mhc/conformance: core's Node entry installs the host hooks (node:fs) that
 * read fixture directories, before anything of the kit runs.
 */
import '@liger-mhc/core';

export * from './index.js';
