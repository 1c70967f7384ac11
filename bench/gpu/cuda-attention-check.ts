/**
 * Fused attention on the card against the CPU backend (same inputs): output and the gradients of
 * q, k and v, for shapes that cross the kernels' tile and lane-split boundaries. One JSON line per
 * case and a summary; exit 1 when any case exceeds its bound. Runs in the CUDA GPU bundle, where
 * importing @liger-mhc/cuda-native registers the backend.
 */
import '@liger-mhc/cuda-native';
import {
  CpuBackend,
  type DType,
  encode,
  fromStorage,
  mul,
  Random,
  scaledDotProductAttention,
  setBackend,
  sum,
  type Tensor,
} from '@liger-mhc/core';

const cases: [number[], DType, boolean][] = [
  [[2, 3, 130, 64], 'f32', true],
  [[1, 2, 97, 128], 'f32', false],
  [[1, 2, 200, 128], 'bf16', true],
  [[1, 1, 70, 256], 'f16', true],
  [[2, 4, 256, 64], 'bf16', true],
];
const cuda = await setBackend('cuda');
const cpu = new CpuBackend();
let bad = 0;
for (const [shape, dtype, causal] of cases) {
  const n = shape.reduce((a, b) => a * b, 1);
  const rng = new Random(shape.join('').length + n);
  const data = [0, 1, 2, 3].map(() => Float64Array.from({ length: n }, () => rng.normal()));
  const run = async (backend: unknown) => {
    const [q, k, v, w] = data.map((d, i) =>
      fromStorage(encode(dtype, d), shape, dtype, { backend: backend as never, requiresGrad: i < 3 }),
    ) as [Tensor, Tensor, Tensor, Tensor];
    const o = scaledDotProductAttention(q, k, v, { causal });
    sum(mul(o, w)).backward();
    return Promise.all([o, q.grad!, k.grad!, v.grad!].map(async (t) => Float64Array.from(await t.data())));
  };
  const [a, b] = [await run(cuda), await run(cpu)];
  const names = ['out', 'dq', 'dk', 'dv'];
  const err: Record<string, number> = {};
  const tol = dtype === 'f32' ? 2e-4 : 2e-2;
  let ok = true;
  names.forEach((nm, i) => {
    const x = a[i]!;
    const y = b[i]!;
    let scale = 1e-30;
    for (const v of y) scale = Math.max(scale, Math.abs(v));
    let m = 0;
    for (let j = 0; j < y.length; j++) m = Math.max(m, Math.abs(x[j]! - y[j]!));
    err[nm] = m / scale;
    if (!(err[nm]! <= tol)) ok = false;
  });
  if (!ok) bad++;
  console.log(JSON.stringify({ shape, dtype, causal, relErr: err, tol, ok }));
}
console.log(`attention cuda vs cpu: ${cases.length - bad} passed, ${bad} failed`);
process.exitCode = bad ? 1 : 0;
