#!/usr/bin/env node
// `pnpm start -- FLAGS`: build the CLI (turbo, cached) and run `liger-mhc train FLAGS`. When a build
// of the CLI exists that is not older than its sources, the flags are checked against it first, so
// a mistyped flag fails at once (exit 2) instead of after the build.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(root, 'apps', 'cli');
const args = process.argv.slice(2).filter((a) => a !== '--');

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

const dist = join(cli, 'dist');
if (existsSync(join(dist, 'commands', 'index.js')) && newest(dist) >= newest(join(cli, 'src'))) {
  const { parseCommandArgs, UsageError } = await import(pathToFileURL(join(dist, 'args.js')).href);
  const { COMMANDS } = await import(pathToFileURL(join(dist, 'commands', 'index.js')).href);
  const { PROGRAM } = await import(pathToFileURL(join(dist, 'help.js')).href);
  const train = COMMANDS.find((c) => c.name === 'train');
  try {
    parseCommandArgs(train, args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`${PROGRAM} train: ${e.message}\n`);
    process.exit(2);
  }
}

const run = (cmd, argv) => spawnSync(cmd, argv, { stdio: 'inherit', cwd: root }).status ?? 1;
const built = run('pnpm', [
  'exec',
  'turbo',
  'run',
  'build',
  '--filter=@liger-mhc/cli...',
  '--output-logs=errors-only',
]);
if (built !== 0) process.exit(built);
process.exit(run(process.execPath, [join(dist, 'main.js'), 'train', ...args]));
