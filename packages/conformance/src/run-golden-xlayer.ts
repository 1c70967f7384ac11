import type { Backend, SinkhornSaveMode, Tensor } from '@liger-mhc/core';
import {
  add,
  cast,
  type DType,
  decode,
  encode,
  fromStorage,
  keep,
  mhcPostResCoeffsPre,
  mul,
  sum,
  tidy,
} from '@liger-mhc/core';
import type { FixtureTensor } from './fixtures.js';
import type { PostResCoeffsPreCase, XLayerInput, XLayerOutput } from './fixtures-xlayer.js';
import { type Check, disposeAll, dt, finish, isZero, type Pending, up } from './run-golden.js';

/**
 * Runner of the fixtures/golden-xlayer cases: mhcPostResCoeffsPre forward and backward (the fused
 * kernels where the backend has them, the separate ops otherwise), in both Sinkhorn save modes.
 */

/** The cotangent of one output split in two parts exact in the output's dtype (see backwardExact). */
function splitCotangent(cot: FixtureTensor, dtype: DType): [number[], number[]] {
  const hi = Array.from(decode(dtype, encode(dtype, cot.data)));
  return [hi, cot.data.map((v, i) => v - hi[i]!)];
}

async function runBoundary(be: Backend, c: PostResCoeffsPreCase, save: SinkhornSaveMode, label: string) {
  const xd = dt(c.dtypes.x);
  const fd = dt(c.dtypes.f, xd);
  const leaves: Record<XLayerInput, Tensor> = {
    x: up(be, c.inputs.x, xd, true),
    f: up(be, c.inputs.f, fd, true),
    hPost: up(be, c.inputs.hPost, 'f32', true),
    hRes: up(be, c.inputs.hRes, 'f32', true),
    phi: up(be, c.inputs.phi, dt(c.dtypes.phi), true),
    b: up(be, c.inputs.b, 'f32', true),
    alphaPre: up(be, c.inputs.alphaPre, 'f32', true),
    alphaPost: up(be, c.inputs.alphaPost, 'f32', true),
    alphaRes: up(be, c.inputs.alphaRes, 'f32', true),
  };
  const { x, f, hPost, hRes, phi, b, alphaPre, alphaPost, alphaRes } = leaves;
  const pending: Pending[] = [];
  tidy(() => {
    const r = mhcPostResCoeffsPre(x, f, hPost, hRes, phi, b, alphaPre, alphaPost, alphaRes, {
      tmax: c.config.tmax,
      rmsEps: c.config.rmsEps,
      preEps: c.config.preEps,
      sinkhornEps: c.config.sinkhornEps,
      postMult: c.config.postMult,
      orientation: c.config.orientation,
      phiLayout: c.config.phiLayout,
      allowFp32: true,
      sinkhornSave: save,
    });
    const outs: Record<XLayerOutput, Tensor> = {
      xOut: r.xOut,
      hPre: r.coeffs.hPre,
      hPost: r.coeffs.hPost,
      hRes: r.coeffs.hRes,
      xIn: r.xIn,
    };
    // Two backward passes, the cotangents' exactly representable high and low parts (linear VJP).
    const parts = Object.fromEntries(
      (Object.keys(outs) as XLayerOutput[]).map((k) => [k, splitCotangent(c.cotangents[k], outs[k].dtype)]),
    ) as Record<XLayerOutput, [number[], number[]]>;
    for (const pass of [0, 1] as const) {
      let loss: Tensor | null = null;
      for (const k of Object.keys(outs) as XLayerOutput[]) {
        if (isZero(c.cotangents[k])) continue;
        const t = outs[k];
        const cot = fromStorage(encode(t.dtype, parts[k][pass]), [...t.shape], t.dtype, { backend: be });
        const term = cast(sum(mul(t, cot)), 'f32');
        loss = loss ? add(loss, term) : term;
      }
      loss?.backward(undefined, { retainGraph: pass === 0 });
    }
    for (const k of Object.keys(outs) as XLayerOutput[])
      pending.push({ tensor: k, actual: keep(outs[k]), expected: c.outputs[k], dtype: outs[k].dtype });
  });
  for (const [k, t] of Object.entries(leaves) as [XLayerInput, Tensor][])
    pending.push({ tensor: `grad.${k}`, actual: t.grad, expected: c.grads[k], dtype: t.dtype });
  // Coefficients and parameter gradients reduce over x-dtype streams: judge them at x's dtype.
  const checks = await finish(label, pending, xd === 'f32' ? undefined : xd);
  disposeAll(pending, Object.values(leaves));
  return checks;
}

/** Every check of one golden-xlayer case (both Sinkhorn save modes). */
export async function runXLayerCase(be: Backend, c: PostResCoeffsPreCase): Promise<Check[][]> {
  return [
    await runBoundary(be, c, 'history', c.name),
    await runBoundary(be, c, 'recompute', `${c.name} (recompute)`),
  ];
}
