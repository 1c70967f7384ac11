import { BACKEND_ENV, BACKEND_PACKAGES } from '@liger-mhc/core';
import type { EnumOption } from './args.js';

/** The backends the CLI can select: the CPU reference and every backend package core knows of. */
export const BACKEND_NAMES = ['cpu', ...Object.keys(BACKEND_PACKAGES)] as const;

/** The `--backend` flag, shared by every command that runs kernels. */
export const backendOption: EnumOption = {
  type: 'enum',
  choices: BACKEND_NAMES,
  help: 'the backend to run on',
  defaultNote: `${BACKEND_ENV}, else the config file, else the best that initialises`,
};
