import { declareEnv } from './util/env.js';

/** The environment variables core reads (declared once here; see util/env.ts for the rules). */

/** Which backend to use when the code does not call setBackend. */
export const BACKEND_ENV_VAR = declareEnv({
  name: 'LIGER_MHC_BACKEND',
  type: 'string',
  default: null,
  meaning:
    "the backend to select when none is chosen in code (e.g. 'cpu', 'webgpu', 'cuda'); unset: the best that starts",
});

/** A config file to read instead of looking for one upward from the working directory. */
export const CONFIG_ENV_VAR = declareEnv({
  name: 'LIGER_MHC_CONFIG',
  type: 'path',
  default: null,
  meaning: 'path of the liger-mhc config file to read instead of searching upward from the working directory',
});
