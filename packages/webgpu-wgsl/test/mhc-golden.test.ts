import type { SinkhornSaveMode, TensorInfo } from '@liger-mhc/core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  download,
  type Fixture,
  fixtureNames,
  free,
  gpu,
  loadFixture,
  ratio,
  skipReason,
  TOL,
  up,
} from './helpers.js';

const b = await gpu();
const d = b ? describe : describe.skip;
afterAll(() => b?.dispose());

function coeffsArgs(f: Fixture) {
  const be = b!;
  const x = up(be, f.inputs.x, f.dtypes.x);
  const [N0, hc, c] = [
    f.inputs.x.shape.slice(0, -2).reduce((a: number, v: number) => a * v, 1),
    ...f.inputs.x.shape.slice(-2),
  ];
  const xv: TensorInfo = { ...x, shape: [N0, hc * c] };
  return {
    x: xv,
    phi: up(be, f.inputs.phi, f.dtypes.phi),
    b: up(be, f.inputs.b),
    alphaPre: up(be, f.inputs.alphaPre),
    alphaPost: up(be, f.inputs.alphaPost),
    alphaRes: up(be, f.inputs.alphaRes),
    config: { ...f.config, hc },
    N: N0,
    hc,
  };
}

function isZero(t: { data: number[] }): boolean {
  return t.data.every((v) => v === 0);
}

d(`mHC kernels vs golden fixtures${b ? '' : ` (skipped: ${skipReason()})`}`, () => {
  for (const name of fixtureNames('coeffs')) {
    for (const save of ['history', 'recompute'] as SinkhornSaveMode[]) {
      it(`coeffs ${name} (${save})`, async () => {
        const be = b!;
        const f = loadFixture(name);
        const a = coeffsArgs(f);
        const fwd = be.mhc.coeffsForward({ ...a, save });
        for (const k of ['hPre', 'hPost', 'hRes'] as const)
          expect(ratio(await download(be, fwd[k]), f.outputs[k].data, TOL.f32), `${k}`).toBeLessThanOrEqual(
            1,
          );
        const cot = (k: 'hPre' | 'hPost' | 'hRes') =>
          isZero(f.cotangents[k]) ? null : up(be, f.cotangents[k]);
        const gPre = cot('hPre');
        const gPost = cot('hPost');
        const gRes = cot('hRes');
        const bwd = be.mhc.coeffsBackward({
          ...a,
          gradHPre: gPre,
          gradHPost: gPost,
          gradHRes: gRes,
          hPre: fwd.hPre,
          hPost: fwd.hPost,
          hRes: fwd.hRes,
          saved: fwd.saved,
          save,
          needs: { x: true, phi: true, b: true, alphas: true },
        });
        const xd = f.dtypes.x;
        const checks: [string, TensorInfo | null, number[], keyof typeof TOL][] = [
          ['x', bwd.gradX, f.grads.x.data, xd],
          ['phi', bwd.gradPhi, f.grads.phi.data, 'f32'],
          ['b', bwd.gradB, f.grads.b.data, 'f32'],
          ['alphaPre', bwd.gradAlphaPre, f.grads.alphaPre.data, 'f32'],
          ['alphaPost', bwd.gradAlphaPost, f.grads.alphaPost.data, 'f32'],
          ['alphaRes', bwd.gradAlphaRes, f.grads.alphaRes.data, 'f32'],
        ];
        for (const [k, t, e, tol] of checks) {
          // A cotangent stored in f32 is exact; the golden VJP is float64: f32 accumulation only.
          expect(
            ratio(await download(be, t!), e, TOL[tol === 'f32' ? 'f32' : tol]),
            `grad ${k}`,
          ).toBeLessThanOrEqual(1);
        }
        free(
          be,
          a.x,
          a.phi,
          a.b,
          a.alphaPre,
          a.alphaPost,
          a.alphaRes,
          fwd.hPre,
          fwd.hPost,
          fwd.hRes,
          gPre,
          gPost,
          gRes,
        );
        free(
          be,
          ...fwd.saved,
          bwd.gradX,
          bwd.gradPhi,
          bwd.gradB,
          bwd.gradAlphaPre,
          bwd.gradAlphaPost,
          bwd.gradAlphaRes,
        );
      });
    }
  }

  for (const name of fixtureNames('apply')) {
    it(`pre + post_res ${name}`, async () => {
      const be = b!;
      const f = loadFixture(name);
      const [lead, hc, c] = [f.inputs.x.shape.slice(0, -2), ...f.inputs.x.shape.slice(-2)];
      const N = lead.reduce((a: number, v: number) => a * v, 1);
      const xd = f.dtypes.x;
      const x = { ...up(be, f.inputs.x, xd), shape: [N, hc, c] };
      const fT = { ...up(be, f.inputs.f, f.dtypes.f), shape: [N, c] };
      const hPre = { ...up(be, f.inputs.hPre), shape: [N, hc] };
      const hPost = { ...up(be, f.inputs.hPost), shape: [N, hc] };
      const hRes = { ...up(be, f.inputs.hRes), shape: [N, hc, hc] };
      const o = f.config.orientation;
      const tol = TOL[xd as 'bf16'];
      const xIn = be.mhc.preForward(x, hPre);
      expect(ratio(await download(be, xIn), f.outputs.xIn.data, tol), 'xIn').toBeLessThanOrEqual(1);
      const xOut = be.mhc.postResForward(x, fT, hPost, hRes, o);
      expect(ratio(await download(be, xOut), f.outputs.xOut.data, tol), 'xOut').toBeLessThanOrEqual(1);
      const gIn = { ...up(be, f.cotangents.xIn, xd), shape: [N, c] };
      const gOut = { ...up(be, f.cotangents.xOut, xd), shape: [N, hc, c] };
      const pb = be.mhc.preBackward(gIn, x, hPre);
      // The cotangents were rounded to the storage dtype here, so compare with that dtype's budget.
      expect(ratio(await download(be, pb.gradX), f.grads.pre.x.data, tol), 'pre gradX').toBeLessThanOrEqual(
        1,
      );
      expect(
        ratio(await download(be, pb.gradHPre), f.grads.pre.hPre.data, tol),
        'pre gradHPre',
      ).toBeLessThanOrEqual(1);
      const rb = be.mhc.postResBackward(gOut, x, fT, hPost, hRes, o);
      expect(
        ratio(await download(be, rb.gradX), f.grads.postRes.x.data, tol),
        'postRes gradX',
      ).toBeLessThanOrEqual(1);
      expect(
        ratio(await download(be, rb.gradF), f.grads.postRes.f.data, tol),
        'postRes gradF',
      ).toBeLessThanOrEqual(1);
      expect(
        ratio(await download(be, rb.gradHPost), f.grads.postRes.hPost.data, tol),
        'gradHPost',
      ).toBeLessThanOrEqual(1);
      expect(
        ratio(await download(be, rb.gradHRes), f.grads.postRes.hRes.data, tol),
        'gradHRes',
      ).toBeLessThanOrEqual(1);
      free(be, x, fT, hPre, hPost, hRes, xIn, xOut, gIn, gOut, pb.gradX, pb.gradHPre);
      free(be, rb.gradX, rb.gradF, rb.gradHPost, rb.gradHRes);
    });
  }
});
