import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The commit, date and machine a result belongs to. */
export function provenance(): {
  commit: string;
  dirty: boolean;
  date: string;
  cpu: string;
  cores: number;
  node: string;
} {
  let commit = 'unknown';
  let dirty = false;
  try {
    commit = execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    dirty =
      execSync('git status --porcelain --untracked-files=no', { stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim() !== '';
  } catch {
    // not a git checkout
  }
  const c = cpus();
  return {
    commit,
    dirty,
    date: new Date().toISOString(),
    cpu: c[0]?.model ?? 'unknown',
    cores: c.length,
    node: process.version,
  };
}

/** bench/results/<name>, created if needed. */
export function resultPath(name: string): string {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'results');
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}

export function writeResult(name: string, content: string): string {
  const p = resultPath(name);
  writeFileSync(p, content);
  return p;
}
