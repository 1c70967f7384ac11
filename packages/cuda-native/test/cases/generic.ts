import {
  type Backend,
  CpuBackend,
  type DType,
  decode,
  encode,
  roundTo,
  type TensorInfo,
  type UnaryOp,
} from '@liger-mhc/core';
import type { CudaBackend } from '../../src/index.js';
import { type Check, compare, dispose, download, TOL, upload } from './util.js';

/** A small deterministic generator (tests need no seeds from elsewhere). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

function rand(n: number, seed: number, scale = 2, dtype: DType = 'f32'): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => roundTo(dtype, r() * scale));
}

/**
 * Generic kernels against plain float64 references written here (the CPU backend's generic kernels
 * are compared by the conformance kit). Values are exact in the storage dtype on input.
 */
export async function runGeneric(be: CudaBackend): Promise<Check[]> {
  const out: Check[] = [];
  const check = async (name: string, t: TensorInfo, expected: ArrayLike<number>, dtype: DType = t.dtype) => {
    out.push(compare('generic', name, await download(be, t), expected, TOL[dtype]));
    dispose(be, t);
  };
  for (const dtype of ['f32', 'bf16'] as DType[]) {
    const tag = `(${dtype})`;
    // matmul with transposes and a shared b
    const [B, M, K, N] = [3, 5, 37, 7];
    const av = rand(B * M * K, 1, 2, dtype);
    const bv = rand(K * N, 2, 2, dtype);
    const a = upload(be, av, [B, M, K], dtype);
    const b = upload(be, bv, [K, N], dtype);
    const ref = new Float64Array(B * M * N);
    for (let z = 0; z < B; z++)
      for (let i = 0; i < M; i++)
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += av[z * M * K + i * K + k]! * bv[k * N + j]!;
          ref[z * M * N + i * N + j] = s;
        }
    await check(`matmul ${tag}`, be.ops.matmul(a, b), ref);
    const bt = be.ops.transpose(b, [1, 0]);
    await check(`matmul transB ${tag}`, be.ops.matmul(a, bt, { transB: true }), ref);
    const at = be.ops.transpose(a, [0, 2, 1]);
    await check(`matmul transA ${tag}`, be.ops.matmul(at, b, { transA: true }), ref);
    dispose(be, bt, at);

    // softmax, causal, and backward
    const R = 6;
    const D = 6;
    const xv = rand(2 * R * D, 3, 6, dtype);
    const x = upload(be, xv, [2, R, D], dtype);
    for (const causal of [false, true]) {
      const e = new Float64Array(2 * R * D);
      for (let r = 0; r < 2 * R; r++) {
        const lim = causal ? (r % R) + 1 : D;
        let mx = -Infinity;
        for (let j = 0; j < lim; j++) mx = Math.max(mx, xv[r * D + j]!);
        let s = 0;
        for (let j = 0; j < lim; j++) s += Math.exp(xv[r * D + j]! - mx);
        for (let j = 0; j < D; j++) e[r * D + j] = j < lim ? Math.exp(xv[r * D + j]! - mx) / s : 0;
      }
      const y = be.ops.softmax(x, causal);
      if (!causal) {
        const gv = rand(2 * R * D, 4, 2, dtype);
        const g = upload(be, gv, [2, R, D], dtype);
        const yv = await download(be, y);
        const ge = new Float64Array(2 * R * D);
        for (let r = 0; r < 2 * R; r++) {
          let dot = 0;
          for (let j = 0; j < D; j++) dot += gv[r * D + j]! * yv[r * D + j]!;
          for (let j = 0; j < D; j++) ge[r * D + j] = yv[r * D + j]! * (gv[r * D + j]! - dot);
        }
        await check(`softmaxBackward ${tag}`, be.ops.softmaxBackward(y, g), ge);
        dispose(be, g);
      }
      await check(`softmax causal=${causal} ${tag}`, y, e);
    }

    // rmsNorm and backward
    const wv = rand(D, 5, 2, dtype);
    const w = upload(be, wv, [D], dtype);
    const rn = be.ops.rmsNorm(x, w, 1e-6);
    const ye = new Float64Array(2 * R * D);
    const iv = new Float64Array(2 * R);
    for (let r = 0; r < 2 * R; r++) {
      let ss = 0;
      for (let j = 0; j < D; j++) ss += xv[r * D + j]! ** 2;
      iv[r] = 1 / Math.sqrt(ss / D + 1e-6);
      for (let j = 0; j < D; j++) ye[r * D + j] = xv[r * D + j]! * iv[r]! * wv[j]!;
    }
    const gv = rand(2 * R * D, 6, 2, dtype);
    const g = upload(be, gv, [2, R, D], dtype);
    const rb = be.ops.rmsNormBackward(g, x, w, rn.invr);
    const gxe = new Float64Array(2 * R * D);
    const gwe = new Float64Array(D);
    for (let r = 0; r < 2 * R; r++) {
      let s = 0;
      for (let j = 0; j < D; j++) s += gv[r * D + j]! * wv[j]! * xv[r * D + j]!;
      for (let j = 0; j < D; j++) {
        gxe[r * D + j] = iv[r]! * gv[r * D + j]! * wv[j]! - (iv[r]! ** 3 * s * xv[r * D + j]!) / D;
        gwe[j] = gwe[j]! + gv[r * D + j]! * xv[r * D + j]! * iv[r]!;
      }
    }
    await check(`rmsNorm ${tag}`, rn.y, ye);
    await check(`rmsNorm invr ${tag}`, rn.invr, iv, 'f32');
    await check(`rmsNormBackward x ${tag}`, rb.gradX, gxe);
    await check(`rmsNormBackward weight ${tag}`, rb.gradWeight, gwe);

    // elementwise, broadcasting, reductions, layout
    const bb = upload(be, wv, [1, 1, D], dtype);
    const ops = ['add', 'sub', 'mul', 'div'] as const;
    for (const op of ops) {
      const e = xv.map((v, i) => {
        const u = wv[i % D]!;
        return op === 'add' ? v + u : op === 'sub' ? v - u : op === 'mul' ? v * u : v / u;
      });
      await check(`binary ${op} broadcast ${tag}`, be.ops.binary(op, x, bb), e);
    }
    const unaries = {
      neg: (v: number) => -v,
      exp: Math.exp,
      square: (v: number) => v * v,
      abs: Math.abs,
      relu: (v: number) => Math.max(v, 0),
      sigmoid: (v: number) => 1 / (1 + Math.exp(-v)),
      tanh: Math.tanh,
      silu: (v: number) => v / (1 + Math.exp(-v)),
      gelu: (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))),
    } as const;
    for (const [op, fn] of Object.entries(unaries))
      await check(`unary ${op} ${tag}`, be.ops.unary(op as keyof typeof unaries, x), xv.map(fn));
    const dsig = xv.map((v, i) => {
      const s = 1 / (1 + Math.exp(-v));
      return gv[i]! * s * (1 - s);
    });
    await check(`unaryBackward sigmoid ${tag}`, be.ops.unaryBackward('sigmoid', x, g), dsig);
    await check(
      `affine ${tag}`,
      be.ops.affine(x, 0.5, -1),
      xv.map((v) => 0.5 * v - 1),
    );
    const se = new Float64Array(2 * D);
    for (let z = 0; z < 2; z++)
      for (let r = 0; r < R; r++) for (let j = 0; j < D; j++) se[z * D + j] += xv[(z * R + r) * D + j]!;
    await check(`sum axis 1 ${tag}`, be.ops.sum(x, [1], false), se);
    await check(`sum all ${tag}`, be.ops.sum(x, [0, 1, 2], false), [xv.reduce((p, v) => p + v, 0)]);
    await check(
      `slice ${tag}`,
      be.ops.slice(x, 2, 1, 4),
      xv.filter((_, i) => i % D >= 1 && i % D < 4),
    );
    const cc = be.ops.concat([x, x], 2);
    const ce = new Float64Array(2 * R * 2 * D);
    for (let r = 0; r < 2 * R; r++) for (let j = 0; j < 2 * D; j++) ce[r * 2 * D + j] = xv[r * D + (j % D)]!;
    await check(`concat ${tag}`, cc, ce);
    await check(`broadcastTo ${tag}`, be.ops.broadcastTo(w, [3, D]), [...wv, ...wv, ...wv]);
    await check(`cast to f32 ${tag}`, be.ops.cast(x, 'f32'), xv, 'f32');
    await check(`fill ${tag}`, be.ops.fill([4, 3], dtype, 1.5), new Array(12).fill(1.5));

    // embedding, cross-entropy
    const V = 11;
    const ids = [3, 0, 10, 3, 7, 3];
    const idT = upload(be, ids, [2, 3], 'i32');
    const emb = rand(V * D, 7, 2, dtype);
    const E = upload(be, emb, [V, D], dtype);
    await check(
      `embedding ${tag}`,
      be.ops.embedding(E, idT),
      ids.flatMap((id) => emb.slice(id * D, id * D + D)),
    );
    const eg = rand(ids.length * D, 8, 2, dtype);
    const egT = upload(be, eg, [2, 3, D], dtype);
    const ebe = new Float64Array(V * D);
    ids.forEach((id, t) => {
      for (let j = 0; j < D; j++) ebe[id * D + j] += eg[t * D + j]!;
    });
    await check(`embeddingBackward ${tag}`, be.ops.embeddingBackward(egT, idT, V), ebe);
    const lg = rand(ids.length * V, 9, 8, dtype);
    const lgT = upload(be, lg, [ids.length, V], dtype);
    const labels = [1, -100, 4, 10, 0, 2];
    const lab = upload(be, labels, [ids.length], 'i32');
    const ceR = be.ops.crossEntropy(lgT, lab, -100);
    let loss = 0;
    let cnt = 0;
    const lse = new Float64Array(ids.length);
    for (let r = 0; r < ids.length; r++) {
      let mx = -Infinity;
      for (let j = 0; j < V; j++) mx = Math.max(mx, lg[r * V + j]!);
      let s = 0;
      for (let j = 0; j < V; j++) s += Math.exp(lg[r * V + j]! - mx);
      lse[r] = mx + Math.log(s);
      if (labels[r] !== -100) {
        loss += lse[r]! - lg[r * V + labels[r]!]!;
        cnt++;
      }
    }
    const gl = upload(be, [2], [], 'f32');
    const ceb = be.ops.crossEntropyBackward(gl, lgT, lab, ceR.lse, -100);
    const cbe = new Float64Array(ids.length * V);
    for (let r = 0; r < ids.length; r++)
      if (labels[r] !== -100)
        for (let j = 0; j < V; j++)
          cbe[r * V + j] = (2 / cnt) * (Math.exp(lg[r * V + j]! - lse[r]!) - (j === labels[r] ? 1 : 0));
    await check(`crossEntropy ${tag}`, ceR.loss, [loss / cnt], 'f32');
    await check(`crossEntropy lse ${tag}`, ceR.lse, lse, 'f32');
    await check(`crossEntropyBackward ${tag}`, ceb, cbe);

    // optimizers
    const pv = rand(50, 10, 2, dtype);
    const pgv = rand(50, 11, 2, dtype);
    const p = upload(be, pv, [50], dtype);
    const pg = upload(be, pgv, [50], dtype);
    const m = upload(be, new Array(50).fill(0), [50], 'f32');
    const v = upload(be, new Array(50).fill(0), [50], 'f32');
    be.ops.adamwStep(p, pg, m, v, {
      lr: 0.01,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0.1,
      step: 1,
    });
    const pe = pv.map((q, i) => {
      const g0 = pgv[i]!;
      const q1 = q * (1 - 0.01 * 0.1);
      const mh = (0.1 * g0) / 0.1;
      const vh = (0.001 * g0 * g0) / (1 - 0.999);
      return q1 - (0.01 * mh) / (Math.sqrt(vh) + 1e-8);
    });
    await check(`adamwStep ${tag}`, p, pe);
    const p2 = upload(be, pv, [50], dtype);
    const mb = upload(be, new Array(50).fill(0), [50], 'f32');
    be.ops.sgdStep(p2, pg, mb, { lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true });
    await check(
      `sgdStep nesterov ${tag}`,
      p2,
      pv.map((q, i) => {
        const d = pgv[i]! + 0.01 * q;
        return q - 0.1 * (d + 0.9 * d);
      }),
    );
    dispose(be, a, b, x, w, g, bb, idT, E, egT, lgT, lab, gl, pg, m, v, mb, ceR.lse);
  }
  return out;
}

