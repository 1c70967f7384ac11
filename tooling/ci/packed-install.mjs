#!/usr/bin/env node
// The packages as a user gets them: `pnpm pack` every publishable package once (pnpm rewrites
// workspace:* to versions), `npm install` the tarballs into a scratch project outside the workspace
// (third-party dependencies from the registry), then, there:
//   - examples/node on cpu and on webgpu (lavapipe where no GPU), checked against the CPU;
//   - the CUDA package loads; with its prebuilt platform package in the workspace (or CI's fat build
//     of one kernel file in its place), the binary holds every promised target and setBackend('cuda')
//     fails only with CudaUnavailableError kind 'no-driver' or 'no-device' (never 'no-addon');
//   - a consumer TypeScript file type-checks with skipLibCheck: false;
//   - require('@liger-mhc/core') works or says to use import;
//   - core's tarball holds no fixtures and core pulls in no test library; the conformance kit's
//     tarball holds the golden fixtures and the installed CLI's conformance command finds them;
//   - every code block of every README runs here (or, for setup commands, exists as written).
// No CUDA compiler is reachable: PATH holds only node's folder and the system folders without one,
// and LIGER_MHC_NVCC=none stands for a machine without a toolkit (the install script would
// otherwise find one in its default location). Run after the packages are built (`pnpm test` does).
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  listFatbin,
  missingTargets,
  PREBUILT_TARGETS,
  summarize,
} from '../../packages/cuda-native/scripts/list-fatbin.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PACKAGES = [
  'packages/core',
  'packages/conformance',
  'packages/webgpu-wgsl',
  'packages/cuda-native',
  'packages/cuda-native-linux-x64-gnu',
  'packages/models',
  'packages/patch',
  'apps/cli',
];
// The platform package's binary: the shipped fat build (`pnpm test` builds it where nvcc exists), or
// else the quick fat build of a few kernel files, or none.
const SHIPPED_BINARY = join(root, 'packages/cuda-native-linux-x64-gnu/liger_mhc_cuda.node');
const SUBSET_BINARY = join(
  root,
  'packages/cuda-native-linux-x64-gnu/build-subset/Release/liger_mhc_cuda.node',
);
const prebuilt = existsSync(SHIPPED_BINARY) ? 'full' : existsSync(SUBSET_BINARY) ? 'subset' : null;
const failures = [];
const check = (ok, what, detail = '') => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? `: ${detail}` : ''}`);
  if (!ok) failures.push(what);
};

const work = mkdtempSync(join(tmpdir(), 'liger-mhc-packed-'));
const tarballs = join(work, 'tarballs');
const app = join(work, 'app');
mkdirSync(tarballs);
mkdirSync(app);

// A PATH without any CUDA compiler.
const pathDirs = (process.env.PATH ?? '')
  .split(delimiter)
  .filter((d) => d && !existsSync(join(d, 'nvcc')) && !/cuda/i.test(d));
const env = {
  ...process.env,
  PATH: [dirname(process.execPath), ...pathDirs].join(delimiter),
  LIGER_MHC_NVCC: 'none',
  LIGER_MHC_BACKEND: '',
  CUDACXX: '',
  CUDA_HOME: '',
  CUDA_PATH: '',
  npm_config_update_notifier: 'false',
  npm_config_fund: 'false',
  npm_config_audit: 'false',
};
const run = (cmd, args, cwd, extra = {}) =>
  spawnSync(cmd, args, { cwd, env: { ...env, ...extra }, encoding: 'utf8', timeout: 300_000 });

try {
  const packed = [];
  const packedNames = new Set();
  /** Package name -> its tarball. */
  const tarballOf = new Map();
  for (const p of PACKAGES) {
    const dir = join(root, p);
    if (!existsSync(join(dir, 'package.json'))) {
      console.log(`skip ${p}: not in this checkout`);
      continue;
    }
    packedNames.add(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name);
    const before = new Set(readdirSync(tarballs));
    execFileSync('pnpm', ['pack', '--pack-destination', tarballs], { cwd: dir, stdio: 'pipe' });
    const made = readdirSync(tarballs).filter((f) => !before.has(f));
    packed.push(...made.map((f) => join(tarballs, f)));
    if (made.length === 1) tarballOf.set([...packedNames].pop(), join(tarballs, made[0]));
  }
  check(
    packed.length >= 7,
    'packed the publishable packages',
    packed.map((f) => f.split('/').pop()).join(', '),
  );

  // Core is the library only: the float64 fixtures and the test libraries belong to the kit.
  {
    const list = (name) =>
      execFileSync('tar', ['-tzf', tarballOf.get(name)], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean);
    const packedJson = (name) =>
      JSON.parse(
        execFileSync('tar', ['-xzOf', tarballOf.get(name), 'package/package.json'], { encoding: 'utf8' }),
      );
    const core = list('@liger-mhc/core');
    const fixtures = core.filter((f) => /fixtures\/|golden/.test(f));
    check(
      core.length > 0 && fixtures.length === 0,
      "core's tarball holds no fixtures",
      fixtures.length ? fixtures.slice(0, 3).join(' ') : `${core.length} files`,
    );
    const pkg = packedJson('@liger-mhc/core');
    const installed = Object.keys({
      ...pkg.dependencies,
      ...pkg.peerDependencies,
      ...pkg.optionalDependencies,
    });
    const testDeps = installed.filter((d) => ['fast-check', 'vitest', '@liger-mhc/conformance'].includes(d));
    check(
      testDeps.length === 0,
      'core declares no test dependencies',
      testDeps.join(' ') || installed.join(' ') || 'none',
    );
    const kit = list('@liger-mhc/conformance');
    const golden = ['golden', 'golden-v4', 'golden-xlayer'].map((d) => `package/fixtures/${d}/index.json`);
    check(
      golden.every((f) => kit.includes(f)),
      "the conformance kit's tarball holds the golden fixtures",
      golden.filter((f) => !kit.includes(f)).join(' '),
    );
  }

  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'scratch-app', private: true, type: 'module' }),
  );
  const webgpuVersion = createRequire(join(root, 'packages/webgpu-wgsl/package.json'))(
    'webgpu/package.json',
  ).version;
  const install = run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      '--loglevel=error',
      ...packed,
      `webgpu@${webgpuVersion}`,
    ],
    app,
  );
  check(
    install.status === 0,
    'npm install of the tarballs',
    install.stderr.trim().split('\n').slice(-5).join(' | '),
  );
  if (install.status !== 0) throw new Error('install failed');
  check(run('sh', ['-c', 'command -v nvcc'], app).status !== 0, 'no nvcc on PATH');
  // Where only the quick fat build of a few kernel files exists (CI: `build-native.mjs --kernels`),
  // it stands in for the shipped binary in the installed platform package, so that the package's
  // loader and the target list are checked as a user's install would see them.
  if (prebuilt === 'subset')
    copyFileSync(
      SUBSET_BINARY,
      join(app, 'node_modules/@liger-mhc/cuda-native-linux-x64-gnu/liger_mhc_cuda.node'),
    );

  // examples/node on both backends that run here.
  copyFileSync(join(root, 'examples/node/mhc-layer.mjs'), join(app, 'mhc-layer.mjs'));
  for (const backend of ['cpu', 'webgpu']) {
    const r = run(process.execPath, ['mhc-layer.mjs', '--backend', backend], app);
    let out = null;
    try {
      out = JSON.parse(r.stdout.trim().split('\n').pop());
    } catch {}
    check(
      r.status === 0 && out?.ok === true && out.backend === backend,
      `examples/node on ${backend}`,
      r.status === 0
        ? `loss ${out?.loss}, max |Δy| vs cpu ${out?.maxOutputDiff}`
        : `${r.stdout}${r.stderr}`.trim().slice(-400),
    );
    if (backend === 'cpu')
      check(!/Warning/.test(r.stderr), 'no GPU runtime warnings on a cpu run', r.stderr.trim().slice(0, 200));
  }
  // Automatic selection on a machine whose only GPU is emulated ends on the CPU without loading Dawn.
  {
    const r = run(process.execPath, ['mhc-layer.mjs'], app);
    check(
      r.status === 0 && !/Warning/.test(r.stderr),
      'automatic selection: no GPU runtime warnings',
      r.stderr.trim().slice(0, 200),
    );
  }

  // The CLI as installed: its version, a strict-flag error, and doctor.
  {
    const bin = join(app, 'node_modules', '.bin', 'liger-mhc');
    const version = run(bin, ['--version'], app);
    const want = JSON.parse(readFileSync(join(root, 'apps/cli/package.json'), 'utf8')).version;
    check(
      version.stdout.trim() === want,
      'liger-mhc --version',
      version.stdout.trim() || version.stderr.trim(),
    );
    const typo = run(bin, ['--stpes', '5'], app);
    check(
      typo.status === 2 && /--stpes/.test(typo.stderr),
      'liger-mhc --stpes 5: exit 2 naming the flag',
      typo.stderr.trim(),
    );
    // The kit's default fixtures, found where npm installed @liger-mhc/conformance.
    const kit = run(bin, ['conformance', '--backend', 'cpu', '--no-properties'], app);
    check(
      kit.status === 0 && /\b0 failed\b/.test(kit.stdout) && !/\b0 passed\b/.test(kit.stdout),
      'liger-mhc conformance --backend cpu (installed fixtures)',
      `${kit.stdout}${kit.stderr}`.trim().split('\n').pop(),
    );
    const doctor = run(bin, ['doctor', '--json'], app);
    let report = null;
    try {
      report = JSON.parse(doctor.stdout);
    } catch {}
    check(
      doctor.status === 0 && report?.backends?.[0]?.ok === true,
      'liger-mhc doctor',
      report
        ? report.backends.map((b) => `${b.name} ${b.ok ? 'ok' : 'no'}`).join(', ')
        : doctor.stderr.trim().slice(-300),
    );
  }

  // The CUDA package: loads; setBackend('cuda') fails with the reason, never "addon not built".
  writeFileSync(
    join(app, 'cuda.mjs'),
    `import { setBackend } from '@liger-mhc/core';
