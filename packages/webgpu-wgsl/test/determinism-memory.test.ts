import { afterAll, describe, expect, it } from 'vitest';
import { free, gpu, skipReason, upload } from './helpers.js';
import { freeStep, layerInputs, layerStep, seq } from './mhc-layer.js';

const b = await gpu();
const d = b ? describe : describe.skip;
afterAll(() => b?.dispose());

async function bits(t: { handle: object }): Promise<Uint8Array> {
  const a = await b!.read(t.handle);
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

d(`determinism and memory${b ? '' : ` (skipped: ${skipReason()})`}`, () => {
  it('an mHC layer forward+backward is bit-identical run to run (both save modes)', async () => {
    const be = b!;
    // N = 300 tokens: several token chunks in the φ-gradient reduction.
    const L = layerInputs(be, 300, 4, 64);
    for (const save of ['history', 'recompute'] as const) {
      const runs: Uint8Array[][] = [];
      for (let r = 0; r < 2; r++) {
        const s = layerStep(be, L, save);
        const c = s.cb;
        runs.push(
          await Promise.all(
            [s.out, ...s.gradX, c.gradPhi!, c.gradB!, c.gradAlphaPre!, c.gradAlphaPost!, c.gradAlphaRes!].map(
              bits,
            ),
          ),
        );
        freeStep(be, s);
      }
      runs[0]!.forEach((a, i) => {
        expect(Buffer.compare(a, runs[1]![i]!), `output ${i} (${save})`).toBe(0);
      });
    }
    free(be, L.x, L.phi, L.b, L.aPre, L.aPost, L.aRes, L.gOut);
  });

  it('generic reductions and matmul are bit-identical run to run', async () => {
    const be = b!;
    const x = upload(be, seq(64 * 300, 9), [64, 300], 'f32');
    const y = upload(be, seq(300 * 40, 10), [300, 40], 'bf16');
    const yf = be.ops.cast(y, 'f32');
    const once = async () => {
      const s = be.ops.sum(x, [0], false);
      const s2 = be.ops.sum(x, [1], false);
      const m = be.ops.matmul(x, yf);
      const r = await Promise.all([s, s2, m].map(bits));
      free(be, s, s2, m);
      return r;
    };
    const [a, c] = [await once(), await once()];
    a.forEach((v, i) => {
      expect(Buffer.compare(v, c[i]!)).toBe(0);
    });
    free(be, x, y, yf);
  });

  it('hundreds of forward+backward steps leave live buffers and bytes unchanged', async () => {
    const be = b!;
    const L = layerInputs(be, 16, 4, 32);
    // Warm up: the pool reaches its steady state.
    freeStep(be, layerStep(be, L));
    await be.sync();
    const before = be.memory();
    for (let i = 0; i < 300; i++) {
      freeStep(be, layerStep(be, L, i % 2 === 0 ? 'history' : 'recompute'));
      if (i % 50 === 49) await be.sync();
    }
    await be.sync();
    const after = be.memory();
    expect(after.liveBuffers).toBe(before.liveBuffers);
    expect(after.liveBytes).toBe(before.liveBytes);
    // The pool is bounded: buffers are reused, not accumulated.
    expect(after.pooledBuffers).toBeLessThan(100);
    free(be, L.x, L.phi, L.b, L.aPre, L.aPost, L.aRes, L.gOut);
    expect(be.memory().liveBuffers).toBe(before.liveBuffers - 7);
  });
});
