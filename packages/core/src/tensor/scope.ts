import { isGraphOwned } from '../autograd/node.js';
import type { Tensor } from './tensor.js';

/**
 * Scopes for deterministic memory release (as in TensorFlow.js): every tensor created inside
 * `tidy(fn)` is disposed when fn returns, except the tensors fn returns and those marked with `keep`.
 * Gradients stored on leaves (`param.grad`) are never tracked, so they outlive the scope.
 */
const scopes: Set<Tensor>[] = [];
let gradDisabled = 0;

export function track(t: Tensor): void {
  scopes[scopes.length - 1]?.add(t);
}

export function untrack(t: Tensor): void {
  for (const s of scopes) s.delete(t);
}

/** Keep a tensor alive past every enclosing tidy scope. */
export function keep<T extends Tensor>(t: T): T {
  untrack(t);
  return t;
}

function collectTensors(v: unknown, out: Set<Tensor>, isTensor: (x: unknown) => x is Tensor): void {
  if (isTensor(v)) out.add(v);
  else if (Array.isArray(v)) for (const e of v) collectTensors(e, out, isTensor);
  else if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype)
    for (const e of Object.values(v)) collectTensors(e, out, isTensor);
}

let isTensorFn: ((x: unknown) => x is Tensor) | null = null;
export function setTensorPredicate(fn: (x: unknown) => x is Tensor): void {
  isTensorFn = fn;
}

/** Tensors in the result (alone, in arrays, in plain objects) survive; everything else made inside is disposed. */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  const returned = new Set<Tensor>();
  collectTensors(result, returned, isTensorFn!);
  for (const t of scope) {
    if (returned.has(t)) track(t);
    else t.dispose();
  }
  return result;
}

/**
 * Tensors reachable from a module call's result through arrays, Maps, Sets and any object's own
 * fields (a result class holding a cache counts): wider than tidy's rule, since here nothing the
 * caller can reach may be disposed.
 */
function collectReachable(
  v: unknown,
  out: Set<Tensor>,
  isTensor: (x: unknown) => x is Tensor,
  seen: Set<object>,
): void {
  if (isTensor(v)) {
    out.add(v);
    return;
  }
  if (v === null || typeof v !== 'object' || seen.has(v)) return;
  seen.add(v);
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return;
  const items =
    v instanceof Map ? [...v.keys(), ...v.values()] : v instanceof Set ? [...v] : Object.values(v);
  for (const e of items) collectReachable(e, out, isTensor, seen);
}

/**
 * A module's forward (or loss) called outside any scope, as in a plain training loop: what the call
 * returns is the caller's, like any op's result; every other tensor made inside it is an
 * intermediate nobody else can reach. Those the autograd graph still needs are handed to the node
 * that produced them and disposed when backward() releases it (PyTorch frees them then too);
 * the rest are disposed now, except leaves that require grad (made to be kept). Inside tidy() (or a call nested in another) the enclosing scope
 * decides instead. A call that throws disposes everything it made.
 */
export function ownIntermediates<T>(fn: () => T): T {
  if (scopes.length > 0) return fn();
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw err;
  }
  scopes.pop();
  const returned = new Set<Tensor>();
  collectReachable(result, returned, isTensorFn!, new Set());
  for (const t of scope) {
    if (returned.has(t) || t.isDisposed || isGraphOwned(t)) continue;
    // A leaf that requires grad, made inside (a copy a hook keeps, a lazily made weight): the maker's.
    if (t.gradFn === null && t.requiresGrad) continue;
    const node = t.gradFn;
    if (node && !node.released && node.adopt) node.adopt(t);
    else t.dispose();
  }
  return result;
}

/** Whether a tidy (or module call) scope is open: tensors made now are released by it. */
export function inScope(): boolean {
  return scopes.length > 0;
}

export function isGradEnabled(): boolean {
  return gradDisabled === 0;
}

/** Run fn without recording operations for autograd (inference, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  gradDisabled++;
  try {
    return fn();
  } finally {
    gradDisabled--;
  }
}

/**
 * Run fn with recording on, even inside noGrad (a backward that recomputes a forward to
 * differentiate it, see nn/recompute.ts).
 */
export function withGrad<T>(fn: () => T): T {
  const saved = gradDisabled;
  gradDisabled = 0;
  try {
    return fn();
  } finally {
    gradDisabled = saved;
  }
}
