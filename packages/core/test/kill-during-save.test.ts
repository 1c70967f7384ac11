import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Linear, loadCheckpoint, Random } from '../src/index.js';

/**
 * Kill a process while it saves checkpoints, many times, at random moments: every time, the
 * checkpoint on disk must load (checksum verified) and be one complete version, weights and resume
 * state of the same save. The child runs the built package (dist), as a user's process would.
 */
const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', 'dist', 'index.node.js');
const TRIALS = 32;
const N = 512; // a 512x512 f32 layer: 1 MiB of weights, long enough to be killed mid-write

const child = `
const { Linear, Random, saveCheckpoint, noGrad } = await import(${JSON.stringify(dist)});
const path = process.argv[1];
const m = new Linear(${N}, ${N}, { rng: new Random(1), bias: false, backend: 'cpu' });
for (let i = 1; ; i++) {
  // Every weight of save i holds the value i, so a mix of two saves is visible.
  m.weight.backend.write(m.weight.handle, new Float32Array(${N * N}).fill(i));
  await saveCheckpoint(path, { model: m, state: { i } });
  process.stdout.write('saved ' + i + '\\n');
}
`;

const dir = await mkdtemp(join(tmpdir(), 'lmhc-kill-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

function runAndKill(path: string, delayMs: number, signal: NodeJS.Signals): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', child, path], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let saved = 0;
    let killed = false;
    let err = '';
    p.stderr.on('data', (d) => {
      err += d;
    });
    p.stdout.on('data', (d: Buffer) => {
      const m = /saved (\d+)\n$/.exec(d.toString());
      if (m) saved = Number(m[1]);
      if (saved >= 1 && !killed) {
        killed = true;
        setTimeout(() => p.kill(signal), delayMs);
      }
    });
    p.on('exit', (code, sig) => {
      if (!killed) reject(new Error(`child exited (${code ?? sig}) before its first save: ${err}`));
      else resolve(saved);
    });
  });
}

describe.skipIf(!existsSync(dist))('kill during checkpoint save', () => {
  it(`${TRIALS} kills at random moments leave 0 corrupt or lost checkpoints`, {
    timeout: 120_000,
  }, async () => {
    const rng = new Random(7);
    let corrupt = 0;
    let lost = 0;
    const m = new Linear(N, N, { bias: false, backend: 'cpu' });
    const delays = Array.from({ length: TRIALS }, () => rng.int(120));
    const saved: number[] = [];
    // Four children at a time: process start-up, not the kill, is what takes time.
    for (let t0 = 0; t0 < TRIALS; t0 += 4) {
      const batch = delays.slice(t0, t0 + 4).map((d, j) => {
        const t = t0 + j;
        return runAndKill(join(dir, `ckpt-${t}.safetensors`), d, t % 4 === 3 ? 'SIGINT' : 'SIGKILL');
      });
      saved.push(...(await Promise.all(batch)));
    }
    for (let t = 0; t < TRIALS; t++) {
      const path = join(dir, `ckpt-${t}.safetensors`);
      const savedBefore = saved[t]!;
      if (!existsSync(path)) {
        lost++;
        continue;
      }
      try {
        const { state } = await loadCheckpoint(path, { model: m });
        const i = (state as { i: number }).i;
        // The last save reported complete, or the one after it (renamed, not yet reported).
        if (i < savedBefore || i > savedBefore + 1) lost++;
        const w = await m.weight.data();
        if (!w.every((v) => v === i)) corrupt++;
      } catch {
        corrupt++;
      }
    }
    m.dispose();
    expect({ corrupt, lost }).toEqual({ corrupt: 0, lost: 0 });
    // Killed saves may leave their temporary files behind, never a half-written checkpoint name.
    for (const f of await readdir(dir)) expect(f.endsWith('.safetensors') || f.endsWith('.tmp')).toBe(true);
  });
});