const mod = await import('@liger-mhc/cuda-native');
const out = { loaded: true, doctor: typeof mod.cudaDoctor === 'function' };
try {
  await setBackend('cuda');
  out.started = true;
} catch (err) {
  out.error = { name: err.name, kind: err.kind ?? null, cause: err.cause?.name ?? null, message: err.message };
}
console.log(JSON.stringify(out));
`,
  );
  {
    const r = run(process.execPath, ['cuda.mjs'], app);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() || '{}');
    check(out.loaded === true, '@liger-mhc/cuda-native loads', r.stderr.trim().slice(0, 300));
    const kind = out.error?.kind;
    if (prebuilt) {
      // The shipped binary, as installed: every translation unit has code for every promised card.
      const shipped = join(app, 'node_modules/@liger-mhc/cuda-native-linux-x64-gnu/liger_mhc_cuda.node');
      let detail;
      let ok = false;
      try {
        const containers = listFatbin(readFileSync(shipped));
        const missing = missingTargets(containers, PREBUILT_TARGETS);
        const s = summarize(containers);
        ok = missing.length === 0;
        detail = ok
          ? `${s.containers} containers; SASS ${s.sass.join(' ')}; PTX ${s.ptx.join(' ')} (ISA ${s.ptxVersions.join(', ')})`
          : `missing ${missing.join(' ')}`;
      } catch (e) {
        detail = e instanceof Error ? e.message : String(e);
      }
      check(
        ok,
        `${prebuilt === 'subset' ? 'subset build of the prebuilt' : 'prebuilt binary'} holds ${PREBUILT_TARGETS.join(' ')}`,
        detail,
      );
    }
    if (out.started) check(true, 'cuda backend started (a GPU is here)');
    else if (prebuilt)
      check(
        kind === 'no-driver' || kind === 'no-device',
        "setBackend('cuda'): CudaUnavailableError no-driver/no-device",
        `${kind}: ${out.error?.message}`,
      );
    else
      console.log(
        `note setBackend('cuda') without a prebuilt package in this checkout: ${out.error?.message}`,
      );
  }

  // A consumer's type-check with skipLibCheck: false, without @webgpu/types or @types/node of its own.
  writeFileSync(
    join(app, 'consumer.ts'),
    `import { LigerMHC, Linear, randn, ready, type Backend } from '@liger-mhc/core';
