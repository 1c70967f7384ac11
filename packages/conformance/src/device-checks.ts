import type { Backend, CoeffsConfig, CoeffsForwardArgs, SinkhornSaveMode, TensorInfo } from '@liger-mhc/core';
import {
  BackendError,
  CpuBackend,
  DisposedTensorError,
  type DType,
  decode,
  encode,
  LigerMhcError,
  runCoeffsPre,
} from '@liger-mhc/core';
import type { Check } from './run-golden.js';
import { compare, TOLERANCES, type Tolerance } from './tolerances.js';

/**
 * Checks of a device backend beyond the golden values, through its kernels directly (no autograd):
 * bit-identical results run to run, the x gradient summed inside the kernels (accumulatesGradX)
 * against the pieces added separately, the optional fused coeffs + pre kernel against the two
 * kernels, live memory unchanged over many training steps, and typed errors that leave nothing
 * allocated and the backend usable.
 */
export interface DeviceCheckOptions {
  /** Layer shapes [N, hc, c] of the determinism and accumulate checks. */
  shapes?: readonly (readonly [number, number, number])[];
  /** Shapes [N, hc, c] for the fused coeffs + pre kernel (those it does not support are skipped). */
  fusedShapes?: readonly (readonly [number, number, number])[];
  /** Fail when no fused shape took the fused kernel (a backend that must fuse them). */
  expectFused?: boolean;
  /** Activation dtype (default bf16). */
  dtype?: 'bf16' | 'f16';
  /** Forward+backward steps of the memory soak (default 200) and its shape. */
  soakSteps?: number;
  soakShape?: readonly [number, number, number];
  /** Run the error-path checks (default true). */
  errors?: boolean;
}

const DEFAULT_SHAPES = [
  [300, 4, 64],
  [50, 3, 17],
  [64, 2, 48],
] as const;

const DEFAULT_FUSED_SHAPES = [
  [333, 4, 256],
  [129, 4, 1024],
  [70, 3, 136],
] as const;

/** Uniform values in [-scale/2, scale/2) from a fixed seed (the same data on every backend). */
function rand(n: number, seed: number, scale: number): Float64Array {
  let s = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * scale;
  }
  return out;
}

function upload(be: Backend, data: ArrayLike<number>, shape: number[], dtype: DType): TensorInfo {
  const h = be.alloc(dtype, data.length);
  be.write(h, encode(dtype, data));
  return { handle: h, shape, dtype };
}

function free(be: Backend, ...ts: (TensorInfo | null | undefined)[]): void {
  for (const t of ts) if (t) be.disposeData(t.handle);
}

async function bits(be: Backend, t: TensorInfo): Promise<Uint8Array> {
  const s = await be.read(t.handle);
  return new Uint8Array(s.buffer, s.byteOffset, s.byteLength).slice();
}

