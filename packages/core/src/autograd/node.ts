import type { Tensor } from '../tensor/tensor.js';

/**
 * One recorded operation. `backward` receives one gradient per output (null where that output did
 * not reach the loss) and returns one gradient per input (null where the input needs none).
 * Gradients are written once, in core, against the backend kernel sets.
 */
export interface GradNode {
  readonly name: string;
  readonly inputs: readonly (Tensor | null)[];
  readonly numOutputs: number;
  backward(gradOutputs: readonly (Tensor | null)[]): (Tensor | null)[];
  /** Free what the node saved for backward (backend-private saves). Called after backward. */
  release(): void;
  released: boolean;
}

export interface NodeSpec {
  name: string;
  inputs: readonly (Tensor | null)[];
  numOutputs?: number;
  backward(gradOutputs: readonly (Tensor | null)[]): (Tensor | null)[];
  /** Tensors owned by the node only (not user-visible); disposed on release. */
  owned?: Tensor[];
}

export function makeNode(spec: NodeSpec): GradNode {
  const owned = spec.owned ?? [];
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
    },
  };
}