import { runConformance } from '@liger-mhc/conformance';
import { createWebGpuBackend, type WebGpuBackend } from '@liger-mhc/webgpu-wgsl';
import { CudaUnavailableError } from '@liger-mhc/cuda-native';
import { GPT } from '@liger-mhc/models';
import { applyLigerMhc } from '@liger-mhc/patch';

export async function main(): Promise<number> {
  const be: Backend = await ready();
  const layer = new LigerMHC(new Linear(8, 8), { hc: 2, c: 8, allowFp32: true, backend: be });
  const y = layer.forward(randn([3, 2, 8], { backend: be }));
  const gpu: WebGpuBackend | null = await createWebGpuBackend().catch(() => null);
  const ok = (await runConformance({ backend: be, properties: false })).failed === 0;
  const kinds: unknown = CudaUnavailableError;
  return y.shape.length + (gpu ? 1 : 0) + (ok ? 1 : 0) + (kinds ? 1 : 0) + (typeof GPT === "function" && typeof applyLigerMhc === "function" ? 1 : 0);
}
`,
  );
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        skipLibCheck: false,
        noEmit: true,
        types: [],
        lib: ['ES2023', 'DOM'],
      },
      files: ['consumer.ts'],
    }),
  );
  {
    const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
    const r = run(process.execPath, [tsc, '-p', 'tsconfig.json'], app);
    const errors = r.stdout.split('\n').filter((l) => /error TS/.test(l));
    check(
      r.status === 0,
      'consumer type-check with skipLibCheck: false',
      `${errors.length} errors ${errors.slice(0, 3).join(' | ')}`,
    );
  }

  // CommonJS: require works (Node with require(esm)) or the error says to use import.
  {
    const r = run(process.execPath, ['-e', "require('@liger-mhc/core'); console.log('required')"], app);
    const works = r.status === 0 && r.stdout.includes('required');
    check(
      works || /import/.test(r.stderr),
      "require('@liger-mhc/core') works or says to use import",
      works
        ? 'works'
        : r.stderr
            .split('\n')
            .find((l) => /import/.test(l))
            ?.trim(),
    );
  }

  // Every code block of every README, as a user would paste it into this project: ts/js blocks
  // run (TypeScript stripped by esbuild); sh blocks run where they are `node` commands of an
  // example (its file is copied here), and otherwise must be setup commands whose scripts and
  // pnpm version exist in the workspace as written.
  {
    const { transformSync } = createRequire(join(root, 'package.json'))('esbuild');
    const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const readmes = execFileSync('git', ['ls-files', '*README.md', 'README.md'], {
      cwd: root,
      encoding: 'utf8',
    })
      .split('\n')
      .filter(Boolean);
    let n = 0;
    for (const readme of readmes) {
      const text = readFileSync(join(root, readme), 'utf8');
      for (const m of text.matchAll(/```(ts|js|sh)\n([\s\S]*?)```/g)) {
        const [lang, code] = [m[1], m[2]];
        const where = `${readme}:${text.slice(0, m.index).split('\n').length}`;
        n++;
        if (lang === 'sh') {
          for (const line of code
            .split('\n')
            .map((l) => l.replace(/\s+#.*$/, '').trim())
            .filter(Boolean)) {
            for (const cmd of line.split('&&').map((c) => c.trim())) {
              const nodeRun = /^node (\S+\.mjs)\b/.exec(cmd);
              if (nodeRun) {
                copyFileSync(join(root, dirname(readme), nodeRun[1]), join(app, nodeRun[1]));
                const r = run('sh', ['-c', cmd], app);
                check(
                  r.status === 0,
                  `README block ${where}: ${cmd}`,
                  r.status === 0 ? '' : `${r.stderr}`.trim().slice(-300),
                );
                continue;
              }
              const script = /^pnpm (?:run )?([\w:-]+)$/.exec(cmd)?.[1];
              const npmInstall = /^npm install ((?:@liger-mhc\/[\w-]+\s*)+)$/.exec(cmd);
              const known =
                cmd === 'pnpm install' ||
                // what this project did with the packed tarballs
                npmInstall?.[1]
                  .split(/\s+/)
                  .filter(Boolean)
                  .every((n) => packedNames.has(n)) === true ||
                cmd === `npm install -g pnpm@${rootPkg.packageManager.split('@')[1]}` ||
                (script !== undefined && script in rootPkg.scripts);
              check(
                known,
                `README block ${where}: ${cmd}`,
                known ? 'a workspace command' : 'unknown command',
              );
            }
          }
          continue;
        }
        const file = join(app, `readme-block-${n}.mjs`);
        writeFileSync(file, transformSync(code, { loader: 'ts', format: 'esm', target: 'node20' }).code);
        const r = run(process.execPath, [file], app);
        check(
          r.status === 0,
          `README block ${where} runs`,
          r.status === 0 ? '' : `${r.stderr}`.trim().slice(-400),
        );
      }
    }
    check(n > 0, 'README code blocks found', `${n}`);
  }
} catch (err) {
  check(false, 'packed-install run', err.message);
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(
  failures.length
    ? `packed install: ${failures.length} check(s) failed`
    : 'packed install: all checks passed',
);
process.exitCode = failures.length ? 1 : 0;