function sameBits(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

interface Layer {
  x: TensorInfo;
  x3: TensorInfo;
  phi: TensorInfo;
  b: TensorInfo;
  aPre: TensorInfo;
  aPost: TensorInfo;
  aRes: TensorInfo;
  gOut: TensorInfo;
  config: CoeffsConfig;
  n: number;
  hc: number;
  c: number;
}

function makeLayer(
  be: Backend,
  [n, hc, c]: readonly [number, number, number],
  dtype: DType,
  seed: number,
): Layer {
  const k = hc * c;
  const m = hc * hc + 2 * hc;
  const x = upload(be, rand(n * k, seed, 2), [n, k], dtype);
  const one = (v: number) => upload(be, [v], [], 'f32');
  return {
    x,
    x3: { ...x, shape: [n, hc, c] },
    phi: upload(be, rand(k * m, seed + 1, 0.04), [k, m], dtype),
    b: upload(be, rand(m, seed + 2, 0.2), [m], 'f32'),
    aPre: one(1),
    aPost: one(1),
    aRes: one(1),
    gOut: upload(be, rand(n * k, seed + 3, 2), [n, hc, c], dtype),
    config: { hc, tmax: 20, rmsEps: 1e-6, preEps: 0, sinkhornEps: 1e-6, postMult: 2 },
    n,
    hc,
    c,
  };
}

function freeLayer(be: Backend, L: Layer): void {
  free(be, L.x, L.phi, L.b, L.aPre, L.aPost, L.aRes, L.gOut);
}

function coeffsArgs(L: Layer, save: SinkhornSaveMode | 'none'): CoeffsForwardArgs {
  const { x, phi, b, aPre, aPost, aRes, config } = L;
  return { x, phi, b, alphaPre: aPre, alphaPost: aPost, alphaRes: aRes, config, save };
}

/**
 * One forward and backward of an mHC layer around the identity (f = xIn), as core's autograd runs
 * the kernels (coeffs + pre through runCoeffsPre). With `accumulate` the x gradient is summed inside
 * the kernels (post_res -> pre -> coeffs), without it by two `binary add`s. Returns the output and
 * the gradients (the caller frees them); everything else is freed.
 */
function layerStep(be: Backend, L: Layer, save: SinkhornSaveMode, accumulate: boolean) {
  const fw = runCoeffsPre(be.mhc, coeffsArgs(L, save));
  const out = be.mhc.postResForward(L.x3, fw.xIn, fw.hPost, fw.hRes, 'liger');
  const pr = be.mhc.postResBackward(L.gOut, L.x3, fw.xIn, fw.hPost, fw.hRes, 'liger');
  const pb = be.mhc.preBackward(pr.gradF, L.x3, fw.hPre, accumulate ? pr.gradX : null);
  const cb = be.mhc.coeffsBackward({
    ...coeffsArgs(L, save),
    save,
    accumulateGradX: accumulate ? { ...pb.gradX, shape: [L.n, L.hc * L.c] } : null,
    gradHPre: pb.gradHPre,
    gradHPost: pr.gradHPost,
    gradHRes: pr.gradHRes,
    hPre: fw.hPre,
    hPost: fw.hPost,
    hRes: fw.hRes,
    saved: fw.saved,
    needs: { x: true, phi: true, b: true, alphas: true },
  });
  free(be, fw.hPre, fw.hPost, fw.hRes, fw.xIn, ...fw.saved, pr.gradF, pr.gradHPost, pr.gradHRes, pb.gradHPre);
  let gradX: TensorInfo;
  if (accumulate) {
    free(be, pr.gradX, pb.gradX);
    gradX = { ...cb.gradX!, shape: [L.n, L.hc, L.c] };
  } else {
    const s1 = be.ops.binary('add', pr.gradX, pb.gradX);
    gradX = be.ops.binary('add', s1, { ...cb.gradX!, shape: [L.n, L.hc, L.c] });
    free(be, pr.gradX, pb.gradX, s1, cb.gradX);
  }
  const grads = [gradX, cb.gradPhi!, cb.gradB!, cb.gradAlphaPre!, cb.gradAlphaPost!, cb.gradAlphaRes!];
  return { out, grads };
}

type StepResult = ReturnType<typeof layerStep>;

function freeStep(be: Backend, r: StepResult): void {
  free(be, r.out, ...r.grads);
}

const STEP_NAMES = ['out', 'gradX', 'gradPhi', 'gradB', 'gradAlphaPre', 'gradAlphaPost', 'gradAlphaRes'];

/** Determinism, accumulate, fused coeffs + pre, memory soak and error paths of `be`. */
export async function runDeviceChecks(be: Backend, options: DeviceCheckOptions = {}): Promise<Check[]> {
  const dtype = options.dtype ?? 'bf16';
  const checks: Check[] = [];
  const exact: Tolerance = { rtol: 0, atol: 0 };
  const ok = (name: string, pass: boolean, error?: string) =>
    checks.push({
      case: 'device',
      tensor: name,
      ratio: pass ? 0 : Number.POSITIVE_INFINITY,
      maxAbsError: Number.NaN,
      tolerance: exact,
      pass,
      error: pass ? undefined : (error ?? 'check failed'),
    });
  const acc = be.mhc.accumulatesGradX === true;
  const shapes = options.shapes ?? DEFAULT_SHAPES;

  // Bit-identical run to run: no float atomics, fixed reduction orders.
  for (const shape of shapes) {
    const L = makeLayer(be, shape, dtype, 7);
    for (const save of ['history', 'recompute'] as const) {
      const r1 = layerStep(be, L, save, acc);
      const r2 = layerStep(be, L, save, acc);
      const t1 = [r1.out, ...r1.grads];
      const t2 = [r2.out, ...r2.grads];
      for (let i = 0; i < t1.length; i++)
        ok(
          `deterministic ${STEP_NAMES[i]} ${shape.join('x')} ${save}`,
          sameBits(await bits(be, t1[i]!), await bits(be, t2[i]!)),
        );
      freeStep(be, r1);
      freeStep(be, r2);
    }
    freeLayer(be, L);
  }
  {
    const a = upload(be, rand(64 * 300, 3, 2), [64, 300], 'f32');
    const w = upload(be, rand(300 * 40, 4, 2), [300, 40], dtype);
    const wf = be.ops.cast(w, 'f32');
    const once = async () => {
      const outs = [be.ops.sum(a, [0], false), be.ops.sum(a, [1], false), be.ops.matmul(a, wf)];
      const r = await Promise.all(outs.map((t) => bits(be, t)));
      free(be, ...outs);
      return r;
    };
    const [r1, r2] = [await once(), await once()];
    ['sum axis 0', 'sum axis 1', 'matmul'].forEach((nm, i) => {
      ok(`deterministic ${nm}`, sameBits(r1[i]!, r2[i]!));
    });
    free(be, a, w, wf);
  }

  // The x gradient summed in the kernels against the three pieces added by `binary add`: each path
  // rounds to the activation dtype at different points, so they agree within that dtype's tolerance;
  // the other gradients do not depend on it and agree bit for bit.
  if (acc)
    for (const shape of shapes) {
      const L = makeLayer(be, shape, dtype, 11);
      const r1 = layerStep(be, L, 'history', true);
      const r2 = layerStep(be, L, 'history', false);
      const nm = shape.join('x');
      const cmp = compare(
        decode(dtype, await be.read(r1.grads[0]!.handle)),
        decode(dtype, await be.read(r2.grads[0]!.handle)),
        TOLERANCES[dtype],
      );
      checks.push({
        case: 'device',
        tensor: `accumulated gradX ${nm} (vs binary add)`,
        ratio: cmp.ratio,
        maxAbsError: cmp.maxAbsError,
        tolerance: TOLERANCES[dtype],
        pass: cmp.pass,
      });
      ok(
        `accumulate leaves gradPhi unchanged ${nm}`,
        sameBits(await bits(be, r1.grads[1]!), await bits(be, r2.grads[1]!)),
      );
      freeStep(be, r1);
      freeStep(be, r2);
      freeLayer(be, L);
    }

  // The optional fused coeffs + pre kernel against the two kernels on the same inputs: xIn equals
  // preForward of the fused call's own hPre bit for bit; the coefficients and saved tensors agree
  // within f32 summation-order differences; repeats are bit-identical.
  if (be.mhc.coeffsPreForward && be.mhc.supportsCoeffsPre) {
    let fused = 0;
    for (const shape of options.fusedShapes ?? DEFAULT_FUSED_SHAPES) {
      const L = makeLayer(be, shape, dtype, 13);
      const nm = shape.join('x');
      for (const save of ['history', 'recompute'] as const) {
        const args = coeffsArgs(L, save);
        if (!be.mhc.supportsCoeffsPre(args)) continue;
        fused++;
        const f = be.mhc.coeffsPreForward(args);
        const u = be.mhc.coeffsForward(args);
        const fs = [f.hPre, f.hPost, f.hRes, ...f.saved];
        const us = [u.hPre, u.hPost, u.hRes, ...u.saved];
        for (let i = 0; i < fs.length; i++) {
          const cmp = compare(
            decode('f32', await be.read(fs[i]!.handle)),
            decode('f32', await be.read(us[i]!.handle)),
            TOLERANCES.f32,
          );
          const tensor = `fused coeffs+pre ${nm} ${save}: ${['hPre', 'hPost', 'hRes'][i] ?? `saved[${i - 3}]`}`;
          checks.push({ case: 'device', tensor, ...cmp, tolerance: TOLERANCES.f32 });
        }
        const sep = be.mhc.preForward(L.x3, f.hPre);
        ok(
          `fused coeffs+pre ${nm} ${save}: xIn = preForward(x, its hPre)`,
          sameBits(await bits(be, f.xIn), await bits(be, sep)),
        );
        const f2 = be.mhc.coeffsPreForward(args);
        ok(
          `fused coeffs+pre ${nm} ${save}: deterministic`,
          sameBits(await bits(be, f.xIn), await bits(be, f2.xIn)) &&
            sameBits(await bits(be, f.hRes), await bits(be, f2.hRes)),
        );
        free(be, ...fs, f.xIn, ...us, sep, f2.hPre, f2.hPost, f2.hRes, f2.xIn, ...f2.saved);
      }
      freeLayer(be, L);
    }
    if (options.expectFused) ok('fused coeffs+pre: some shape took the fused kernel', fused > 0);
  }

  // Memory: after a warm-up in both save modes, many steps leave live memory where it was and the
  // pool no larger.
  {
    const L = makeLayer(be, options.soakShape ?? [64, 4, 32], dtype, 9);
    for (const save of ['history', 'recompute'] as const) freeStep(be, layerStep(be, L, save, acc));
    await be.sync();
    const m0 = be.memory();
    const steps = options.soakSteps ?? 200;
    for (let i = 0; i < steps; i++) {
      freeStep(be, layerStep(be, L, i % 2 === 0 ? 'history' : 'recompute', acc));
      if (i % 50 === 49) await be.sync();
    }
    await be.sync();
    const m1 = be.memory();
    const diff = (k: 'liveBytes' | 'liveBuffers' | 'pooledBytes') => `${k} ${m0[k]} -> ${m1[k]}`;
    ok(`memory: live bytes unchanged after ${steps} steps`, m1.liveBytes === m0.liveBytes, diff('liveBytes'));
    ok(
      `memory: live buffers unchanged after ${steps} steps`,
      m1.liveBuffers === m0.liveBuffers,
      diff('liveBuffers'),
    );
    ok(
      `memory: pool did not grow after ${steps} steps`,
      m1.pooledBytes <= m0.pooledBytes,
      diff('pooledBytes'),
    );
    freeLayer(be, L);
  }

  if (options.errors ?? true) await errorPaths(be, ok);
  return checks;
}

/** Typed errors that leave nothing allocated and the backend usable. */
async function errorPaths(be: Backend, ok: (name: string, pass: boolean, error?: string) => void) {
  const thrown = (fn: () => unknown): unknown => {
    try {
      fn();
    } catch (e) {
      return e;
    }
    return null;
  };
  const describe = (e: unknown) =>
    e instanceof Error ? `${e.name}: ${e.message}` : `no error (${String(e)})`;
  const live = () => be.memory().liveBuffers;

  const x = upload(be, rand(16, 1, 2), [2, 2, 4], 'bf16');
  const h = upload(be, [0.5, 0.5, 0.5, 0.5], [2, 2], 'f32');
  be.disposeData(h.handle);
  be.disposeData(h.handle);
  let before = live();
  let e = thrown(() => be.mhc.preForward(x, h));
  ok(
    'error: a disposed tensor is a DisposedTensorError naming the argument',
    e instanceof DisposedTensorError && /hPre/.test(e.message),
    describe(e),
  );
  e = thrown(() => be.ops.unary('exp', h));
  ok('error: a disposed tensor (generic kernel)', e instanceof DisposedTensorError, describe(e));
  ok('error: nothing allocated by the failed calls (disposed)', live() === before);

  const cpu = new CpuBackend();
  const foreign: TensorInfo = { handle: cpu.alloc('f32', 4), shape: [2, 2], dtype: 'f32' };
  before = live();
  e = thrown(() => be.mhc.preForward(x, foreign));
  ok(
    "error: another backend's tensor is a BackendError naming the argument",
    e instanceof BackendError && /hPre/.test(e.message) && /another backend/.test(e.message),
    describe(e),
  );
  ok("error: nothing allocated by the failed call (another backend's tensor)", live() === before);
  cpu.dispose();

  const a = upload(be, [1, 2], [1, 2], 'f32');
  const b = upload(be, [1, 2, 3], [3, 1], 'f32');
  before = live();
  e = thrown(() => be.ops.matmul(a, b));
  ok('error: shapes are validated before launch', e instanceof LigerMhcError, describe(e));
  ok('error: nothing allocated by the failed call (shapes)', live() === before);

  before = live();
  e = thrown(() => be.alloc('f32', 2 ** 40));
  ok(
    'error: a tensor larger than the device holds is an out-of-memory BackendError',
    e instanceof BackendError && /out of memory/i.test(e.message),
    describe(e),
  );
  ok('error: nothing allocated by the failed allocation', live() === before);
  const y = be.ops.affine(a, 2, 1);
  const v = Array.from(decode('f32', await be.read(y.handle)));
  ok('error: the backend is usable after out of memory', v.join(',') === '3,5', v.join(','));
  free(be, x, a, b, y);
}

/**
 * One mHC layer (identity inner layer) on two backends with the same inputs, e.g. two kernel paths
 * of one device: the output and gradX within one rounding of `dtype` (the coefficients may differ in
 * f32 summation order), gradPhi and gradB (f32) within summation-order differences.
 */
export async function compareLayerPaths(
  a: Backend,
  b: Backend,
  label: string,
  shapes: readonly (readonly [number, number, number, SinkhornSaveMode])[],
  dtype: 'bf16' | 'f16' = 'bf16',
): Promise<Check[]> {
  const out: Check[] = [];
  const half: Tolerance = { rtol: 1e-2, atol: 2e-3 };
  const f32: Tolerance = { rtol: 1e-3, atol: 1e-4 };
  for (const [n, hc, c, save] of shapes) {
    const La = makeLayer(a, [n, hc, c], dtype, 5);
    const Lb = makeLayer(b, [n, hc, c], dtype, 5);
    const ra = layerStep(a, La, save, a.mhc.accumulatesGradX === true);
    const rb = layerStep(b, Lb, save, b.mhc.accumulatesGradX === true);
    const nm = `${label} ${n}x${hc}x${c} ${save}`;
    const pairs: [string, TensorInfo, TensorInfo, DType, Tolerance][] = [
      ['out', ra.out, rb.out, dtype, half],
      ['gradX', ra.grads[0]!, rb.grads[0]!, dtype, half],
      ['gradPhi', ra.grads[1]!, rb.grads[1]!, 'f32', f32],
      ['gradB', ra.grads[2]!, rb.grads[2]!, 'f32', f32],
    ];
    for (const [tensor, ta, tb, dt, tol] of pairs) {
      const cmp = compare(decode(dt, await a.read(ta.handle)), decode(dt, await b.read(tb.handle)), tol);
      out.push({ case: nm, tensor, ...cmp, tolerance: tol });
    }
    freeStep(a, ra);
    freeStep(b, rb);
    freeLayer(a, La);
    freeLayer(b, Lb);
  }
  return out;
}
