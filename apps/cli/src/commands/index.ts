import type { AnyCommand } from '../args.js';
import { conformance } from './conformance.js';
import { convert } from './convert.js';
import { doctor } from './doctor.js';
import { generate } from './generate.js';
import { train } from './train.js';

/**
 * Every subcommand, in the order `--help` lists them. To add one: write commands/<name>.ts
 * exporting `defineCommand({ name, summary, options, run })` (its flag table drives parsing and
 * help; load heavy modules inside run with a dynamic import) and list it here.
 */
export const COMMANDS: readonly AnyCommand[] = [train, generate, convert, conformance, doctor];

/** What `liger-mhc` runs when the first argument is a flag (`pnpm start -- --steps 5`). */
export const DEFAULT_COMMAND = 'train';
