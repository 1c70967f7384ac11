import type { TensorInfo } from '../../backend/contract.js';
import type { MatmulOptions } from '../../backend/generic-kernels.js';
import { ShapeError } from '../../errors.js';
import type { CpuBackend } from '../cpu-backend.js';
import { type FloatArray, readFloats } from '../cpu-handle.js';
import { type CpuThreadPool, KERNEL_GEMM } from '../threads/pool.js';
import { gemmNT } from './gemm-nt.js';
import { checkFloat, checkSameDType } from './util.js';

/**
 * a [..., M, K] · b [..., K, N], or b [K, N] shared across a's batch; transA / transB transpose the
 * last two axes of an operand. Batch dims must match exactly: the only broadcast is the shared 2-D b.
 *
 * How it is fast (the hot op of training on a CPU):
 * - Both operands are brought to "k-contiguous" form, A as [M, K] rows and B as Bᵀ [N, K] rows, so the
 *   inner product walks two contiguous arrays. b without transB (the usual weight [K, N]) and a with
 *   transA are transposed once into a scratch buffer: O(K·N) or O(M·K) copies against O(M·K·N)
 *   multiply-adds. b with transB and a without transA are read in place, f32 storage directly;
 *   f16/bf16 operands are widened to f32 once (exact), so the kernel only ever sees Float32Arrays.
 * - The kernel computes 4×4 output tiles in 16 local accumulators, so each loaded value feeds four
 *   multiply-adds (V8 keeps the locals in registers). Measured here against i-k-j with a row
 *   accumulator this is ~3.5× faster; 2×4 and 4×4 tiles were within noise of each other.
 * - A shared 2-D b without transA folds a's batch into M: one kernel call, one transpose of b.
 *
 * Every output element is a sum over k = 0..K-1 in increasing order, accumulated in f64 (JS numbers)
 * and rounded once when stored; products of f32 values are exact in f64, so the result does not
 * depend on the tile an element fell in: deterministic and identical to the naive triple loop.
 */
export function matmul(
  cpu: CpuBackend,
  a: TensorInfo,
  b: TensorInfo,
  options: MatmulOptions = {},
): TensorInfo {
  checkFloat(a, 'a');
  checkFloat(b, 'b');
  checkSameDType(b, 'b', a, 'a');
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2) throw new ShapeError('a', transA ? '[..., K, M]' : '[..., M, K]', a.shape);
  if (rb < 2) throw new ShapeError('b', transB ? '[..., N, K] or [N, K]' : '[..., K, N] or [K, N]', b.shape);
  const M = transA ? a.shape[ra - 1] : a.shape[ra - 2];
  const K = transA ? a.shape[ra - 2] : a.shape[ra - 1];
  const Kb = transB ? b.shape[rb - 1] : b.shape[rb - 2];
  const N = transB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (Kb !== K)
    throw new ShapeError(
      'b',
      `inner dimension ${K} (from a [${a.shape.join(', ')}]${transA ? ', transA' : ''})`,
      b.shape,
    );
  const batchShape = a.shape.slice(0, -2);
  const shared = rb === 2;
  if (!shared && (rb !== ra || b.shape.slice(0, -2).some((d, i) => d !== batchShape[i])))
    throw new ShapeError('b', `batch dims [${batchShape.join(', ')}] (those of a) or a 2-D matrix`, b.shape);
  let batch = 1;
  for (const d of batchShape) batch *= d;

  const A = f32Values(a);
  const B = f32Values(b);
  const out = cpu.output([...batchShape, M, N], a.dtype);
  const C = out.values;
  if (C.length === 0 || K === 0) return out.finish(); // empty, or an empty sum: zeros
  const pool = batch * M * N * K >= THREADED_MIN_MACS ? cpu.pool() : null;
  if (pool) {
    threadedMatmul(pool, A, B, C, { batch, M, K, N, transA, transB, shared });
    return out.finish();
  }

  // Bᵀ [N, K] for each batch (shared b: once).
  let BT = B;
  if (!transB) {
    BT = new Float32Array(shared ? K * N : batch * K * N);
    for (let p = 0; p < (shared ? 1 : batch); p++) transposeInto(B, p * K * N, K, N, BT, p * K * N);
  }
  if (shared && !transA) {
    gemmNT(A, 0, BT, 0, C, 0, batch * M, K, N);
    return out.finish();
  }
  // A as [M, K] rows; with transA one scratch matrix is reused across the batch.
  const AK = transA ? new Float32Array(M * K) : A;
  for (let p = 0; p < batch; p++) {
    let aOff = p * M * K;
    if (transA) {
      transposeInto(A, aOff, K, M, AK, 0);
      aOff = 0;
    }
    gemmNT(AK, aOff, BT, shared ? 0 : p * K * N, C, p * M * N, M, K, N);
  }
  return out.finish();
}

