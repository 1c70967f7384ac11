import {
  ArgumentError,
  type Backend,
  BackendError,
  getBackend,
  initBackend,
  LigerMHC,
  MHC_OP_NAMES,
  type Module,
  type Tensor,
} from '@liger-mhc/core';
import { ReferenceMHC, TinyDeepseekV4 } from '@liger-mhc/models';
import { patchDeepseekV4, type V4FusedOps, v4KernelsOf } from './deepseek-v4.js';
import { type FusedOps, type MhcOpName, PatchedLigerMHC } from './patched-mhc.js';
import { ownParameters, replaceEverywhere, setParameter } from './swap.js';

export interface ApplyLigerMhcOptions {
  /**
   * Backend whose fused kernels to use (a registered name such as 'cpu', 'webgpu', 'cuda', or an
   * instance). Default: the backend the model's parameters live on. Ops run where their tensors
   * are, and one op cannot mix backends, so choosing another backend moves every parameter of the
   * model there (copies; the originals are kept for `unpatch`).
   */
  backend?: string | Backend;
  /**
   * Which computations to fuse; each defaults to true (as Liger's apply_liger_kernel_to_* flags
   * do), so `{ pre: false, postRes: false }` fuses the coefficients only.
   */
  ops?: Partial<FusedOps>;
  /**
   * DeepSeek-V4 models only: fuse hc_head, the stream expansion and each sublayer's norm into pre
   * too. Each defaults to what the backend has kernels for; asking for one it lacks is an error.
   */
  v4?: Partial<V4FusedOps>;
}

export interface PatchedLayer {
  /** Dotted module path in the model ('' for the model itself). */
  path: string;
  from: string;
  to: string;
  /** The computations now running as fused kernels. */
  fused: MhcOpName[];
  hc: number;
  c: number;
}

export interface PatchReport {
  backend: string;
  patched: PatchedLayer[];
  /** Parameters copied to `backend` (empty when they already lived there). */
  movedParameters: string[];
}

export interface PatchHandle {
  readonly report: PatchReport;
  /** Whether the patch is still in place. */
  readonly active: boolean;
  /**
   * Put back the original modules and parameter tensors; the model then computes exactly what it
   * did before (bit for bit). Parameters are shared with the patched layers, so training done while
   * patched is kept, except where parameters were moved to another backend: those copies are
   * disposed and the originals return unchanged. Idempotent.
   */
  unpatch(): void;
}

const OP_NAMES = MHC_OP_NAMES;

/**
 * Swap every ReferenceMHC in `model` (mHC from generic ops) for the fused mHC kernels of a backend,
 * sharing parameters. Nothing in the model changes unless this is called; everything it changes is
 * listed in the report and undone by `unpatch()`. Validation happens before any change, so a
 * rejected call leaves the model as it was.
 */
export async function applyLigerMhc(model: Module, options: ApplyLigerMhcOptions = {}): Promise<PatchHandle> {
  const fused = resolveOps(options.ops);
  const { targets, v4 } = findTargets(model);
  const backend = await resolveTarget(model, options.backend);
  const v4Ops = resolveV4Ops(options.v4, backend);

  // Move parameters first, so that the patched layers share the moved tensors.
  const moved: { module: Module; name: string; original: Tensor; copy: Tensor }[] = [];
  const movedNames: string[] = [];
  try {
    for (const [path, m] of model.namedModules())
      for (const [name, p] of ownParameters(m)) {
        if (p.backend === backend) continue;
        const copy = await p.to(backend);
        copy.requiresGrad = p.requiresGrad;
        moved.push({ module: m, name, original: p, copy });
        movedNames.push(path ? `${path}.${name}` : name);
      }
  } catch (err) {
    for (const mv of moved) mv.copy.dispose();
    throw err;
  }
  for (const mv of moved) setParameter(mv.module, mv.name, mv.copy);

  const undos: (() => void)[] = [];
  const patched: PatchedLayer[] = [];
  for (const [path, ref] of targets) {
    const replacement = new PatchedLigerMHC(ref, fused);
    undos.push(replaceEverywhere(model, ref, replacement));
    patched.push({
      path,
      from: 'ReferenceMHC',
      to: 'PatchedLigerMHC',
      fused: OP_NAMES.filter((k) => fused[k]),
      hc: ref.hc,
      c: ref.c,
    });
  }

  for (const [path, m] of v4) {
    undos.push(patchDeepseekV4(m, fused, v4Ops));
    const at = (p: string) => (path ? `${path}.${p}` : p);
    m.blocks.forEach((block, i) => {
      patched.push({
        path: at(`layers.${i}`),
        from: 'V4Block.hcPre/hcPost (generic ops)',
        to: v4Ops.preNorm ? 'fused mHC kernels, norm fused into pre' : 'fused mHC kernels',
        fused: OP_NAMES.filter((k) => fused[k]),
        hc: block.hcConfig.hc,
        c: m.config.dim,
      });
    });
    const extra = (['head', 'expand'] as const).filter((k) => v4Ops[k]);
    if (extra.length)
      patched.push({
        path: path || '',
        from: 'TinyDeepseekV4.hcHead/hcExpand (generic ops)',
        to: `fused ${extra.join(' and ')}`,
        fused: [],
        hc: m.config.hc,
        c: m.config.dim,
      });
  }

  let active = true;
  return {
    report: { backend: backend.name, patched, movedParameters: movedNames },
    get active() {
      return active;
    },
    unpatch() {
      if (!active) return;
      active = false;
      for (const u of undos.reverse()) u();
      for (const mv of moved) {
        setParameter(mv.module, mv.name, mv.original);
        mv.copy.grad?.dispose();
        mv.copy.grad = null;
        mv.copy.dispose();
      }
    },
  };
}

