import { ArgumentError } from '../errors.js';
import type { SafetensorsEntry } from '../io/safetensors.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from './module.js';
import {
  loadSafetensorsInto,
  readSafetensorsFile,
  saveTensors,
  tensorsFromSafetensors,
} from './state-dict-io.js';

/**
 * Training checkpoints: a model's parameters, its optimizer's state and the caller's own resume
 * state (step, random generator, logs: anything JSON can hold) in ONE safetensors file, so a
 * single atomic rename switches from the previous checkpoint to the new one and a kill at any
 * point leaves one or the other, never a mix. Tensors are named `model.<param>` and
 * `optimizer.<index>.<slot>`; the rest is JSON in the metadata under CHECKPOINT_METADATA_KEY.
 */
export const CHECKPOINT_METADATA_KEY = 'liger_mhc.checkpoint';
export const CHECKPOINT_FORMAT = 1;

export interface SaveCheckpointOptions {
  model: Module;
  optimizer?: Optimizer;
  /** The caller's resume state (must survive JSON.stringify / JSON.parse unchanged). */
  state?: unknown;
  /** More string metadata (model config, vocabulary, ...). */
  metadata?: Readonly<Record<string, string>>;
}

export async function saveCheckpoint(path: string, options: SaveCheckpointOptions): Promise<void> {
  const { model, optimizer, state, metadata = {} } = options;
  const tensors: Record<string, Tensor> = Object.create(null);
  for (const [name, p] of model.namedParameters()) tensors[`model.${name}`] = p;
  const opt = optimizer?.stateDict();
  if (opt) for (const [name, t] of Object.entries(opt.tensors)) tensors[`optimizer.${name}`] = t;
  const record = {
    format: CHECKPOINT_FORMAT,
    optimizer: opt ? { kind: opt.kind, step: opt.step, hyper: opt.hyper } : null,
    state: state ?? null,
  };
  await saveTensors(path, tensors, {
    metadata: { ...metadata, [CHECKPOINT_METADATA_KEY]: JSON.stringify(record) },
  });
}

export interface LoadCheckpointOptions {
  model: Module;
  optimizer?: Optimizer;
}

/**
 * Restore a checkpoint written by saveCheckpoint: its checksum is required and verified, every
 * name, shape and dtype is checked before the model changes. Returns the caller's state and the
 * file's metadata.
 */
export async function loadCheckpoint(
  path: string,
  options: LoadCheckpointOptions,
): Promise<{ state: unknown; metadata: Record<string, string> }> {
  const file = await readSafetensorsFile(path, { requireChecksum: true });
  const text = file.metadata[CHECKPOINT_METADATA_KEY];
  if (text === undefined) throw new ArgumentError(path, 'not a training checkpoint (no checkpoint metadata)');
  let record: {
    format?: unknown;
    optimizer?: { kind: string; step: number; hyper: Record<string, number | boolean> } | null;
    state?: unknown;
  };
  try {
    record = JSON.parse(text);
  } catch {
    throw new ArgumentError(path, 'checkpoint metadata is not valid JSON');
  }
  if (record === null || typeof record !== 'object' || record.format !== CHECKPOINT_FORMAT)
    throw new ArgumentError(path, `unsupported checkpoint format ${JSON.stringify(record?.format)}`);
  const modelPart = new Map<string, SafetensorsEntry>();
  const optPart = new Map<string, SafetensorsEntry>();
  for (const [name, e] of file.tensors) {
    if (name.startsWith('model.')) modelPart.set(name.slice(6), e);
    else if (name.startsWith('optimizer.')) optPart.set(name.slice(10), e);
    else throw new ArgumentError(path, `unexpected tensor '${name}' in a checkpoint`);
  }
  if (options.optimizer && !record.optimizer)
    throw new ArgumentError(path, 'the checkpoint holds no optimizer state');
  // The optimizer's tensors are staged on the CPU and checked before the model is touched (whose
  // own load checks everything before writing), so a bad checkpoint leaves both as they were.
  const staged = options.optimizer
    ? tensorsFromSafetensors({ tensors: optPart, metadata: {} }, { backend: 'cpu' })
    : null;
  try {
    const optState =
      options.optimizer && staged && record.optimizer ? { ...record.optimizer, tensors: staged } : null;
    if (optState) options.optimizer!.checkStateDict(optState);
    await loadSafetensorsInto(options.model, { tensors: modelPart, metadata: file.metadata });
    if (optState) await options.optimizer!.loadStateDict(optState);
  } finally {
    if (staged) for (const t of Object.values(staged)) t.dispose();
  }
  return { state: record.state ?? null, metadata: { ...file.metadata } };
}
