import { describe, expect, it } from 'vitest';
import {
  AdamW,
  CpuBackend,
  LigerMHC,
  Linear,
  Module,
  Random,
  randn,
  sum,
  type Tensor,
  tidy,
} from '../src/index.js';

/** A module returning its output inside a class instance (as a result object with a cache would). */
class Holder {
  constructor(readonly inner: { y: Tensor }) {}
}
class Wrapped extends Module {
  constructor(readonly m: LigerMHC) {
    super();
    this.registerModule('m', m);
  }
  forward(x: Tensor): Holder {
    return new Holder({ y: this.m.forward(x) });
  }
}

describe('module calls outside any scope release their intermediates', () => {
  const be = new CpuBackend();
  const rng = new Random(3);
  const make = () =>
    new LigerMHC(new Linear(8, 8, { rng, backend: be }), { hc: 2, c: 8, allowFp32: true, rng, backend: be });

  it('a plain loop disposing only its own tensors holds live buffers flat; gradients are unchanged', async () => {
    const m = make();
    const opt = new AdamW(m.parameters(), { lr: 1e-3 });
    const x = randn([4, 2, 8], { rng, backend: be });
    const stepOnce = () => {
      const y = m.forward(x);
      const loss = sum(y);
      loss.backward();
      const g = m.phi.grad!.dataSync().slice();
      opt.step();
      opt.zeroGrad();
      y.dispose();
      loss.dispose();
      return g;
    };
    stepOnce();
    const base = be.memory().liveBuffers;
    for (let i = 0; i < 50; i++) stepOnce();
    expect(be.memory().liveBuffers).toBe(base);
    // The same step in tidy gives the same gradient bits.
    const a = make();
    const b = make();
    await b.loadStateDict(a.stateDict());
    const plain = (() => {
      const y = a.forward(x);
      sum(y).backward();
      return a.phi.grad!.dataSync().slice();
    })();
    const scoped = tidy(() => {
      sum(b.forward(x)).backward();
      return b.phi.grad!.dataSync().slice();
    });
    expect(plain).toEqual(scoped);
  });

  it('what the call returns stays usable after backward, also inside a class instance', async () => {
    const w = new Wrapped(make());
    const x = randn([3, 2, 8], { rng, backend: be, requiresGrad: true });
    const out = w.forward(x);
    sum(out.inner.y).backward();
    expect(out.inner.y.isDisposed).toBe(false);
    expect(out.inner.y.dataSync()).toHaveLength(3 * 2 * 8);
    expect(x.grad!.shape).toEqual([3, 2, 8]);
  });
});
