import type { MatmulOptions } from '../backend/generic-kernels.js';
import { DTypeError, ShapeError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { backendOf, needsGrad, record, wrap } from './dispatch.js';
import { sumToShape } from './reduce.js';
import { saveForBackward, viewInfo } from './save.js';

/**
 * a [..., M, K] · b [..., K, N], or b [K, N] shared across a's batch. Options transpose the last two
 * axes of an operand.
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const be = backendOf({ a, b });
  if (a.dtype !== b.dtype) throw new DTypeError('b', `${a.dtype} (the dtype of a)`, b.dtype);
  if (a.rank < 2) throw new ShapeError('a', '[..., M, K]', a.shape);
  if (b.rank < 2) throw new ShapeError('b', '[..., K, N] or [K, N]', b.shape);
  const ta = options.transA ?? false;
  const tb = options.transB ?? false;
  const ka = ta ? a.shape[a.rank - 2]! : a.shape[a.rank - 1]!;
  const kb = tb ? b.shape[b.rank - 1]! : b.shape[b.rank - 2]!;
  if (ka !== kb) throw new ShapeError('b', `inner dimension ${ka} (from a [${a.shape.join(', ')}])`, b.shape);
  if (b.rank > 2 && (b.rank !== a.rank || b.shape.slice(0, -2).some((d, i) => d !== a.shape[i])))
    throw new ShapeError('b', `batch dims [${a.shape.slice(0, -2).join(', ')}] or a 2-D matrix`, b.shape);
  const out = wrap(be, be.ops.matmul(a, b, { transA: ta, transB: tb }));
  if (!needsGrad(a, b)) return out;
  const sa = saveForBackward(a);
  const sb = saveForBackward(b);
  record([out], {
    name: 'matmul',
    inputs: [a, b],
    owned: [sa, sb],
    backward: ([g]) => {
      const k = be.ops;
      // C = op(A)·op(B). dA = dC·op(B)ᵀ (transposed back if A was), dB = op(A)ᵀ·dC (likewise).
      let ga: Tensor | null = null;
      let gb: Tensor | null = null;
      if (a.requiresGrad) {
        const gop = wrap(be, k.matmul(g!, sb, { transB: !tb })); // dC·op(B)ᵀ = d op(A)
        if (ta) {
          // A was transposed: dA = (d op(A))ᵀ over the last two axes. (Computing op(B)·dCᵀ instead
          // would put a shared 2-D B first, which the kernel contract does not allow.)
          const perm = gop.shape.map((_, i) => i);
          perm[perm.length - 2] = perm.length - 1;
          perm[perm.length - 1] = perm.length - 2;
          ga = wrap(be, k.transpose(gop, perm));
          gop.dispose();
        } else ga = gop;
      }
      if (b.requiresGrad) {
        if (b.rank === 2 && a.rank > 2) {
          // Shared weight: fold the batch into rows so the reduction over the batch happens in the matmul.
          const rows = a.size / a.shape[a.rank - 1]!;
          const a2 = viewInfo(sa, [rows, a.shape[a.rank - 1]!]);
          const g2 = viewInfo(g!, [rows, g!.shape[g!.rank - 1]!]);
          if (ta) {
            // op(A) is per-batch transposed; fall back to per-batch products summed.
            const full = wrap(be, k.matmul(sa, g!, { transA: !ta }));
            gb = sumToShape(full, [full.shape[full.rank - 2]!, full.shape[full.rank - 1]!]);
            if (tb) {
              const t = wrap(be, k.transpose(gb, [1, 0]));
              gb.dispose();
              gb = t;
            }
          } else
            gb = tb
              ? wrap(be, k.matmul(g2, a2, { transA: true }))
              : wrap(be, k.matmul(a2, g2, { transA: true }));
        } else
          gb = tb
            ? wrap(be, k.matmul(g!, sa, { transA: true, transB: ta }))
            : wrap(be, k.matmul(sa, g!, { transA: !ta }));
      }
      return [ga, gb];
    },
  });
  return out;
}
