import { compare, TOLERANCES, type Tolerance } from '@liger-mhc/conformance';
import {
  ArgumentError,
  type Backend,
  deserializeStateDict,
  hostPlatform,
  noGrad,
  type Tensor,
  tensor,
} from '@liger-mhc/core';
import { buildModel, type LanguageModel, type ModelKind } from './model-kinds.js';
import { checkConvention, type NameConvention, toOurName, toOurNames } from './name-maps.js';

/**
 * Model-level parity fixtures: a checkpoint under its source's names, token ids, and the float64
 * logits, loss and gradients its source computes. The format (manifest.json + one checkpoint and
 * one expected-values file per case) is documented in the package README; anyone can add a folder
 * of them and run it with `pnpm conformance --fixtures DIR`.
 */
export const PARITY_FORMAT = 'liger-mhc-parity';
export const PARITY_VERSION = 1;

export interface ParityCase {
  name: string;
  model: ModelKind;
  /** The names the checkpoint uses (name-maps.ts). */
  names: NameConvention;
  /** The model's constructor config (without backend / rng). */
  config: Record<string, unknown>;
  /** File names relative to the manifest. */
  checkpoint: string;
  expected: string;
  /** Override of the f32 tolerance (only looser where the case says why). */
  tolerance?: Tolerance;
}

export interface ParityManifest {
  format: typeof PARITY_FORMAT;
  version: number;
  cases: ParityCase[];
}

interface JsonTensor {
  shape: number[];
  data: number[];
}

export interface ParityExpected {
  ids: number[][];
  labels: number[][];
  logits: JsonTensor;
  loss: number;
  /** Gradients of the loss, keyed by the checkpoint's names. */
  grads: Record<string, JsonTensor>;
}

export interface ParityCheck {
  case: string;
  /** 'logits', 'loss' or 'grad <name>' */
  quantity: string;
  pass: boolean;
  ratio: number;
  maxAbsError: number;
  note?: string;
}

export function parseParityManifest(text: string): ParityManifest {
  let m: ParityManifest;
  try {
    m = JSON.parse(text) as ParityManifest;
  } catch (err) {
    throw new ArgumentError('manifest', `valid JSON (${(err as Error).message})`);
  }
  if (m?.format !== PARITY_FORMAT)
    throw new ArgumentError('manifest.format', `'${PARITY_FORMAT}', got '${String(m?.format)}'`);
  if (m.version !== PARITY_VERSION)
    throw new ArgumentError('manifest.version', `${PARITY_VERSION}, got ${String(m.version)}`);
  if (!Array.isArray(m.cases)) throw new ArgumentError('manifest.cases', 'an array of cases');
  for (const c of m.cases) {
    for (const k of ['name', 'model', 'names', 'checkpoint', 'expected'] as const)
      if (typeof c[k] !== 'string') throw new ArgumentError(`manifest.cases[].${k}`, 'a string');
    checkConvention(c.names, `manifest.cases['${c.name}'].names`);
  }
  return m;
}

export interface ParityRunOptions {
  /**
   * Called with the loaded model before it runs (e.g. to patch it onto fused kernels); the
   * function it returns, if any, is called afterwards (e.g. to unpatch).
   */
  prepare?: (model: LanguageModel) => Promise<(() => void) | undefined> | (() => void) | undefined;
}

async function values(t: Tensor): Promise<Float64Array> {
  return Float64Array.from(await t.data());
}

