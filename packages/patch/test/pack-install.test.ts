import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * "Installing only @liger-mhc/core plus one backend package works": pack the packages as they
 * would be published (`pnpm pack` rewrites workspace:* to versions), install the tarballs with npm
 * into a scratch project outside the workspace (third-party dependencies come from the registry),
 * and run a script there that imports core, selects a backend by configuration and runs mHC.
 */
const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const packages = resolve(here, '..', '..');

let scratch: string;
let tarballs: string;

async function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}, timeout = 120_000) {
  return run(cmd, args, {
    cwd,
    timeout,
    env: { ...process.env, ...env, npm_config_update_notifier: 'false' },
    maxBuffer: 16 << 20,
  });
}

/** `pnpm pack` a workspace package (built first) into the tarball folder; returns the file. */
async function pack(folder: string): Promise<string> {
  const before = new Set(await readdir(tarballs));
  await sh('pnpm', ['pack', '--pack-destination', tarballs], join(packages, folder));
  const made = (await readdir(tarballs)).filter((f) => !before.has(f) && f.endsWith('.tgz'));
  expect(made).toHaveLength(1);
  return join(tarballs, made[0]!);
}

/**
 * Build a package unless its dist is at least as new as every source file (`pnpm test` builds all
 * packages first; building again would only race with other users of that dist).
 */
async function build(folder: string): Promise<{ ok: boolean; log: string }> {
  const dir = join(packages, folder);
  const newest = async (d: string): Promise<number> => {
    let t = 0;
    for (const e of await readdir(d, { withFileTypes: true }))
      t = Math.max(
        t,
        e.isDirectory() ? await newest(join(d, e.name)) : (await stat(join(d, e.name))).mtimeMs,
      );
    return t;
  };
  const built = join(dir, 'dist', 'index.js');
  if (existsSync(built) && (await stat(built)).mtimeMs >= (await newest(join(dir, 'src'))))
    return { ok: true, log: '' };
  try {
    await sh('npx', ['tsc', '-p', 'tsconfig.build.json'], join(packages, folder));
    return { ok: true, log: '' };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return {
      ok: false,
      log: `${e.stdout ?? ''}${e.stderr ?? ''}`.trim().split('\n').slice(0, 5).join('\n') || e.message,
    };
  }
}

// The script a user would write: nothing but core's public API, the backend left to configuration.
const SCRIPT = `
import { BackendError, full, mhcCoeffs, ready, registeredBackends, tensor } from '@liger-mhc/core';
const out = { registered: [], backend: null, software: false, error: null, hRes: null, hPre: null };
try {
  const be = await ready();
  out.backend = be.name;
  out.software = Boolean(be.capabilities.software);
  const x = tensor(Array.from({ length: 2 * 2 * 3 }, (_, i) => Math.sin(i)), [2, 2, 3], { backend: be });
  const phi = tensor(Array.from({ length: 6 * 8 }, (_, i) => Math.cos(i) * 0.5), [6, 8], { backend: be });
  const b = tensor(Array.from({ length: 8 }, (_, i) => 0.1 * i), [8], { backend: be });
  const a = full([], 0.7, { backend: be });
  const h = mhcCoeffs(x, phi, b, a, a, a, { allowFp32: true, tmax: 10 });
  out.hRes = Array.from(await h.hRes.data());
  out.hPre = Array.from(await h.hPre.data());
} catch (err) {
  out.error = { name: err.name, isBackendError: err instanceof BackendError, message: err.message };
}
out.registered = registeredBackends().map((r) => r.name);
console.log(JSON.stringify(out));
process.exit(0);
`;

async function script(env: NodeJS.ProcessEnv = {}): Promise<{
  registered: string[];
  backend: string | null;
  software: boolean;
  error: { name: string; isBackendError: boolean; message: string } | null;
  hRes: number[] | null;
  hPre: number[] | null;
}> {
  const { stdout } = await sh('node', ['main.mjs'], scratch, { LIGER_MHC_BACKEND: '', ...env }, 60_000);
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

async function npmInstall(...files: string[]): Promise<void> {
  await sh(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...files],
    scratch,
  );
}

beforeAll(async () => {
  const root = await mkdtemp(join(tmpdir(), 'liger-mhc-pack-'));
  tarballs = join(root, 'tarballs');
  scratch = join(root, 'app');
  await mkdir(tarballs);
  await mkdir(scratch);
  await writeFile(
    join(scratch, 'package.json'),
    JSON.stringify({ name: 'scratch-app', private: true, type: 'module' }),
  );
  await writeFile(join(scratch, 'main.mjs'), SCRIPT);
});

