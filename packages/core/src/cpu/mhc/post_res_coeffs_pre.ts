import type { TensorInfo } from '../../backend/contract.js';
import { composedPostResCoeffsPreForward } from '../../backend/mhc-cross-layer-compose.js';
import type {
  MhcKernels,
  PostResCoeffsPreBackwardArgs,
  PostResCoeffsPreBackwardResult,
  PostResCoeffsPreForwardArgs,
  PostResCoeffsPreForwardResult,
} from '../../backend/mhc-kernels.js';
import type { CpuBackend } from '../cpu-backend.js';
import { cpuData } from '../cpu-handle.js';
import { streamsShape } from './storage.js';

/**
 * The cross-layer boundary (post_res of sublayer l, coefficients and pre of l+1) on the CPU: the
 * reference the GPU kernels are tested against. It runs this backend's own post_res, coeffs and pre
 * kernels in sequence, and the backward runs pre's, coeffs' and post_res's backward in the order the
 * separate ops' autograd nodes would, folding the stream gradient along the way: so the fused op is
 * bitwise what the separate ops give on this backend. On a CPU the streams of a token stay in cache
 * between the three steps, so a single hand-fused loop would save little and duplicate three kernels.
 */

type Kernels = Pick<MhcKernels, 'postResForward' | 'coeffsForward' | 'preForward' | 'coeffsBackward'> & {
  preBackward: MhcKernels['preBackward'];
  postResBackward: MhcKernels['postResBackward'];
};

function view(t: TensorInfo, shape: readonly number[]): TensorInfo {
  return { handle: t.handle, shape, dtype: t.dtype };
}

export function postResCoeffsPreForward(
  cpu: CpuBackend,
  k: Kernels,
  a: PostResCoeffsPreForwardArgs,
): PostResCoeffsPreForwardResult {
  const { n, hc, c } = streamsShape(a.x, 'x');
  return composedPostResCoeffsPreForward(cpu, k, a, n, hc, c);
}

export function postResCoeffsPreBackward(
  cpu: CpuBackend,
  k: Kernels,
  a: PostResCoeffsPreBackwardArgs,
): PostResCoeffsPreBackwardResult {
  const { n, hc, c } = streamsShape(a.xOut, 'xOut');
  const owned: TensorInfo[] = [];
  const own = <T extends TensorInfo | null>(t: T): T => {
    if (t) owned.push(t);
    return t;
  };
  const drop = (t: TensorInfo | null) => {
    if (!t) return;
    const i = owned.indexOf(t);
    if (i >= 0) owned.splice(i, 1);
    cpu.disposeData(t.handle);
  };
  try {
    // The stream gradient so far: from xOut's consumers outside the boundary (the next sublayer).
    let gStreams: TensorInfo | null = a.gradXOut;
    let gHPre: TensorInfo | null = a.gradHPre;
    // 1. pre (runs first in the separate graph: its output is the newest).
    if (a.gradXIn) {
      const p = k.preBackward(a.gradXIn, view(a.xOut, [n, hc, c]), a.hPre, gStreams);
      gStreams = own(p.gradX);
      own(p.gradHPre);
      if (gHPre) {
        addF32(p.gradHPre, gHPre);
      }
      gHPre = p.gradHPre;
    }
    // 2. coeffs of the new streams.
    const upstream = a.needs.x || a.needs.f || a.needs.hPostIn || a.needs.hResIn;
    let gradPhi: TensorInfo | null = null;
    let gradB: TensorInfo | null = null;
    let gradAlphaPre: TensorInfo | null = null;
    let gradAlphaPost: TensorInfo | null = null;
    let gradAlphaRes: TensorInfo | null = null;
    if (gHPre || a.gradHPost || a.gradHRes) {
      const r = k.coeffsBackward({
        gradHPre: gHPre,
        gradHPost: a.gradHPost,
        gradHRes: a.gradHRes,
        x: view(a.xOut, [n, hc * c]),
        phi: a.phi,
        ...(a.phiLayout ? { phiLayout: a.phiLayout } : {}),
        b: a.b,
        alphaPre: a.alphaPre,
        alphaPost: a.alphaPost,
        alphaRes: a.alphaRes,
        hPre: a.hPre,
        hPost: a.hPost,
        hRes: a.hRes,
        saved: a.saved,
        config: a.config,
        save: a.save,
        needs: { x: upstream, phi: a.needs.phi, b: a.needs.b, alphas: a.needs.alphas },
        ...(upstream && gStreams ? { accumulateGradX: view(gStreams, [n, hc * c]) } : {}),
      });
      for (const t of [r.gradPhi, r.gradB, r.gradAlphaPre, r.gradAlphaPost, r.gradAlphaRes]) own(t);
      ({ gradPhi, gradB, gradAlphaPre, gradAlphaPost, gradAlphaRes } = r);
      if (r.gradX) {
        if (gStreams !== a.gradXOut) drop(gStreams);
        gStreams = own(view(r.gradX, [n, hc, c]));
      }
    }
    // 3. post_res of sublayer l, with the whole stream gradient.
    let gradX: TensorInfo | null = null;
    let gradF: TensorInfo | null = null;
    let gradHPostIn: TensorInfo | null = null;
    let gradHResIn: TensorInfo | null = null;
    if (upstream && gStreams) {
      const r = k.postResBackward(gStreams, a.x, a.f, a.hPostIn, a.hResIn, a.orientation, a.accumulateGradX);
      // Gradients not asked for are disposed with the other temporaries below.
      for (const t of [r.gradX, r.gradF, r.gradHPost, r.gradHRes]) own(t);
      gradX = a.needs.x ? r.gradX : null;
      gradF = a.needs.f ? r.gradF : null;
      gradHPostIn = a.needs.hPostIn ? r.gradHPost : null;
      gradHResIn = a.needs.hResIn ? r.gradHRes : null;
    }
    const result = {
      gradX,
      gradF,
      gradHPostIn,
      gradHResIn,
      gradPhi,
      gradB,
      gradAlphaPre,
      gradAlphaPost,
      gradAlphaRes,
    };
    const kept = new Set(
      Object.values(result)
        .filter((t): t is TensorInfo => t !== null)
        .map((t) => t.handle),
    );
    for (const t of owned) if (!kept.has(t.handle)) cpu.disposeData(t.handle);
    return result;
  } catch (err) {
    for (const t of owned) cpu.disposeData(t.handle);
    throw err;
  }
}

/** dst += src, both f32 (IEEE addition commutes, so this is bitwise core's sum of the two). */
function addF32(dst: TensorInfo, src: TensorInfo): void {
  const d = cpuData(dst) as Float32Array;
  const s = cpuData(src) as Float32Array;
  for (let i = 0; i < d.length; i++) d[i] = d[i]! + s[i]!;
}
