import { makeNode, type NodeSpec } from '../autograd/node.js';
import type { Backend, TensorInfo } from '../backend/contract.js';
import { ArgumentError, BackendError } from '../errors.js';
import { isGradEnabled } from '../tensor/scope.js';
import { isTensor, Tensor } from '../tensor/tensor.js';
import { fmt } from '../util/options.js';

/**
 * Checks shared by every op: each named argument is a tensor (a plain array or null is an
 * ArgumentError naming it), live and all live on one backend. Returns that
 * backend. Runs before any kernel, so a bad call writes nothing.
 */
export function backendOf(args: Record<string, Tensor>): Backend {
  let backend: Backend | null = null;
  let first = '';
  for (const [name, t] of Object.entries(args)) {
    if (!isTensor(t)) throw new ArgumentError(name, `expected a Tensor, got ${fmt(t)}`);
    const b = t.storage(name).backend;
    if (backend === null) {
      backend = b;
      first = name;
    } else if (b !== backend)
      throw new BackendError(
        `${name}: expected a tensor on backend '${backend.name}' (like ${first}), got one on '${b.name}'; move it with await t.to('${backend.name}')`,
        name,
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