/** Load one case's checkpoint into its model on `backend`, run it, and compare with the expected values. */
export async function runParityCase(
  c: ParityCase,
  checkpoint: Uint8Array,
  expected: ParityExpected,
  backend: Backend,
  options: ParityRunOptions = {},
): Promise<ParityCheck[]> {
  const tol = c.tolerance ?? TOLERANCES.f32;
  const model = buildModel(c.model, c.config, backend);
  const checks: ParityCheck[] = [];
  const loaded = deserializeStateDict(checkpoint, { backend });
  let undo: (() => void) | undefined;
  try {
    await model.loadStateDict(toOurNames(loaded, c.names));
    undo = (await options.prepare?.(model)) ?? undefined;
    const b = expected.ids.length;
    const t = expected.ids[0]?.length ?? 0;
    const ids = tensor(expected.ids.flat(), [b, t], { dtype: 'i32', backend });
    const labels = tensor(expected.labels.flat(), [b, t], { dtype: 'i32', backend });
    const { loss, logits } = model.loss(ids, labels);
    const push = (quantity: string, actual: Float64Array, want: ArrayLike<number>, shapeOk = true) => {
      const r = compare(actual, want, tol);
      checks.push({
        case: c.name,
        quantity,
        pass: shapeOk && r.pass,
        ratio: r.ratio,
        maxAbsError: r.maxAbsError,
        note: shapeOk ? undefined : 'shape mismatch',
      });
    };
    const sameShape = (a: readonly number[], e: readonly number[]) =>
      a.length === e.length && a.every((d, i) => d === e[i]);
    push(
      'logits',
      await values(logits),
      expected.logits.data,
      sameShape(logits.shape, expected.logits.shape),
    );
    push('loss', await values(loss), [expected.loss]);
    loss.backward();
    const params = new Map(model.namedParameters());
    for (const [name, want] of Object.entries(expected.grads)) {
      const ours = toOurName(name, c.names, c.names === 'liger' ? ligerNesting(loaded) : 'modules');
      const p = params.get(ours);
      if (!p?.grad) {
        checks.push({
          case: c.name,
          quantity: `grad ${name}`,
          pass: false,
          ratio: Number.POSITIVE_INFINITY,
          maxAbsError: Number.NaN,
          note: p ? 'no gradient' : `no parameter '${ours}'`,
        });
        continue;
      }
      push(`grad ${name}`, await values(p.grad), want.data, sameShape(p.grad.shape, want.shape));
    }
    noGrad(() => {
      for (const x of [ids, labels, loss, logits]) x.dispose();
    });
  } finally {
    undo?.();
    for (const x of Object.values(loaded)) x.dispose();
    model.dispose();
  }
  return checks;
}

function ligerNesting(state: Record<string, unknown>) {
  return 'phi' in state || 'inner.weight' in state ? ('liger-test' as const) : ('modules' as const);
}

export interface ParityReport {
  dir: string;
  cases: { name: string; pass: boolean; checks: ParityCheck[] }[];
  passed: number;
  failed: number;
}

/** Whether a folder holds model parity fixtures (a manifest.json of this format). */
export async function isParityFixtureDir(dir: string): Promise<boolean> {
  const host = hostPlatform();
  try {
    const text = new TextDecoder().decode(await host.readFile(host.resolvePath(dir, 'manifest.json')));
    return (JSON.parse(text) as { format?: string }).format === PARITY_FORMAT;
  } catch {
    return false;
  }
}

/** Run every case of a fixture folder (Node). */
export async function runParityFixtures(
  dir: string,
  backend: Backend,
  options: ParityRunOptions & {
    filter?: string;
    onCase?: (name: string, checks: ParityCheck[]) => void;
  } = {},
): Promise<ParityReport> {
  const host = hostPlatform();
  const readText = async (name: string) =>
    new TextDecoder().decode(await host.readFile(host.resolvePath(dir, name)));
  const manifest = parseParityManifest(await readText('manifest.json'));
  const report: ParityReport = { dir, cases: [], passed: 0, failed: 0 };
  for (const c of manifest.cases) {
    if (options.filter && !c.name.includes(options.filter)) continue;
    const ckpt = await host.readFile(host.resolvePath(dir, c.checkpoint));
    const expected = JSON.parse(await readText(c.expected)) as ParityExpected;
    const checks = await runParityCase(c, ckpt, expected, backend, options);
    const pass = checks.length > 0 && checks.every((k) => k.pass);
    report.cases.push({ name: c.name, pass, checks });
    if (pass) report.passed++;
    else report.failed++;
    options.onCase?.(c.name, checks);
  }
  return report;
}
