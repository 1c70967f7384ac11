import { makeNode, type NodeSpec } from '../autograd/node.js';
import type { Backend, TensorInfo } from '../backend/contract.js';
import { BackendError } from '../errors.js';
import { isGradEnabled } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';

/**
 * Checks shared by every op: each named tensor is live and all live on one backend. Returns that
 * backend. Runs before any kernel, so a bad call writes nothing.
 */
export function backendOf(args: Record<string, Tensor | null | undefined>): Backend {
  let backend: Backend | null = null;
  let first = '';
  for (const [name, t] of Object.entries(args)) {
    if (!t) continue;
    const b = t.storage(name).backend;
    if (backend === null) {
      backend = b;
      first = name;
    } else if (b !== backend)
      throw new BackendError(
        `${name}: expected a tensor on backend '${backend.name}' (like ${first}), got one on '${b.name}'; move it with await t.to('${backend.name}')`,
      );
  }
  if (backend === null) throw new BackendError('no tensor arguments');
  return backend;
}

export function wrap(backend: Backend, info: TensorInfo): Tensor {
  return Tensor.fromInfo(backend, info);
}

/** Whether an op with these inputs must record a node. */
export function needsGrad(...inputs: (Tensor | null | undefined)[]): boolean {
  return isGradEnabled() && inputs.some((t) => t?.requiresGrad);
}

/** Attach a gradient node to the outputs of an op. */
export function record(outputs: readonly Tensor[], spec: NodeSpec): void {
  const node = makeNode({ ...spec, numOutputs: outputs.length });
  outputs.forEach((t, i) => {
    t.gradFn = node;
    t.outputIndex = i;
    t.requiresGrad = true;
  });
}