/**
 * Below this many multiply-adds a matmul stays on the calling thread: handing it to the workers
 * (copying operands into shared memory, waking the workers) costs more than it saves.
 */
const THREADED_MIN_MACS = 1 << 18;

interface GemmShape {
  batch: number;
  M: number;
  K: number;
  N: number;
  transA: boolean;
  transB: boolean;
  shared: boolean;
}

/**
 * The matmul on the worker pool: A (as [M, K] rows) and Bᵀ are laid out in the pool's shared
 * memory, the output rows are split into chunks that every thread takes from (see threads/pool.ts),
 * and each element is the same gemmNT sum as on one thread, stored as f64 and rounded once into C
 * here: the result is bit-identical to the single-thread path for any thread count.
 */
function threadedMatmul(
  pool: CpuThreadPool,
  A: Float32Array,
  B: Float32Array,
  C: FloatArray,
  g: GemmShape,
): void {
  const { K, N, transA, transB, shared } = g;
  // A shared b without transA folds the batch into M (one matrix of batch·M rows).
  const fold = shared && !transA;
  const batch = fold ? 1 : g.batch;
  const M = fold ? g.batch * g.M : g.M;
  const aLen = batch * M * K;
  const bCount = shared ? 1 : batch;
  const bLen = bCount * N * K;
  const cLen = batch * M * N;
  // f32 A at 0, f32 Bᵀ after it, f64 C after both (8-byte aligned).
  const bOff = aLen;
  const cOff = Math.ceil((aLen + bLen) / 2);
  const { f32, f64 } = pool.reserve((cOff + cLen) * 8);
  if (transA) for (let p = 0; p < batch; p++) transposeInto(A, p * M * K, K, M, f32, p * M * K);
  else f32.set(A.subarray(0, aLen), 0);
  if (transB) f32.set(B.subarray(0, bLen), bOff);
  else for (let p = 0; p < bCount; p++) transposeInto(B, p * K * N, K, N, f32, bOff + p * K * N);
  // About four chunks per thread, in whole 4-row tiles, so uneven progress evens out.
  const perBatch = Math.max(1, Math.ceil((4 * pool.threads) / batch));
  const R = Math.max(4, Math.ceil(M / perBatch / 4) * 4);
  const blocks = Math.ceil(M / R);
  pool.run(
    KERNEL_GEMM,
    [0, bOff, cOff, M * K, shared ? 0 : N * K, M * N, M, K, N, R, blocks],
    batch * blocks,
  );
  for (let i = 0; i < cLen; i++) C[i] = f64[cOff + i]!;
}

/**
 * Operand values as f32: f32 storage as is, half storage widened into a Float32Array. Every f16 and
 * bf16 value is exactly an f32, so this loses nothing, and it keeps the kernel on one array type
 * (V8 specialises it; a Float64Array operand ran ~1.5× slower) with half the bytes of f64.
 */
function f32Values(t: TensorInfo): Float32Array {
  const d = readFloats(t);
  return d instanceof Float32Array ? d : Float32Array.from(d);
}

/** dst[dOff + c·rows + r] = src[sOff + r·cols + c]: a [rows, cols] matrix transposed. */
function transposeInto(
  src: Float32Array,
  sOff: number,
  rows: number,
  cols: number,
  dst: Float32Array<ArrayBufferLike>,
  dOff: number,
) {
  // Blocked so that both the reads and the strided writes of a block stay in L1.
  const BS = 32;
  for (let r0 = 0; r0 < rows; r0 += BS) {
    const r1 = Math.min(rows, r0 + BS);
    for (let c0 = 0; c0 < cols; c0 += BS) {
      const c1 = Math.min(cols, c0 + BS);
      for (let r = r0; r < r1; r++) {
        const s = sOff + r * cols;
        for (let c = c0; c < c1; c++) dst[dOff + c * rows + r] = src[s + c];
      }
    }
  }
}
