import { f32ToBf16, type Orientation, type TensorInfo } from '@liger-mhc/core';
import { afterAll, describe, expect, it } from 'vitest';
import { kernelOverrides, setKernelOverrides } from '../src/internals.js';
import type { PostResOptions } from '../src/kernels/mhc/post_res.wgsl.js';
import { free, gpu, skipReason } from './helpers.js';

const b = await gpu();
afterAll(() => b?.dispose());

(b ? describe : describe.skip)(
  `post_res 16-byte forward options on the device${b ? '' : ` (skipped: ${skipReason()})`}`,
  () => {
    // Two or four pieces a thread and the token order change how threads walk the rows, not the
    // arithmetic: the output must be the one-piece kernel's, bit for bit, and match float64.
    it.each([
      [{}, 'liger', 48],
      [{ pieces: 2 }, 'liger', 48],
      [{ pieces: 2 }, 'deepseek', 64],
      [{ pieces: 4 }, 'deepseek', 64],
      [{ order: 'desc' }, 'liger', 48],
      [{ order: 'desc', pieces: 1 }, 'deepseek', 40],
      // c = 40 is not a multiple of 16: two pieces fall back to one.
      [{ pieces: 2 }, 'deepseek', 40],
    ] as [PostResOptions, Orientation, number][])('%o %s c=%i', async (opts, orientation, c) => {
      const be = b!;
      const N = 37;
      const hc = 4;
      let s = 11 + c;
      const rnd = () => {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        return s / 2 ** 32 - 0.5;
      };
      const xv = Float32Array.from({ length: N * hc * c }, () => rnd() * 4);
      const fv = Float32Array.from({ length: N * c }, () => rnd() * 4);
      const hp = Float32Array.from({ length: N * hc }, () => rnd() * 2);
      const hr = Float32Array.from({ length: N * hc * hc }, () => rnd());
      const put = (v: Float32Array, shape: number[], half: boolean): TensorInfo => {
        const t = be.zeros(shape, half ? 'bf16' : 'f32');
        be.write(t.handle, half ? Uint16Array.from(v, f32ToBf16) : v);
        return t;
      };
      const x = put(xv, [N, hc, c], true);
      const f = put(fv, [N, c], true);
      const p = put(hp, [N, hc], false);
      const r = put(hr, [N, hc, hc], false);
      const keep = kernelOverrides(be.mhc).postRes;
      try {
        setKernelOverrides(be.mhc, { postRes: { pieces: 1 } });
        const base = be.mhc.postResForward(x, f, p, r, orientation);
        setKernelOverrides(be.mhc, { postRes: opts });
        const got = be.mhc.postResForward(x, f, p, r, orientation);
        const bw = new Uint16Array((await be.read(base.handle)).buffer);
        const gw = new Uint16Array((await be.read(got.handle)).buffer);
        expect(Buffer.from(gw.buffer).equals(Buffer.from(bw.buffer))).toBe(true);
        // Against float64 from the bf16-rounded inputs (one bf16 rounding of the output).
        const dec = (u: number) => new Float32Array(new Uint32Array([u << 16]).buffer)[0]!;
        const xr = Uint16Array.from(xv, f32ToBf16);
        const fr = Uint16Array.from(fv, f32ToBf16);
        let worst = 0;
        for (let n = 0; n < N; n++)
          for (let o = 0; o < hc; o++)
            for (let ch = 0; ch < c; ch++) {
              let want = hp[n * hc + o]! * dec(fr[n * c + ch]!);
              for (let i = 0; i < hc; i++) {
                const k = orientation === 'liger' ? o * hc + i : i * hc + o;
                want += hr[n * hc * hc + k]! * dec(xr[(n * hc + i) * c + ch]!);
              }
              const v = dec(gw[(n * hc + o) * c + ch]!);
              worst = Math.max(worst, Math.abs(v - want) / (Math.abs(want) + 1e-3));
            }
        expect(worst).toBeLessThan(2 ** -8);
        free(be, base, got);
      } finally {
        setKernelOverrides(be.mhc, { postRes: keep });
        free(be, x, f, p, r);
      }
    });
  },
);