afterAll(async () => {
  if (scratch) await rm(dirname(scratch), { recursive: true, force: true });
});

// The expected coefficients, from the workspace build of core.
async function expected() {
  const core = await import('@liger-mhc/core');
  const x = core.tensor(
    Array.from({ length: 12 }, (_, i) => Math.sin(i)),
    [2, 2, 3],
  );
  const phi = core.tensor(
    Array.from({ length: 48 }, (_, i) => Math.cos(i) * 0.5),
    [6, 8],
  );
  const b = core.tensor(
    Array.from({ length: 8 }, (_, i) => 0.1 * i),
    [8],
  );
  const a = core.full([], 0.7);
  const h = core.mhcCoeffs(x, phi, b, a, a, a, { allowFp32: true, tmax: 10 });
  return { hRes: Array.from(h.hRes.dataSync()), hPre: Array.from(h.hPre.dataSync()) };
}

describe('packed packages installed outside the workspace', () => {
  it('@liger-mhc/core alone: CPU by default, by config file, and a clear error for an absent backend', {
    timeout: 120_000,
  }, async () => {
    const b = await build('core');
    expect(b.ok, b.log).toBe(true);
    await npmInstall(await pack('core'));
    const want = await expected();

    const auto = await script();
    expect(auto.error).toBe(null);
    expect(auto.backend).toBe('cpu');
    expect(auto.registered).toEqual(['cpu']);
    expect(auto.hRes).toEqual(want.hRes);
    expect(auto.hPre).toEqual(want.hPre);

    // A config file in the project selects the backend; one not installed is a BackendError that
    // says which package to install.
    await writeFile(join(scratch, 'liger-mhc.config.json'), JSON.stringify({ backend: 'webgpu' }));
    const missing = await script();
    expect(missing.error?.isBackendError).toBe(true);
    expect(missing.error?.message).toMatch(/unknown backend 'webgpu'.*install @liger-mhc\/webgpu-wgsl/);
    expect(missing.error?.message).toContain('liger-mhc.config.json');
    // The environment outranks the file.
    const env = await script({ LIGER_MHC_BACKEND: 'cpu' });
    expect(env.backend).toBe('cpu');
    expect(env.hRes).toEqual(want.hRes);
    await rm(join(scratch, 'liger-mhc.config.json'));
  });

  it('@liger-mhc/core + @liger-mhc/webgpu-wgsl: selected by environment and by config file', {
    timeout: 180_000,
  }, async (ctx) => {
    const built = await build('webgpu-wgsl');
    if (!built.ok) {
      console.warn(
        `[pack test] SKIPPED core + webgpu-wgsl: @liger-mhc/webgpu-wgsl does not build yet:\n${built.log}`,
      );
      ctx.skip();
    }
    await npmInstall(await pack('webgpu-wgsl'));
    const want = await expected();
    const viaEnv = await script({ LIGER_MHC_BACKEND: 'webgpu' });
    expect(viaEnv.registered).toContain('webgpu');
    if (viaEnv.error) {
      // Installed and registered, but no adapter on this machine: that must be a clear BackendError.
      expect(viaEnv.error.isBackendError, viaEnv.error.message).toBe(true);
      console.warn(`[pack test] webgpu installed but cannot start here: ${viaEnv.error.message}`);
      return;
    }
    expect(viaEnv.backend).toBe('webgpu');
    console.info('[pack test] core + webgpu-wgsl: mhcCoeffs ran on webgpu in the scratch project');
    for (const k of ['hRes', 'hPre'] as const)
      viaEnv[k]!.forEach((v, i) => {
        expect(Math.abs(v - want[k][i]!), `${k}[${i}]`).toBeLessThan(1e-5);
      });

    await writeFile(join(scratch, 'liger-mhc.config.json'), JSON.stringify({ backend: 'webgpu' }));
    const viaFile = await script();
    expect(viaFile.error).toBe(null);
    expect(viaFile.backend).toBe('webgpu');
    // Automatic selection (no file, no variable) prefers the GPU backend once it is installed,
    // unless its device is a software emulation (lavapipe on CI), which the CPU reference beats.
    await rm(join(scratch, 'liger-mhc.config.json'));
    const auto = await script();
    expect(auto.error).toBe(null);
    expect(auto.backend).toBe(viaEnv.software ? 'cpu' : 'webgpu');
  });
});
