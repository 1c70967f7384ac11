import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/cpu/cpu-backend.js';
import {
  ArgumentError,
  BACKEND_ENV,
  type Backend,
  BackendError,
  CONFIG_FILE_NAME,
  CONFIG_PATH_ENV,
  configure,
  findConfigFile,
  getBackend,
  loadConfigFile,
  ready,
  registerBackend,
  requestedBackend,
  resetBackendSelection,
  setBackend,
} from '../src/index.js';

// Two more registered backends. Both are CpuBackend instances (whose `name` is 'cpu'), so which
// one ready() selected is told by instance identity.
const made = new Map<Backend, string>();
for (const [name, priority] of [
  ['cfg-a', -5],
  ['cfg-b', -6],
] as const)
  registerBackend(
    name,
    () => {
      const b = new CpuBackend();
      made.set(b, name);
      return b;
    },
    priority,
  );
const picked = async () => {
  const b = await ready();
  return made.get(b) ?? b.name;
};
const current = () => {
  const b = getBackend();
  return made.get(b) ?? b.name;
};

let root: string;
const startCwd = process.cwd();

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'liger-mhc-config-'));
  delete process.env[BACKEND_ENV];
  delete process.env[CONFIG_PATH_ENV];
  resetBackendSelection();
});

afterEach(async () => {
  process.chdir(startCwd);
  delete process.env[BACKEND_ENV];
  delete process.env[CONFIG_PATH_ENV];
  resetBackendSelection();
  await rm(root, { recursive: true, force: true });
});

async function nested(): Promise<string> {
  const deep = join(root, 'project', 'src', 'deep');
  await mkdir(deep, { recursive: true });
  return deep;
}

describe('liger-mhc.config.json discovery', () => {
  it('finds the nearest file from the start directory upwards', async () => {
    const deep = await nested();
    expect(await findConfigFile(deep)).toBe(null);
    await writeFile(join(root, CONFIG_FILE_NAME), '{"backend":"cfg-b"}');
    expect(await findConfigFile(deep)).toBe(join(root, CONFIG_FILE_NAME));
    // A nearer file shadows the outer one.
    await writeFile(join(root, 'project', CONFIG_FILE_NAME), '{ "backend": " cfg-a " }');
    expect(await findConfigFile(deep)).toBe(join(root, 'project', CONFIG_FILE_NAME));
    expect(await loadConfigFile(deep)).toEqual({
      path: join(root, 'project', CONFIG_FILE_NAME),
      backend: 'cfg-a',
    });
  });

  it('LIGER_MHC_CONFIG names the file explicitly', async () => {
    const deep = await nested();
    await writeFile(join(root, CONFIG_FILE_NAME), '{"backend":"cfg-b"}');
    const other = join(root, 'elsewhere.json');
    await writeFile(other, '{"backend":"cfg-a"}');
    process.env[CONFIG_PATH_ENV] = other;
    expect(await loadConfigFile(deep)).toEqual({ path: other, backend: 'cfg-a' });
    process.env[CONFIG_PATH_ENV] = join(root, 'missing.json');
    await expect(loadConfigFile(deep)).rejects.toThrow(/LIGER_MHC_CONFIG: cannot read the config file/);
  });

  it('a malformed file is an ArgumentError naming the file', async () => {
    const deep = await nested();
    const file = join(root, CONFIG_FILE_NAME);
    await writeFile(file, '{ backend: cpu }');
    await expect(loadConfigFile(deep)).rejects.toThrow(ArgumentError);
    await expect(loadConfigFile(deep)).rejects.toThrow(`${file}: not valid JSON`);
    await writeFile(file, '{"backend": 3}');
    await expect(loadConfigFile(deep)).rejects.toThrow(
      `${file}: backend: expected a backend name (a string), got 3`,
    );
    await writeFile(file, '[]');
    await expect(loadConfigFile(deep)).rejects.toThrow(/expected a JSON object/);
    await writeFile(file, '{}');
    expect(await loadConfigFile(deep)).toEqual({ path: file, backend: null });
  });
});

describe('backend selection precedence', () => {
  it('config file < configure() < environment < setBackend()', async () => {
    const deep = await nested();
    await writeFile(join(root, 'project', CONFIG_FILE_NAME), '{"backend":"cfg-a"}');
    process.chdir(deep);

    // Automatic selection alone would pick the CPU (priority 0 > -5); the file says cfg-a.
    expect(await picked()).toBe('cfg-a');
    expect(requestedBackend()).toBe('cfg-a');
    // Once read, the synchronous getBackend() agrees.
    resetBackendSelection();
    await ready();
    expect(current()).toBe('cfg-a');

    resetBackendSelection();
    configure({ backend: 'cfg-b' });
    expect(await picked()).toBe('cfg-b');

    resetBackendSelection();
    configure({ backend: 'cfg-b' });
    process.env[BACKEND_ENV] = 'cpu';
    expect(await picked()).toBe('cpu');

    resetBackendSelection();
    process.env[BACKEND_ENV] = 'cpu';
    await setBackend('cfg-b');
    expect(await picked()).toBe('cfg-b');
  });

  it('without any file, environment or configuration, selection is automatic (the CPU here)', async () => {
    process.chdir(await nested());
    expect(await picked()).toBe('cpu');
  });

  it('a backend named by the file that cannot start is an error that names the file', async () => {
    const deep = await nested();
    const file = join(root, CONFIG_FILE_NAME);
    await writeFile(file, '{"backend":"no-such-backend"}');
    process.chdir(deep);
    const err = await ready().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as Error).message).toContain("unknown backend 'no-such-backend'");
    expect((err as Error).message).toContain(`(selected by ${file})`);
  });

  it('the working directory is re-read when it changes', async () => {
    const a = join(root, 'a');
    const b = join(root, 'b');
    await mkdir(a);
    await mkdir(b);
    await writeFile(join(a, CONFIG_FILE_NAME), '{"backend":"cfg-a"}');
    await writeFile(join(b, CONFIG_FILE_NAME), '{"backend":"cfg-b"}');
    process.chdir(a);
    expect(await picked()).toBe('cfg-a');
    resetBackendSelection();
    process.chdir(b);
    expect(await picked()).toBe('cfg-b');
  });
});
