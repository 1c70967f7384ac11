import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AdamW,
  declaredEnv,
  LigerMHC,
  LigerMhcError,
  Linear,
  loadCheckpoint,
  loadConfigFile,
  MiniMhcLM,
  mhcApply,
  mhcCoeffs,
  mhcExpand,
  mhcPostRes,
  mhcPre,
  Random,
  randn,
  readSafetensors,
  readSafetensorsFile,
  SGD,
  saveCheckpoint,
  serializeStateDict,
  type Tensor,
  tensor,
  zeros,
} from '@liger-mhc/core';
import { GPT, generate } from '@liger-mhc/models';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCommandArgs, UsageError } from '../../src/args.js';
import { CliError } from '../../src/cli-error.js';
import { COMMANDS } from '../../src/commands/index.js';
import { prepareOutDir } from '../../src/out-dir.js';

/*
 * Bad input across the API, files, configuration, environment and command line. Each case must
 * throw (nothing is accepted silently) a typed error: one of core's (LigerMhcError and its kinds,
 * SafetensorsError and EnvError included) or the CLI's UsageError / CliError — never a bare
 * TypeError, RangeError or SyntaxError from deep inside.
 */

// The GPU packages declare their own variables at import: load them so the env table covers them.
await import('@liger-mhc/webgpu-wgsl');
await import('@liger-mhc/cuda-native');

