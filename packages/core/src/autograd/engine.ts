import type { Backend } from '../backend/contract.js';
import { ArgumentError, LigerMhcError } from '../errors.js';
import { inScope, keep, noGrad } from '../tensor/scope.js';
import { sameShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { accumulateGrad, onesLike } from './grad-helpers.js';
import type { GradNode } from './node.js';

/**
 * Reverse-mode engine: topological order over the recorded nodes, gradients summed per output,
 * leaf gradients accumulated into `.grad` (as in PyTorch). Intermediate gradients are disposed as
 * soon as they have been consumed, and saved tensors are released unless retainGraph is set.
 */
export function runBackward(root: Tensor, gradOutput: Tensor | undefined, retainGraph: boolean): void {
  root.live('tensor');
  if (!root.requiresGrad)
    throw new ArgumentError('tensor', 'backward() of a tensor that does not require grad');
  if (gradOutput === undefined && root.size !== 1)
    throw new ArgumentError(
      'gradOutput',
      `required for a non-scalar output of shape [${root.shape.join(', ')}]`,
    );
  if (gradOutput && !sameShape(gradOutput.shape, root.shape))
    throw new ArgumentError(
      'gradOutput',
      `expected shape [${root.shape.join(', ')}], got [${gradOutput.shape.join(', ')}]`,
    );

  noGrad(() => {
    const seed = gradOutput ?? onesLike(root);
    if (root.isLeaf) {
      accumulateLeaf(root, seed, gradOutput === undefined);
      return;
    }
    // Leaves whose .grad this pass created: their running sum may be handed to a node (take).
    const fresh = new Set<Tensor>();
    const order = topoOrder(root.gradFn!);
    const pending = new Map<GradNode, (Tensor | null)[]>();
    pending.set(root.gradFn!, outputSlots(root.gradFn!));
    pending.get(root.gradFn!)![root.outputIndex] = gradOutput ? retainCopy(gradOutput) : seed;

    for (const node of order) {
      const grads = pending.get(node);
      pending.delete(node);
      if (!grads || grads.every((g) => g === null)) continue;
      if (node.released)
        throw new LigerMhcError(
          `backward through '${node.name}' a second time: its saved tensors were freed (use retainGraph)`,
        );
      const take = (i: number): Tensor | null => {
        const input = node.inputs[i];
        if (!input?.requiresGrad) return null;
        if (input.gradFn === null) {
          if (!fresh.has(input) || input.grad === null) return null;
          const g = input.grad;
          input.grad = null;
          fresh.delete(input);
          return g;
        }
        const slots = pending.get(input.gradFn);
        const g = slots?.[input.outputIndex] ?? null;
        if (g) slots![input.outputIndex] = null;
        return g;
      };
      const inGrads = node.backward(grads, take);
      for (const g of grads) g?.dispose();
      node.inputs.forEach((input, i) => {
        const g = inGrads[i] ?? null;
        if (g === null) return;
        if (input === null || !input.requiresGrad) {
          g.dispose();
          return;
        }
        if (input.gradFn === null) {
          if (input.grad === null) fresh.add(input);
          accumulateLeaf(input, g, true);
          return;
        }
        let slots = pending.get(input.gradFn);
        if (!slots) {
          slots = outputSlots(input.gradFn);
          pending.set(input.gradFn, slots);
        }
        const prev = slots[input.outputIndex] ?? null;
        slots[input.outputIndex] = prev === null ? g : accumulateGrad(prev, g);
      });
      if (!retainGraph) node.release();
    }
  });
  if (!inScope()) watchGrowth(root.backend);
}

/** How many backward() calls apart live buffers are sampled, and how many rising samples warn. */
const SAMPLE_EVERY = 100;
const RISING_SAMPLES = 4;
let growth = new WeakMap<Backend, { calls: number; samples: number[] }>();
let warned = false;

/**
 * Tensors the caller keeps (the loss, the outputs of a model) are the caller's to dispose; a loop
 * that never does, outside tidy(), grows until the garbage collector runs the finalizers, which a
 * synchronous loop never lets it do. Live buffers rising at every sample over several hundred
 * backward() calls made outside any scope get one warning that says so.
 */
function watchGrowth(be: Backend): void {
  if (warned) return;
  let g = growth.get(be);
  if (!g) {
    g = { calls: 0, samples: [] };
    growth.set(be, g);
  }
  if (++g.calls % SAMPLE_EVERY !== 0) return;
  const live = be.memory().liveBuffers;
  const prev = g.samples.at(-1);
  g.samples = prev === undefined || live > prev ? [...g.samples, live] : [live];
  if (g.samples.length < RISING_SAMPLES) return;
  warned = true;
  console.warn(
    `liger-mhc: live ${be.name} buffers rose from ${g.samples[0]} to ${live} over the last ${(RISING_SAMPLES - 1) * SAMPLE_EVERY} backward() calls made outside any scope. ` +
      'Tensors you keep (the loss, model outputs) are yours: dispose() them after use, or run each step in tidy(() => ...).',
  );
}

/** Forget the growth samples and allow the warning again (tests). */
export function resetGrowthWarning(): void {
  warned = false;
  growth = new WeakMap();
}

function outputSlots(node: GradNode): (Tensor | null)[] {
  return new Array<Tensor | null>(node.numOutputs).fill(null);
}

/** The engine disposes gradients it consumes; a caller's gradOutput must survive, so copy it. */
function retainCopy(t: Tensor): Tensor {
  return t.reshape(t.shape);
}

function accumulateLeaf(leaf: Tensor, g: Tensor, owned: boolean): void {
  const grad = owned ? g : retainCopy(g);
  leaf.grad = leaf.grad === null ? grad : accumulateGrad(leaf.grad, grad);
  // Leaf gradients outlive tidy scopes: they belong to the parameter until zeroGrad().
  keep(leaf.grad);
}

/** Nodes reachable from root, each after every node that consumes its outputs. */
function topoOrder(root: GradNode): GradNode[] {
  const visited = new Set<GradNode>();
  const post: GradNode[] = [];
  // Iterative DFS: deep models must not overflow the JS stack.
  const stack: [GradNode, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [node, i] = top;
    if (i < node.inputs.length) {
      top[1]++;
      const next = node.inputs[i]?.gradFn;
      if (next && !visited.has(next) && node.inputs[i]!.requiresGrad) {
        visited.add(next);
        stack.push([next, 0]);
      }
    } else {
      stack.pop();
      post.push(node);
    }
  }
  return post.reverse();
}
