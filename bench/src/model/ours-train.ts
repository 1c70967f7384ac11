import {
  AdamW,
  type AdamWOptions,
  type Backend,
  Random,
  serializeStateDict,
  tensor,
  tidy,
} from '@liger-mhc/core';
import { GPT } from '@liger-mhc/models';
import type { Batches } from './corpus-batches.js';
import type { GptSize } from './sizes.js';

export type Residual = 'mhc' | 'plain';

/** What a training run reports on either side. */
export interface RunReport {
  losses: number[];
  stepMs: number[];
  peakBytes: number;
}

/** The mHC options both sides use (Liger's defaults, spelled out for the twin). */
export const MHC_OPTIONS = {
  tmax: 20,
  rmsEps: 1e-6,
  preEps: 0,
  sinkhornEps: 1e-6,
  postMult: 2,
  orientation: 'liger',
} as const;

export function adamwOptions(size: GptSize): Required<AdamWOptions> {
  return { lr: size.lr, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 };
}

export function buildGpt(
  size: GptSize,
  residual: Residual,
  vocab: number,
  be: Backend,
  seed: number,
  recomputeLayers?: number,
): GPT {
  return new GPT({
    vocab,
    dim: size.dim,
    heads: size.heads,
    layers: size.layers,
    hc: residual === 'plain' ? 1 : size.hc,
    residual,
    maxSeq: size.seq,
    mlpHidden: size.mlpHidden,
    activation: 'gelu',
    activationDtype: size.dtype,
    allowFp32: true,
    ...MHC_OPTIONS,
    recomputeLayers,
    backend: be,
    rng: new Random(seed),
  });
}

/** The model's initial parameters and the batches, as one safetensors file for the twin. */
export async function initFile(model: GPT, batches: Batches, size: GptSize): Promise<Uint8Array> {
  const shape = [batches.steps, size.batch, size.seq];
  const x = tensor(batches.x, shape, { dtype: 'i32', backend: 'cpu' });
  const y = tensor(batches.y, shape, { dtype: 'i32', backend: 'cpu' });
  try {
    return await serializeStateDict({ ...model.stateDict(), 'data.x': x, 'data.y': y });
  } finally {
    x.dispose();
    y.dispose();
  }
}

/**
 * Train `steps` steps (forward, backward, AdamW, one read of the loss each step, as a training
 * loop that logs its loss does), then one more step with the backend's peak counter reset at its
 * start: the peak is every live byte during a step (weights, optimizer state, activations).
 */
export async function trainOurs(
  model: GPT,
  be: Backend,
  batches: Batches,
  size: GptSize,
  steps: number,
): Promise<RunReport> {
  const optim = new AdamW(model.parameters(), adamwOptions(size));
  const n = size.batch * size.seq;
  const ids = (src: Int32Array, s: number) =>
    tensor(src.subarray((s % batches.steps) * n, ((s % batches.steps) + 1) * n), [size.batch, size.seq], {
      dtype: 'i32',
      backend: be,
    });
  const step = (s: number) =>
    tidy(() => {
      const { loss } = model.loss(ids(batches.x, s), ids(batches.y, s));
      loss.backward();
      optim.step();
      optim.zeroGrad();
      return loss;
    });
  const losses: number[] = [];
  const stepMs: number[] = [];
  try {
    for (let s = 0; s < steps; s++) {
      const t0 = performance.now();
      const loss = step(s);
      const v = await loss.item();
      stepMs.push(performance.now() - t0);
      loss.dispose();
      if (!Number.isFinite(v))
        throw new Error(`our ${model.config.residual} GPT: loss became ${v} at step ${s + 1}`);
      losses.push(v);
    }
    await be.sync();
    be.resetPeak();
    const loss = step(steps);
    await loss.item();
    loss.dispose();
    return { losses, stepMs, peakBytes: be.memory().peakBytes };
  } finally {
    optim.dispose();
  }
}
