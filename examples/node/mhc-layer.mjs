// An mHC layer forward and backward and a few training steps, on the backend named by --backend
// or LIGER_MHC_BACKEND (else the best that initialises), checked against the CPU reference:
//   node mhc-layer.mjs --backend webgpu
// Prints one JSON line of checked values; exits 1 if a check fails.
import { parseArgs } from 'node:util';
import { AdamW, LigerMHC, Linear, mean, mul, Random, randn, ready, setBackend, sub } from '@liger-mhc/core';

const { values } = parseArgs({ options: { backend: { type: 'string' } }, strict: true });
const backend = values.backend ? await setBackend(values.backend) : await ready();

/** A seeded mHC layer (4 streams of 16 channels around a Linear) and its input, on one backend. */
function build(be) {
  const rng = new Random(7);
  const layer = new LigerMHC(new Linear(16, 16, { backend: be, rng }), {
    hc: 4,
    c: 16,
    allowFp32: true,
    backend: be,
    rng,
  });
  const x = randn([2, 8, 4, 16], { backend: be, rng });
  const target = randn([2, 8, 4, 16], { backend: be, rng });
  return { layer, x, target };
}

/** Forward, mean squared error to the target, backward; returns the values to compare. */
async function forwardBackward(be) {
  const { layer, x, target } = build(be);
  const y = layer.forward(x);
  const d = sub(y, target);
  const loss = mean(mul(d, d));
  loss.backward();
  return {
    loss: (await loss.data())[0],
    y: Array.from(await y.data()),
    gradPhi: Array.from(await layer.phi.grad.data()),
  };
}

const maxDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const maxAbs = (a) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

const here = await forwardBackward(backend);
const cpu = backend.name === 'cpu' ? here : await forwardBackward(await setBackend('cpu'));
if (backend.name !== 'cpu') await setBackend(backend.name);

// A few AdamW steps on the same problem: the loss must fall.
const { layer, x, target } = build(backend);
const opt = new AdamW(layer.parameters(), { lr: 1e-2 });
const losses = [];
for (let step = 0; step < 5; step++) {
  const d = sub(layer.forward(x), target);
  const loss = mean(mul(d, d));
  loss.backward();
  opt.step();
  opt.zeroGrad();
  losses.push((await loss.data())[0]);
}

const checks = {
  outputMatchesCpu: maxDiff(here.y, cpu.y) <= 1e-4 * Math.max(1, maxAbs(cpu.y)),
  gradPhiMatchesCpu: maxDiff(here.gradPhi, cpu.gradPhi) <= 1e-4 * Math.max(1e-3, maxAbs(cpu.gradPhi)),
  gradPhiNonZero: maxAbs(here.gradPhi) > 0,
  lossFalls: losses.at(-1) < losses[0],
};
const ok = Object.values(checks).every(Boolean);
console.log(
  JSON.stringify({
    backend: backend.name,
    device: backend.capabilities.device,
    loss: here.loss,
    cpuLoss: cpu.loss,
    maxOutputDiff: maxDiff(here.y, cpu.y),
    maxGradPhiDiff: maxDiff(here.gradPhi, cpu.gradPhi),
    losses,
    checks,
    ok,
  }),
);
process.exitCode = ok ? 0 : 1;
