// An mHC layer forward and backward in the page: on WebGPU where the browser has it, else on the
// CPU backend; the same layer on the CPU backend is the reference its numbers are checked against.
// The result goes to the page and to document.body.dataset (read by the headless test).
import { LigerMHC, Linear, mean, mul, Random, randn, setBackend, sub } from '@liger-mhc/core';
import '@liger-mhc/webgpu-wgsl';

async function forwardBackward(backendName) {
  const be = await setBackend(backendName);
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
  const y = layer.forward(x);
  const d = sub(y, target);
  const loss = mean(mul(d, d));
  loss.backward();
  return {
    device: be.capabilities.device,
    loss: (await loss.data())[0],
    y: Array.from(await y.data()),
    gradPhi: Array.from(await layer.phi.grad.data()),
  };
}

const maxDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const maxAbs = (a) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

async function main() {
  let backend = 'webgpu';
  let fallback = null;
  let result;
  try {
    result = await forwardBackward('webgpu');
  } catch (err) {
    fallback = err.message;
    backend = 'cpu';
  }
  const cpu = await forwardBackward('cpu');
  result ??= cpu;
  const dy = maxDiff(result.y, cpu.y);
  const dg = maxDiff(result.gradPhi, cpu.gradPhi);
  const ok = dy <= 1e-4 * Math.max(1, maxAbs(cpu.y)) && dg <= 1e-4 * Math.max(1e-3, maxAbs(cpu.gradPhi));
  const report = {
    backend,
    device: result.device,
    fallback,
    loss: result.loss,
    cpuLoss: cpu.loss,
    dy,
    dg,
    ok,
  };
  document.getElementById('out').textContent = JSON.stringify(report, null, 2);
  Object.assign(document.body.dataset, { backend, ok: String(ok), report: JSON.stringify(report) });
}

main().catch((err) => {
  document.getElementById('out').textContent = String(err?.stack ?? err);
  document.body.dataset.error = String(err?.message ?? err);
});