type Case = [name: string, run: () => unknown];
const scratch = mkdtempSync(join(tmpdir(), 'lmhc-bad-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const rng = new Random(7);
const hc = 2;
const c = 4;
const m = hc * hc + 2 * hc;
const good = {
  x: randn([3, hc, c], { rng }),
  phi: randn([hc * c, m], { rng, std: 0.1 }),
  b: zeros([m]),
  alphaPre: zeros([]),
  alphaPost: zeros([]),
  alphaRes: zeros([]),
};
const o = { allowFp32: true };
const coeffs = mhcCoeffs(good.x, good.phi, good.b, good.alphaPre, good.alphaPost, good.alphaRes, o);
const notTensors: [string, unknown][] = [
  ['an array', [1, 2, 3]],
  ['null', null],
  ['undefined', undefined],
  ['a number', 3],
  ['a string', 'x'],
  ['an object', { shape: [3, 2, 4] }],
  ['a typed array', new Float32Array(24)],
];

function apiCases(): Case[] {
  const cases: Case[] = [];
  const argNames = ['x', 'phi', 'b', 'alphaPre', 'alphaPost', 'alphaRes'] as const;
  for (const arg of argNames)
    for (const [what, v] of notTensors)
      cases.push([
        `mhcCoeffs ${arg} = ${what}`,
        () => {
          const a = { ...good, [arg]: v } as typeof good;
          return mhcCoeffs(a.x, a.phi, a.b, a.alphaPre, a.alphaPost, a.alphaRes, o);
        },
      ]);
  const badOptions: [string, unknown][] = [
    ['tMax: 0', { tMax: 0 }],
    ['sinkhornIters: -5', { sinkhornIters: -5 }],
    ['checkFinite: "no"', { checkFinite: 'no' }],
    ['allowFp32: "yes"', { allowFp32: 'yes' }],
    ['tmax: 0', { tmax: 0 }],
    ['tmax: -5', { tmax: -5 }],
    ['tmax: 2.5', { tmax: 2.5 }],
    ['tmax: "20"', { tmax: '20' }],
    ['tmax: NaN', { tmax: Number.NaN }],
    ['rmsEps: -1', { rmsEps: -1 }],
    ['rmsEps: Infinity', { rmsEps: Number.POSITIVE_INFINITY }],
    ['preEps: "0"', { preEps: '0' }],
    ['sinkhornEps: NaN', { sinkhornEps: Number.NaN }],
    ['postMult: Infinity', { postMult: Number.POSITIVE_INFINITY }],
    ['orientation: "rows"', { orientation: 'rows' }],
    ['phiLayout: "auto"', { phiLayout: 'auto' }],
    ['sinkhornSave: "all"', { sinkhornSave: 'all' }],
    ['preset: "liger-kernel"', { preset: 'liger-kernel' }],
    ['preset: "__proto__"', { preset: '__proto__' }],
    ['an unknown key', { unknownKey: 1 }],
    ['a snake_case key', { rms_eps: 1e-6 }],
    ['null', null],
    ['a number', 5],
    ['an array', [1]],
    ['a string', 'liger'],
  ];
  for (const [what, v] of badOptions) {
    cases.push([
      `mhcCoeffs options ${what}`,
      () => mhcCoeffs(good.x, good.phi, good.b, good.alphaPre, good.alphaPost, good.alphaRes, v as never),
    ]);
    // Spreading null or a number into { hc, c } leaves a valid bag: those are tested on their own.
    if (v === null || typeof v === 'number') continue;
    cases.push([
      `LigerMHC options ${what}`,
      () => new LigerMHC(new Linear(c, c), { hc, c, ...(v as object) } as never),
    ]);
  }
  cases.push(['LigerMHC options null', () => new LigerMHC(new Linear(c, c), null as never)]);
  cases.push(['LigerMHC options a number', () => new LigerMHC(new Linear(c, c), 5 as never)]);
  for (const [what, opts] of [
    ['hc 0', { hc: 0, c }],
    ['hc -1', { hc: -1, c }],
    ['hc 2.5', { hc: 2.5, c }],
    ['hc "2"', { hc: '2', c }],
    ['c 0', { hc, c: 0 }],
    ['no c', { hc }],
    ['hc 2000', { hc: 2000, c }],
    ['hc 100000', { hc: 100000, c }],
    ['alphaInit NaN', { hc, c, alphaInit: Number.NaN }],
    ['misspelt phiDType', { hc, c, phiDType: 'bf16' }],
  ] as const)
    cases.push([`LigerMHC ${what}`, () => new LigerMHC(new Linear(c, c), opts as never)]);
  for (const [what, layer] of [
    ['a number', 3],
    ['null', null],
    ['an object without forward', {}],
    ['a string', 'linear'],
  ] as const)
    cases.push([`LigerMHC layer = ${what}`, () => new LigerMHC(layer as never, { hc, c })]);
  for (const [what, out] of [
    ['a number', 1],
    ['null', null],
    ['an array', [1, 2]],
    ['undefined', undefined],
  ] as const) {
    cases.push([
      `LigerMHC layer returning ${what}`,
      () => new LigerMHC((() => out) as never, { hc, c, allowFp32: true }).forward(good.x),
    ]);
    cases.push([`mhcApply layer returning ${what}`, () => mhcApply(good.x, (() => out) as never, coeffs, o)]);
  }
  cases.push(['mhcApply coeffs null', () => mhcApply(good.x, (t: Tensor) => t, null as never, o)]);
  cases.push(['mhcApply coeffs {}', () => mhcApply(good.x, (t: Tensor) => t, {} as never, o)]);
  cases.push(['mhcApply layer 5', () => mhcApply(good.x, 5 as never, coeffs, o)]);
  for (const [what, v] of notTensors) {
    cases.push([`mhcPre hPre = ${what}`, () => mhcPre(good.x, v as never, o)]);
    cases.push([
      `mhcPostRes f = ${what}`,
      () => mhcPostRes(good.x, v as never, coeffs.hPost, coeffs.hRes, o),
    ]);
    cases.push([`mhcExpand x = ${what}`, () => mhcExpand(v as never, 2)]);
  }
  // Shapes and sizes.
  cases.push([
    'x of rank 1',
    () => mhcCoeffs(zeros([8]), good.phi, good.b, good.alphaPre, good.alphaPost, good.alphaRes, o),
  ]);
  cases.push([
    'phi of the wrong shape',
    () => mhcCoeffs(good.x, zeros([3, 3]), good.b, good.alphaPre, good.alphaPost, good.alphaRes, o),
  ]);
  cases.push([
    'b of the wrong shape',
    () => mhcCoeffs(good.x, good.phi, zeros([3]), good.alphaPre, good.alphaPost, good.alphaRes, o),
  ]);
  cases.push([
    'alpha not a scalar',
    () => mhcCoeffs(good.x, good.phi, good.b, zeros([2]), good.alphaPost, good.alphaRes, o),
  ]);
  cases.push([
    'f32 x without allowFp32',
    () => mhcCoeffs(good.x, good.phi, good.b, good.alphaPre, good.alphaPost, good.alphaRes),
  ]);
  cases.push([
    'i32 x',
    () =>
      mhcCoeffs(
        zeros([3, hc, c], { dtype: 'i32' }),
        good.phi,
        good.b,
        good.alphaPre,
        good.alphaPost,
        good.alphaRes,
        o,
      ),
  ]);
  cases.push([
    'NaN in x',
    () =>
      mhcCoeffs(
        tensor(new Float32Array(24).fill(Number.NaN), [3, hc, c]),
        good.phi,
        good.b,
        good.alphaPre,
        good.alphaPost,
        good.alphaRes,
        o,
      ),
  ]);
  cases.push([
    'a disposed x',
    () => {
      const x = zeros([3, hc, c]);
      x.dispose();
      return mhcCoeffs(x, good.phi, good.b, good.alphaPre, good.alphaPost, good.alphaRes, o);
    },
  ]);
  for (const shape of [[-1], [2.5], [Number.NaN], [65536, 65536], [2 ** 31], [1e20]])
    cases.push([`zeros(${JSON.stringify(shape)})`, () => zeros(shape)]);
  cases.push(['tensor data/shape mismatch', () => tensor([1, 2, 3], [2, 2])]);
  cases.push(['mhcExpand hc 0', () => mhcExpand(zeros([2, 4]), 0)]);
  // Optimizers, models, random state.
  const p = () => [randn([2, 2], { rng, requiresGrad: true })];
  for (const [what, opts] of [
    ['lr -1', { lr: -1 }],
    ['lr "1e-3"', { lr: '1e-3' }],
    ['betas [1, 2, 3]', { betas: [1, 2, 3] }],
    ['betas [2, 0.9]', { betas: [2, 0.9] }],
    ['eps NaN', { eps: Number.NaN }],
    ['misspelt weight_decay', { weight_decay: 0.1 }],
    ['null', null],
  ] as const)
    cases.push([`AdamW options ${what}`, () => new AdamW(p(), opts as never)]);
  cases.push(['AdamW with no parameters', () => new AdamW([])]);
  cases.push(['AdamW with a plain array parameter', () => new AdamW([[1, 2]] as never)]);
  cases.push(['AdamW params null', () => new AdamW(null as never)]);
  cases.push(['SGD momentum -1', () => new SGD(p(), { momentum: -1 })]);
  cases.push(['SGD nesterov "yes"', () => new SGD(p(), { nesterov: 'yes' } as never)]);
  cases.push([
    'AdamW loadStateDict of SGD state',
    () => new AdamW(p()).loadStateDict(new SGD(p()).stateDict()),
  ]);
  cases.push(['AdamW loadStateDict null', () => new AdamW(p()).loadStateDict(null as never)]);
  cases.push([
    'AdamW loadStateDict step -1',
    () => new AdamW(p()).loadStateDict({ kind: 'adamw', step: -1, hyper: {}, tensors: {} }),
  ]);
  cases.push(['Random setState all zero', () => new Random(1).setState({ s: [0, 0, 0, 0], spare: null })]);
  cases.push(['Random setState short', () => new Random(1).setState({ s: [1, 2] } as never)]);
  cases.push(['Random setState null', () => new Random(1).setState(null as never)]);
  cases.push(['MiniMhcLM misspelt key', () => new MiniMhcLM({ vocab: 5, hc, c, layer: 1 } as never)]);
  cases.push(['MiniMhcLM vocab 0', () => new MiniMhcLM({ vocab: 0, hc, c, layers: 1 })]);
  const gpt = { vocab: 7, dim: 8, heads: 2, layers: 1, hc: 2, allowFp32: true };
  cases.push(['GPT misspelt key', () => new GPT({ ...gpt, head: 2 } as never)]);
  cases.push(['GPT tMax', () => new GPT({ ...gpt, tMax: 3 } as never)]);
  cases.push(['GPT heads 0', () => new GPT({ ...gpt, heads: 0 })]);
  const lm = new GPT(gpt);
  cases.push(['generate misspelt maxTokens', () => generate(lm, [1], { maxTokens: 3 } as never)]);
  cases.push(['generate temperature -1', () => generate(lm, [1], { maxNewTokens: 1, temperature: -1 })]);
  cases.push(['generate empty prompt', () => generate(lm, [], { maxNewTokens: 1 })]);
  cases.push(['generate token past the vocabulary', () => generate(lm, [99], { maxNewTokens: 1 })]);
  return cases;
}

/** A valid file, then mutations of it that break one rule of the format each. */
async function fileCases(): Promise<Case[]> {
  const valid = await serializeStateDict({ a: zeros([2, 3]), b: zeros([4], { dtype: 'i32' }) });
  const headerLen = Number(new DataView(valid.buffer, valid.byteOffset).getBigUint64(0, true));
  const header = new TextDecoder().decode(valid.subarray(8, 8 + headerLen));
  const data = valid.subarray(8 + headerLen);
  const withHeader = (h: string, body: Uint8Array = data) => {
    const hb = new TextEncoder().encode(h);
    const out = new Uint8Array(8 + hb.length + body.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
    out.set(hb, 8);
    out.set(body, 8 + hb.length);
    return out;
  };
  const bad: [string, Uint8Array][] = [];
  for (const n of [0, 1, 7, 8, 9, 8 + Math.floor(headerLen / 2), 8 + headerLen - 1, valid.length - 1])
    bad.push([`truncated to ${n} bytes`, valid.subarray(0, n)]);
  const lenTooBig = valid.slice();
  new DataView(lenTooBig.buffer).setBigUint64(0, BigInt(valid.length), true);
  bad.push(['header length past the end', lenTooBig]);
  const lenHuge = valid.slice();
  new DataView(lenHuge.buffer).setBigUint64(0, 2n ** 60n, true);
  bad.push(['header length 2^60', lenHuge]);
  bad.push(['trailing bytes', new Uint8Array([...valid, 0, 0, 0, 0])]);
  const h = JSON.parse(header) as Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>;
  const mutate = (name: string, f: (j: typeof h) => void) => {
    const j = JSON.parse(header);
    f(j);
    bad.push([name, withHeader(JSON.stringify(j))]);
  };
  mutate('negative offset', (j) => {
    j.a!.data_offsets = [-8, 16];
  });
  mutate('overlapping offsets', (j) => {
    j.b!.data_offsets = [0, 16];
  });
  mutate('out-of-order offsets', (j) => {
    j.a!.data_offsets = [24, 0];
  });
  mutate('hole between tensors', (j) => {
    j.b!.data_offsets = [28, 44];
  });
  mutate('offset past the data', (j) => {
    j.b!.data_offsets = [24, 1000];
  });
  mutate('fractional offset', (j) => {
    j.a!.data_offsets = [0, 23.5];
  });
  mutate('unknown dtype', (j) => {
    j.a!.dtype = 'F128';
  });
  mutate('negative dim', (j) => {
    j.a!.shape = [-2, -3];
  });
  mutate('shape not matching the bytes', (j) => {
    j.a!.shape = [3, 3];
  });
  mutate('string dim', (j) => {
    (j.a as unknown as { shape: unknown }).shape = ['2', 3];
  });
  mutate('missing offsets', (j) => {
    delete (j.a as Partial<(typeof j)['a']>).data_offsets;
  });
  mutate('non-string metadata value', (j) => {
    (j as Record<string, unknown>).__metadata__ = { k: 1 };
  });
  mutate('nested metadata', (j) => {
    (j as Record<string, unknown>).__metadata__ = { k: { deep: 'x' } };
  });
  mutate('a tensor named __proto__', (j) => {
    Object.defineProperty(j, '__proto__', { value: j.a, enumerable: true });
  });
  bad.push(['duplicate names', withHeader(header.replace('"b":', '"a":'))]);
  bad.push(['junk before the JSON', withHeader(`xx${header}`)]);
  bad.push(['not JSON', withHeader('{"a": ')]);
  bad.push(['a JSON array', withHeader('[1, 2]')]);
  bad.push(['JSON null', withHeader('null')]);
  bad.push([
    'invalid UTF-8 name',
    (() => {
      const f = withHeader(header.replace('"b"', '"\u00ff"'));
      const i = f.indexOf(0xc3);
      f[i] = 0xff;
      return f;
    })(),
  ]);
  bad.push([
    'deeply nested metadata',
    withHeader(`{"__metadata__":${'['.repeat(5000)}${']'.repeat(5000)}}`, new Uint8Array()),
  ]);
  const cases: Case[] = bad.map(([name, bytes]) => [`safetensors: ${name}`, () => readSafetensors(bytes)]);
  cases.push(['safetensors: not bytes', () => readSafetensors('abc' as never)]);
  const missing = join(scratch, 'missing.safetensors');
  cases.push(['safetensors file: missing', () => readSafetensorsFile(missing)]);
  cases.push(['checkpoint: missing', () => loadCheckpoint(missing, { model: new Linear(2, 2) })]);
  const plain = join(scratch, 'plain.safetensors');
  writeFileSync(plain, valid);
  cases.push([
    'checkpoint: a plain file without a checksum',
    () => loadCheckpoint(plain, { model: new Linear(2, 2) }),
  ]);
  const ck = join(scratch, 'ckpt.safetensors');
  cases.push([
    'checkpoint: into a model of another shape',
    async () => {
      await saveCheckpoint(ck, { model: new Linear(2, 3) });
      return loadCheckpoint(ck, { model: new Linear(2, 2) });
    },
  ]);
  cases.push([
    'checkpoint: one flipped data byte',
    async () => {
      const lin = new Linear(2, 2);
      const f = join(scratch, 'flip.safetensors');
      await saveCheckpoint(f, { model: lin });
      const bytes = new Uint8Array(await import('node:fs').then((fs) => fs.readFileSync(f)));
      bytes[bytes.length - 1]! ^= 1;
      writeFileSync(f, bytes);
      return loadCheckpoint(f, { model: lin });
    },
  ]);
  return cases;
}

function withEnv(name: string, value: string, f: () => unknown): () => unknown {
  return async () => {
    const old = process.env[name];
    process.env[name] = value;
    try {
      return await f();
    } finally {
      if (old === undefined) delete process.env[name];
      else process.env[name] = old;
    }
  };
}

function configAndEnvCases(): Case[] {
  const cases: Case[] = [];
  const garbage: Record<string, string[]> = {
    flag: ['maybe', '2', 'enabled', 'ja'],
    int: ['many', '1.5', '1e3', '--1'],
    enum: ['nope', 'CPU!', 'all'],
  };
  for (const spec of declaredEnv()) {
    const words = garbage[spec.type] ?? [];
    for (const w of words) {
      const v = (async () => (await import('@liger-mhc/core')).declareEnv(spec))();
      cases.push([`env ${spec.name}=${w}`, withEnv(spec.name, w, async () => (await v).get())]);
    }
  }
  const cfg = (name: string, text: string): Case => [
    `config file: ${name}`,
    () => {
      const dir = mkdtempSync(join(scratch, 'cfg-'));
      writeFileSync(join(dir, 'liger-mhc.config.json'), text);
      return withEnv('LIGER_MHC_CONFIG', '', () => loadConfigFile(dir))();
    },
  ];
  cases.push(cfg('not JSON', '{ backend: cpu'));
  cases.push(cfg('an array', '["cpu"]'));
  cases.push(cfg('backend a number', '{"backend": 1}'));
  cases.push(cfg('unknown key', '{"backnd": "cpu"}'));
  cases.push(cfg('empty', ''));
  cases.push([
    'config file: LIGER_MHC_CONFIG names a missing file',
    withEnv('LIGER_MHC_CONFIG', join(scratch, 'nope.json'), () => loadConfigFile(scratch)),
  ]);
  return cases;
}

function cliCases(): Case[] {
  const cases: Case[] = [];
  const cmd = (name: string) => COMMANDS.find((c) => c.name === name)!;
  const argv: [string, string[]][] = [
    ['train', ['--stpes', '5']],
    ['train', ['--steps']],
    ['train', ['--steps', '0']],
    ['train', ['--steps', '-1']],
    ['train', ['--steps', '1.5']],
    ['train', ['--steps', 'ten']],
    ['train', ['--steps', '']],
    ['train', ['--lr', 'fast']],
    ['train', ['--lr', 'Infinity']],
    ['train', ['--dtype', 'f64']],
    ['train', ['--model', 'llama']],
    ['train', ['--backend', 'tpu']],
    ['train', ['--out', '']],
    ['train', ['--out', '   ']],
    ['train', ['--resume', ' ']],
    ['conformance', ['--fixtures', '\t']],
    ['convert', ['--in', ' ']],
    ['train', ['--resume', '']],
    ['train', ['--checkpoint-every', '-1']],
    ['train', ['--c', '8', '--model', 'gpt']],
    ['train', ['--dim', '8']],
    ['train', ['positional']],
    ['train', ['--help=yes']],
    ['generate', ['--length', 'x']],
    ['conformance', ['--backend', 'nope']],
    ['conformance', ['--fixtures']],
    ['convert', ['--bogus']],
  ];
  for (const [name, args] of argv)
    cases.push([`cli ${name} ${args.join(' ')}`, () => parseCommandArgs(cmd(name), args)]);
  const file = join(scratch, 'a-file');
  writeFileSync(file, 'x');
  for (const [what, path] of [
    ['a file', file],
    ['under a file', join(file, 'sub')],
    ['empty', ''],
    ['spaces', '   '],
    ['in /proc', '/proc/liger-mhc-no'],
  ] as const)
    cases.push([`--out ${what}`, () => prepareOutDir('--out', path)]);
  return cases;
}

/** A typed error: core's, or the CLI's usage and run errors. */
function isTyped(err: unknown): boolean {
  return err instanceof LigerMhcError || err instanceof UsageError || err instanceof CliError;
}

describe('no silent acceptance, no untyped error', () => {
  it('across at least 200 bad inputs to the API, files, config, environment and CLI', async () => {
    const groups = {
      api: apiCases(),
      files: await fileCases(),
      'config and env': configAndEnvCases(),
      cli: cliCases(),
    };
    const all = Object.values(groups).flat();
    const silent: string[] = [];
    const untyped: string[] = [];
    for (const [name, run] of all) {
      try {
        await run();
        silent.push(name);
      } catch (err) {
        if (!isTyped(err)) untyped.push(`${name}: ${(err as Error)?.name}: ${(err as Error)?.message}`);
      }
    }
    // The counts are printed for the record of what the suite covers.
    const per = Object.entries(groups).map(([k, v]) => `${k} ${v.length}`);
    console.log(
      `bad inputs: ${all.length} (${per.join(', ')}), silently accepted: ${silent.length}, untyped errors: ${untyped.length}`,
    );
    for (const [k, v] of Object.entries(groups)) expect(v.length, k).toBeGreaterThan(0);
    expect(silent).toEqual([]);
    expect(untyped).toEqual([]);
    expect(all.length).toBeGreaterThanOrEqual(200);
  });
});
