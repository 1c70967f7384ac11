import { ArgumentError, hostPlatform } from '@liger-mhc/core';
import type { V4Case } from './fixtures-v4.js';
import { type PostResCoeffsPreCase, XLAYER_OPS } from './fixtures-xlayer.js';

export type * from './fixtures-v4.js';
export * from './fixtures-xlayer.js';

// Files are read through core's host hooks (Node's are installed by the Node entry), so this module
// (and the kit's index) also loads in a browser, where cases are fetched and passed to
// runGoldenCase directly.

/** A tensor in a fixture: row-major float64 values. */
export interface FixtureTensor {
  shape: number[];
  data: number[];
}

export interface CoeffsConfigJson {
  tmax: number;
  rmsEps: number;
  preEps: number;
  sinkhornEps: number;
  postMult: number;
}

export interface CoeffsCase {
  name: string;
  op: 'coeffs';
  config: CoeffsConfigJson;
  dtypes: { x: string; phi: string };
  inputs: Record<'x' | 'phi' | 'b' | 'alphaPre' | 'alphaPost' | 'alphaRes', FixtureTensor>;
  cotangents: Record<'hPre' | 'hPost' | 'hRes', FixtureTensor>;
  outputs: Record<'hPre' | 'hPost' | 'hRes', FixtureTensor>;
  grads: Record<'x' | 'phi' | 'b' | 'alphaPre' | 'alphaPost' | 'alphaRes', FixtureTensor>;
}

export interface ApplyCase {
  name: string;
  op: 'apply';
  config: { orientation: 'liger' | 'deepseek' };
  dtypes: { x: string; f: string };
  inputs: Record<'x' | 'f' | 'hPre' | 'hPost' | 'hRes', FixtureTensor>;
  cotangents: Record<'xIn' | 'xOut', FixtureTensor>;
  outputs: Record<'xIn' | 'xOut', FixtureTensor>;
  grads: {
    pre: Record<'x' | 'hPre', FixtureTensor>;
    postRes: Record<'x' | 'f' | 'hPost' | 'hRes', FixtureTensor>;
  };
}

export interface LayerCase {
  name: string;
  op: 'layer';
  config: CoeffsConfigJson & { orientation: 'liger' | 'deepseek' };
  dtypes: { x: string; phi: string };
  inputs: Record<'x' | 'phi' | 'b' | 'alphaPre' | 'alphaPost' | 'alphaRes' | 'weight', FixtureTensor>;
  cotangents: { out: FixtureTensor };
  outputs: Record<'out' | 'hPre' | 'hPost' | 'hRes', FixtureTensor>;
  grads: Record<'x' | 'phi' | 'b' | 'alphaPre' | 'alphaPost' | 'alphaRes' | 'weight', FixtureTensor>;
}

export type LayerParamName = 'phi' | 'b' | 'alphaPre' | 'alphaPost' | 'alphaRes' | 'weight';

export interface MiniLmCase {
  name: string;
  op: 'miniLm';
  config: CoeffsConfigJson & { vocab: number; hc: number; c: number; layers: number };
  inputs: {
    embedding: FixtureTensor;
    head: FixtureTensor;
    inputIds: FixtureTensor;
    labels: FixtureTensor;
    layers: Record<LayerParamName, FixtureTensor>[];
  };
  outputs: { logits: FixtureTensor; loss: number };
  grads: { embedding: FixtureTensor; head: FixtureTensor; layers: Record<LayerParamName, FixtureTensor>[] };
}

export type GoldenCase = CoeffsCase | ApplyCase | LayerCase | MiniLmCase | V4Case | PostResCoeffsPreCase;

/** The ops of fixtures/golden-v4 (fixtures-v4.ts). */
export const V4_OPS = ['head', 'expand', 'preNorm', 'coeffsV4', 'blockV4'] as const;

/** The DeepSeek-V4 and mixed-dtype fixtures shipped with this package (scripts/gen-v4-fixtures.py). */
export function defaultV4FixturesDir(): string {
  return decodeURIComponent(new URL('../fixtures/golden-v4', import.meta.url).pathname);
}

/** The fixtures shipped with this package (copied unchanged from the PyTorch float64 generator). */
export function defaultFixturesDir(): string {
  // dist/fixtures.js or src/fixtures.ts -> package root /fixtures/golden
  return decodeURIComponent(new URL('../fixtures/golden', import.meta.url).pathname);
}

/**
 * Every case in a directory: the files listed by its index.json, or else every *.json holding an
 * `op` field. Unknown ops are reported, not silently skipped.
 */
export async function loadCases(dir: string): Promise<{ cases: GoldenCase[]; unknown: string[] }> {
  const host = hostPlatform();
  const text = async (f: string) => new TextDecoder().decode(await host.readFile(`${dir}/${f}`));
  let files: string[];
  try {
    const index = JSON.parse(await text('index.json')) as unknown;
    if (!Array.isArray(index)) throw new ArgumentError(`${dir}/index.json`, 'expected an array of { file }');
    files = index.map((e, i) =>
      caseFileName(`${dir}/index.json[${i}].file`, (e as { file?: unknown })?.file),
    );
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err;
    files = (await host.readDir(dir)).filter((f) => f.endsWith('.json') && f !== 'index.json').sort();
  }
  const cases: GoldenCase[] = [];
  const unknown: string[] = [];
  for (const f of files) {
    const c = JSON.parse(await text(f)) as GoldenCase & { op: string };
    if (!c || typeof c !== 'object' || !('op' in c)) continue;
    if (['coeffs', 'apply', 'layer', 'miniLm', ...V4_OPS, ...XLAYER_OPS].includes(c.op)) cases.push(c);
    else unknown.push(`${f} (op '${c.op}')`);
  }
  return { cases, unknown };
}

/**
 * A case file named by an index.json: a plain `*.json` name in that directory, so a hostile index
 * cannot make the kit read outside the directory it was given.
 */
function caseFileName(argument: string, file: unknown): string {
  if (typeof file !== 'string' || !/^[\w.-]+\.json$/.test(file) || file.startsWith('.')) {
    throw new ArgumentError(
      argument,
      `expected a file name ending in .json in the same directory, got ${JSON.stringify(file)}`,
    );
  }
  return file;
}