type Maker = (data: ArrayLike<number>, shape: number[], dtype: DType) => TensorInfo;

/**
 * The same generic kernels on this backend and on the CPU reference backend (core's oracle), on
 * identical inputs, outputs compared at the tolerance of their storage dtype.
 */
export async function runGenericVsCpu(be: CudaBackend): Promise<Check[]> {
  const cpu = new CpuBackend();
  const out: Check[] = [];
  const maker =
    (b: Backend): Maker =>
    (data, shape, dtype) => {
      const h = b.alloc(dtype, data.length);
      b.write(h, encode(dtype, data));
      return { handle: h, shape: [...shape], dtype };
    };
  const run = async (name: string, fn: (b: Backend, mk: Maker) => TensorInfo | TensorInfo[]) => {
    const rc = [fn(be, maker(be))].flat();
    const rr = [fn(cpu, maker(cpu))].flat();
    for (let i = 0; i < rc.length; i++) {
      const a = decode(rc[i]!.dtype, await be.read(rc[i]!.handle));
      const e = decode(rr[i]!.dtype, await cpu.read(rr[i]!.handle));
      out.push(compare('generic vs cpu', `${name}[${i}]`, a, e, TOL[rc[i]!.dtype]));
    }
  };
  for (const dtype of ['f32', 'bf16'] as DType[]) {
    const t = `(${dtype})`;
    const xv = rand(4 * 6 * 8, 21, 6, dtype);
    const pos = xv.map((v) => roundTo(dtype, Math.abs(v) + 0.25));
    const gv = rand(4 * 6 * 8, 22, 2, dtype);
    const unaries: UnaryOp[] = [
      'neg',
      'exp',
      'log',
      'sqrt',
      'rsqrt',
      'square',
      'abs',
      'relu',
      'sigmoid',
      'tanh',
      'gelu',
      'silu',
    ];
    for (const op of unaries) {
      const src = op === 'log' || op === 'sqrt' || op === 'rsqrt' ? pos : xv;
      await run(`unary ${op} ${t}`, (b, mk) => b.ops.unary(op, mk(src, [4, 6, 8], dtype)));
      await run(`unaryBackward ${op} ${t}`, (b, mk) =>
        b.ops.unaryBackward(op, mk(src, [4, 6, 8], dtype), mk(gv, [4, 6, 8], dtype)),
      );
    }
    await run(`softmax causal ${t}`, (b, mk) => b.ops.softmax(mk(xv, [4, 6, 8], dtype), true));
    await run(`softmaxBackward ${t}`, (b, mk) => {
      const y = b.ops.softmax(mk(xv, [4, 6, 8], dtype), false);
      return b.ops.softmaxBackward(y, mk(gv, [4, 6, 8], dtype));
    });
    await run(`rmsNorm + backward ${t}`, (b, mk) => {
      const x = mk(xv, [4, 6, 8], dtype);
      const w = mk(rand(8, 23, 2, dtype), [8], dtype);
      const r = b.ops.rmsNorm(x, w, 1e-5);
      const g = b.ops.rmsNormBackward(mk(gv, [4, 6, 8], dtype), x, w, r.invr);
      return [r.y, r.invr, g.gradX, g.gradWeight];
    });
    await run(`matmul batched transA/transB ${t}`, (b, mk) => {
      const a = mk(rand(2 * 9 * 5, 24, 2, dtype), [2, 9, 5], dtype);
      const c = mk(rand(2 * 7 * 9, 25, 2, dtype), [2, 7, 9], dtype);
      return [b.ops.matmul(a, c, { transA: true, transB: true }), b.ops.matmul(c, a)];
    });
    await run(`sum/transpose/slice/concat/broadcastTo ${t}`, (b, mk) => {
      const x = mk(xv, [4, 6, 8], dtype);
      return [
        b.ops.sum(x, [0, 2], true),
        b.ops.sum(x, [-1], false),
        b.ops.transpose(x, [2, 0, 1]),
        b.ops.slice(x, 1, 2, 5),
        b.ops.concat([x, b.ops.slice(x, 0, 1, 3)], 0),
        b.ops.broadcastTo(mk(rand(8, 26, 2, dtype), [1, 8], dtype), [3, 5, 8]),
        b.ops.binary('div', x, mk(pos.slice(0, 8), [8], dtype)),
        b.ops.cast(x, dtype === 'f32' ? 'bf16' : 'f32'),
      ];
    });
    const ids = [5, 0, 9, 5, 2, 5, 7, 1];
    await run(`embedding + backward ${t}`, (b, mk) => {
      const idT = mk(ids, [2, 4], 'i32');
      return [
        b.ops.embedding(mk(rand(10 * 8, 27, 2, dtype), [10, 8], dtype), idT),
        b.ops.embeddingBackward(mk(rand(8 * 8, 28, 2, dtype), [2, 4, 8], dtype), idT, 10),
      ];
    });
    await run(`crossEntropy + backward ${t}`, (b, mk) => {
      const lg = mk(rand(8 * 10, 29, 8, dtype), [8, 10], dtype);
      const lab = mk([1, 9, -100, 3, 0, 5, 5, 2], [8], 'i32');
      const r = b.ops.crossEntropy(lg, lab, -100);
      return [r.loss, r.lse, b.ops.crossEntropyBackward(mk([0.5], [], 'f32'), lg, lab, r.lse, -100)];
    });
    await run(`adamw + sgd ${t}`, (b, mk) => {
      const p = mk(rand(40, 30, 2, dtype), [40], dtype);
      const g = mk(rand(40, 31, 2, dtype), [40], dtype);
      const m = mk(new Array(40).fill(0), [40], 'f32');
      const v = mk(new Array(40).fill(0), [40], 'f32');
      for (let step = 1; step <= 3; step++)
        b.ops.adamwStep(p, g, m, v, { lr: 0.01, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1, step });
      const q = mk(rand(40, 32, 2, dtype), [40], dtype);
      const buf = mk(new Array(40).fill(0), [40], 'f32');
      for (let i = 0; i < 3; i++)
        b.ops.sgdStep(q, g, buf, { lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true });
      return [p, m, v, q, buf];
    });
  }
  cpu.dispose();
  return out;
}
