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
