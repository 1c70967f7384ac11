import type { Tensor } from '../tensor/tensor.js';

/**
 * One recorded operation. `backward` receives one gradient per output (null where that output did
 * not reach the loss) and returns one gradient per input (null where the input needs none).
 * Gradients are written once, in core, against the backend kernel sets.
 */
/**
 * Hands a node the gradient accumulated so far for one of its inputs (from consumers processed
 * earlier), so a kernel can fold it into the gradient it writes instead of core adding afterwards.
 * The node owns what it takes, and must return the total for that input. Returns null when nothing
 * is pending (or the pending gradient belongs to the caller, e.g. a leaf's .grad from an earlier
 * backward pass).
 */
export type TakeGrad = (inputIndex: number) => Tensor | null;

export interface GradNode {
  readonly name: string;
  readonly inputs: readonly (Tensor | null)[];
  readonly numOutputs: number;
  backward(gradOutputs: readonly (Tensor | null)[], take: TakeGrad): (Tensor | null)[];
  /** Free what the node saved for backward (backend-private saves). Called after backward. */
  release(): void;
  released: boolean;
  /**
   * Hand the node an output nobody else holds (an intermediate of a module call): it is disposed
   * with the node's saved tensors on release.
   */
  adopt?(t: Tensor): void;
}

export interface NodeSpec {
  name: string;
  inputs: readonly (Tensor | null)[];
  numOutputs?: number;
  backward(gradOutputs: readonly (Tensor | null)[], take: TakeGrad): (Tensor | null)[];
  /** Tensors owned by the node only (not user-visible); disposed on release. */
  owned?: Tensor[];
}

/** Tensors a node owns (its saved views and backend saves): released by the node, not by a module call. */
const graphOwned = new WeakSet<Tensor>();

export function isGraphOwned(t: Tensor): boolean {
  return graphOwned.has(t);
}

export function makeNode(spec: NodeSpec): GradNode {
  const owned = [...(spec.owned ?? [])];
  for (const t of owned) graphOwned.add(t);
  return {
    name: spec.name,
    inputs: spec.inputs,
    numOutputs: spec.numOutputs ?? 1,
    backward: spec.backward,
    released: false,
    release() {
      if (this.released) return;
      this.released = true;
      for (const t of owned) t.dispose();
      owned.length = 0;
    },
    adopt(t: Tensor) {
      owned.push(t);
    },
  };
}