function resolveV4Ops(wanted: Partial<V4FusedOps> | undefined, backend: Backend): V4FusedOps {
  const have = v4KernelsOf(backend);
  const out = { ...have };
  for (const k of ['head', 'expand', 'preNorm'] as const) {
    const w = wanted?.[k];
    if (w === undefined) continue;
    if (w && !have[k])
      throw new ArgumentError(`v4.${k}`, `a backend with the ${k} kernels; '${backend.name}' has none`);
    out[k] = w;
  }
  return out;
}

function resolveOps(ops: Partial<FusedOps> | undefined): FusedOps {
  if (ops !== undefined && (typeof ops !== 'object' || ops === null))
    throw new ArgumentError('ops', `expected { coeffs?, pre?, postRes? } booleans, got ${String(ops)}`);
  const unknown = Object.keys(ops ?? {}).filter((k) => !OP_NAMES.includes(k as MhcOpName));
  if (unknown.length)
    throw new ArgumentError('ops', `unknown op(s) ${unknown.join(', ')}; expected coeffs, pre, postRes`);
  const r = { coeffs: ops?.coeffs ?? true, pre: ops?.pre ?? true, postRes: ops?.postRes ?? true };
  if (!r.coeffs && !r.pre && !r.postRes)
    throw new ArgumentError('ops', 'every op is set to false: nothing would be patched');
  return r;
}

/**
 * The ReferenceMHC modules and DeepSeek-V4 models of the tree, or a typed error saying why there is
 * nothing to patch.
 */
function findTargets(model: Module): { targets: [string, ReferenceMHC][]; v4: [string, TinyDeepseekV4][] } {
  const found: [string, ReferenceMHC][] = [];
  const v4: [string, TinyDeepseekV4][] = [];
  let fusedAlready = 0;
  for (const [path, m] of model.namedModules()) {
    if (m instanceof ReferenceMHC) {
      // A subclass may override the math (its forward, its coefficients); swapping it for the
      // fused kernels would silently drop that behaviour.
      if (Object.getPrototypeOf(m) !== ReferenceMHC.prototype)
        throw new ArgumentError(
          'model',
          `unsupported module at '${path || '(root)'}': ${m.constructor.name} extends ReferenceMHC and may change its computation, so it cannot be swapped for the fused kernels`,
        );
      found.push([path, m]);
    } else if (m instanceof LigerMHC) fusedAlready++;
    else if (m instanceof TinyDeepseekV4) {
      if (m.blocks.some((b) => Object.hasOwn(b, 'hcPre')))
        throw new ArgumentError('model', `the DeepSeek-V4 model at '${path || '(root)'}' is already patched`);
      v4.push([path, m]);
    }
  }
  if (found.length === 0 && v4.length === 0)
    throw new ArgumentError(
      'model',
      fusedAlready > 0
        ? `no reference mHC layers to patch: the ${fusedAlready} mHC layer(s) of this ${model.constructor.name} are already LigerMHC (fused)`
        : `no mHC layers in this ${model.constructor.name}: applyLigerMhc patches ReferenceMHC modules and TinyDeepseekV4 models (from @liger-mhc/models); a plain residual model can be given mHC with hyperConnect()`,
    );
  return { targets: found, v4 };
}

async function resolveTarget(model: Module, wanted: string | Backend | undefined): Promise<Backend> {
  if (wanted !== undefined && typeof wanted !== 'string') return wanted;
  if (typeof wanted === 'string') {
    try {
      return await initBackend(wanted);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new BackendError(`applyLigerMhc: backend '${wanted}' is not available (${msg})`);
    }
  }
  const first = model.parameters()[0];
  return first ? first.backend : getBackend();
}
