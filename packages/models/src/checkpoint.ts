import {
  ArgumentError,
  type Backend,
  CHECKSUM_METADATA_KEY,
  checkpointDigest,
  hostPlatform,
  type Module,
  readSafetensors,
  type SafetensorsEntry,
  SafetensorsError,
  type SafetensorsFile,
  safetensorsDTypeOf,
  saveTensors,
  tensorsFromSafetensors,
  verifyChecksum,
  writeSafetensors,
} from '@liger-mhc/core';
import {
  buildModel,
  checkModelKind,
  type LanguageModel,
  type ModelKind,
  modelKindOf,
  serializableConfig,
} from './model-kinds.js';
import {
  checkConvention,
  detectLigerNesting,
  fromOurName,
  type LigerNesting,
  type NameConvention,
  toOurName,
} from './name-maps.js';

/**
 * Self-describing checkpoints: a safetensors file whose `__metadata__` says what it holds, so it
 * can be opened without knowing how it was made. Keys (all strings, as the format requires):
 *
 *   liger_mhc.format          'liger-mhc-checkpoint'
 *   liger_mhc.format_version  '1'
 *   liger_mhc.model           'mini-lm' | 'gpt' | 'tiny-deepseek-v4'
 *   liger_mhc.config          the model's constructor options, JSON
 *   liger_mhc.names           the name convention of the tensors ('liger-mhc', 'liger', 'deepseek-v4')
 *   liger_mhc.vocabulary      JSON array of the token strings, index = token id (optional)
 *
 * Any other metadata is kept as it is. Files from other tools (a PyTorch state dict) carry none of
 * this; they load when the caller says what model and names they hold.
 */
export const CHECKPOINT_FORMAT = 'liger-mhc-checkpoint';
export const CHECKPOINT_FORMAT_VERSION = 1;

const KEY = {
  format: 'liger_mhc.format',
  version: 'liger_mhc.format_version',
  model: 'liger_mhc.model',
  config: 'liger_mhc.config',
  names: 'liger_mhc.names',
  vocabulary: 'liger_mhc.vocabulary',
} as const;

export interface CheckpointInfo {
  model: ModelKind;
  config: Record<string, unknown>;
  names: NameConvention;
  vocabulary?: string[];
  formatVersion: number;
}

/** The `__metadata__` entries that describe a checkpoint. */
export function checkpointMetadata(info: Omit<CheckpointInfo, 'formatVersion'>): Record<string, string> {
  const meta: Record<string, string> = {
    [KEY.format]: CHECKPOINT_FORMAT,
    [KEY.version]: String(CHECKPOINT_FORMAT_VERSION),
    [KEY.model]: checkModelKind(info.model),
    [KEY.config]: JSON.stringify(info.config),
    [KEY.names]: checkConvention(info.names),
  };
  if (info.vocabulary) {
    if (!Array.isArray(info.vocabulary) || info.vocabulary.some((t) => typeof t !== 'string'))
      throw new ArgumentError('vocabulary', 'an array of token strings');
    meta[KEY.vocabulary] = JSON.stringify(info.vocabulary);
  }
  return meta;
}

function parseJson(meta: Record<string, string>, key: string): unknown {
  try {
    return JSON.parse(meta[key]!);
  } catch (err) {
    throw new SafetensorsError(
      'metadata-value',
      null,
      `'${key}' is not valid JSON (${(err as Error).message})`,
    );
  }
}

/** What a file's metadata says it holds, or null when it is not one of our checkpoints. */
export function readCheckpointInfo(meta: Readonly<Record<string, string>>): CheckpointInfo | null {
  if (meta[KEY.format] !== CHECKPOINT_FORMAT) return null;
  const version = Number(meta[KEY.version]);
  if (version !== CHECKPOINT_FORMAT_VERSION)
    throw new SafetensorsError(
      'metadata-value',
      null,
      `checkpoint format version ${meta[KEY.version]} is not supported (this version reads ${CHECKPOINT_FORMAT_VERSION})`,
    );
  const model = checkModelKind(meta[KEY.model] ?? '', `metadata['${KEY.model}']`);
  const config = parseJson(meta, KEY.config);
  if (config === null || typeof config !== 'object' || Array.isArray(config))
    throw new SafetensorsError('metadata-value', null, `'${KEY.config}' must be a JSON object`);
  const names = checkConvention(meta[KEY.names] ?? 'liger-mhc', `metadata['${KEY.names}']`);
  const info: CheckpointInfo = {
    model,
    config: config as Record<string, unknown>,
    names,
    formatVersion: version,
  };
  if (meta[KEY.vocabulary] !== undefined) {
    const v = parseJson(meta, KEY.vocabulary);
    if (!Array.isArray(v) || v.some((t) => typeof t !== 'string'))
      throw new SafetensorsError(
        'metadata-value',
        null,
        `'${KEY.vocabulary}' must be a JSON array of strings`,
      );
    info.vocabulary = v as string[];
  }
  return info;
}

/** A file's tensors renamed to another convention (the bytes are shared, not copied). */
export function renameEntries(
  file: SafetensorsFile,
  from: NameConvention,
  to: NameConvention,
  nesting: { from?: LigerNesting; to?: LigerNesting } = {},
): Map<string, SafetensorsEntry> {
  const fromNest = nesting.from ?? (from === 'liger' ? detectLigerNesting(file.tensors.keys()) : 'modules');
  const out = new Map<string, SafetensorsEntry>();
  for (const [name, e] of file.tensors) {
    const renamed = fromOurName(toOurName(name, from, fromNest), to, nesting.to ?? 'modules');
    if (out.has(renamed)) throw new SafetensorsError('duplicate-name', name, `renamed to '${renamed}' twice`);
    out.set(renamed, e);
  }
  return out;
}

export interface SaveCheckpointOptions {
  /** Token strings by id, stored so the checkpoint can generate text on its own. */
  vocabulary?: string[];
  /** Names to write the tensors under (default ours). */
  names?: NameConvention;
  /** Liger's nesting when names is 'liger' (default LigerMHC modules in a list). */
  nesting?: LigerNesting;
  /** Extra metadata entries. */
  metadata?: Readonly<Record<string, string>>;
}

/** Checkpoint bytes of a model: its tensors (under `names`) and metadata describing it. */
export async function checkpointBytes(
  model: Module,
  options: SaveCheckpointOptions = {},
): Promise<Uint8Array> {
  const kind = modelKindOf(model);
  if (!kind) throw new ArgumentError('model', 'a MiniMhcLM, GPT or TinyDeepseekV4');
  const names = options.names ?? 'liger-mhc';
  const entries = new Map<string, SafetensorsEntry>();
  for (const [name, t] of model.namedParameters()) {
    const raw = await t.dataRaw();
    entries.set(fromOurName(name, names, options.nesting), {
      dtype: safetensorsDTypeOf(t.dtype),
      shape: t.shape,
      data: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength),
    });
  }
  const meta = {
    ...(options.metadata ?? {}),
    ...checkpointMetadata({
      model: kind,
      config: serializableConfig(model),
      names,
      vocabulary: options.vocabulary,
    }),
  };
  return writeSafetensors(entries, meta);
}

/**
 * Save a model as a self-describing checkpoint (Node): atomically, with core's checksum in the
 * metadata beside the model description.
 */
export async function saveCheckpoint(
  model: Module,
  path: string,
  options: SaveCheckpointOptions = {},
): Promise<void> {
  // saveTensors adds the checksum; it takes tensors, so the renamed state goes through a CPU copy.
  const file = readSafetensors(await checkpointBytes(model, options));
  const state = tensorsFromSafetensors(file, { backend: 'cpu' });
  try {
    await saveTensors(path, state, { metadata: file.metadata });
  } finally {
    for (const t of Object.values(state)) t.dispose();
  }
}

export interface LoadCheckpointOptions {
  backend?: string | Backend;
  /** For files without our metadata (e.g. a PyTorch state dict): what model they hold. */
  model?: ModelKind;
  config?: Record<string, unknown>;
  /** For files without our metadata: the names they use (default 'liger-mhc'). */
  names?: NameConvention;
  vocabulary?: string[];
}

export interface LoadedCheckpoint {
  model: LanguageModel;
  info: CheckpointInfo;
  /** The file's whole `__metadata__`. */
  metadata: Record<string, string>;
}

/** Build the model a checkpoint describes and load its tensors (through the name map). */
export async function modelFromCheckpoint(
  bytes: Uint8Array,
  options: LoadCheckpointOptions = {},
): Promise<LoadedCheckpoint> {
  const file = readSafetensors(bytes);
  const described = readCheckpointInfo(file.metadata);
  const info: CheckpointInfo | null =
    described ??
    (options.model && options.config
      ? {
          model: checkModelKind(options.model),
          config: options.config,
          names: checkConvention(options.names ?? 'liger-mhc'),
          vocabulary: options.vocabulary,
          formatVersion: CHECKPOINT_FORMAT_VERSION,
        }
      : null);
  if (!info)
    throw new ArgumentError(
      'checkpoint',
      `a liger-mhc checkpoint (metadata '${KEY.format}'), or options.model and options.config for a file from another tool`,
    );
  const model = buildModel(info.model, info.config, options.backend);
  const renamed = renameEntries(file, info.names, 'liger-mhc');
  const state = tensorsFromSafetensors({ tensors: renamed, metadata: file.metadata }, { backend: 'cpu' });
  try {
    await model.loadStateDict(state);
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    for (const t of Object.values(state)) t.dispose();
  }
  return { model, info, metadata: { ...file.metadata } };
}

/** Load a checkpoint file (Node); a directory means its model.safetensors. */
export async function loadCheckpoint(
  path: string,
  options: LoadCheckpointOptions = {},
): Promise<LoadedCheckpoint> {
  const host = hostPlatform();
  let bytes: Uint8Array;
  try {
    bytes = await host.readFile(path);
  } catch (e) {
    if ((e as { code?: string }).code !== 'EISDIR') throw e;
    bytes = await host.readFile(host.resolvePath(path, 'model.safetensors'));
  }
  // core's checksum, when the file has one (every checkpoint saveCheckpoint writes does).
  await verifyChecksum(bytes, readSafetensors(bytes));
  return modelFromCheckpoint(bytes, options);
}

export interface ConvertOptions {
  /** The names the input uses (default: what its metadata says, else 'liger-mhc'). */
  from?: NameConvention;
  /** The names to write. */
  to: NameConvention;
  /** Liger's nesting of the output when `to` is 'liger' (default LigerMHC modules). */
  nesting?: LigerNesting;
  /** Describe the output (for inputs without our metadata): model kind and config. */
  model?: ModelKind;
  config?: Record<string, unknown>;
  vocabulary?: string[];
}

/**
 * Rename a checkpoint's tensors to another convention, keeping every dtype (I64 included), shape,
 * byte and foreign metadata entry as they are; the output says what it holds when the input did or
 * the options do, and then carries core's checksum. A description given for a model is checked by
 * building the model and loading the converted tensors into it.
 */
export async function convertCheckpoint(bytes: Uint8Array, options: ConvertOptions): Promise<Uint8Array> {
  const file = readSafetensors(bytes);
  await verifyChecksum(bytes, file);
  const described = readCheckpointInfo(file.metadata);
  const from = checkConvention(options.from ?? described?.names ?? 'liger-mhc', 'from');
  if (described && options.from && options.from !== described.names)
    throw new ArgumentError(
      'from',
      `'${described.names}' (what the file's metadata says), got '${options.from}'`,
    );
  const to = checkConvention(options.to, 'to');
  const entries = renameEntries(file, from, to, { to: options.nesting });
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(file.metadata)) if (!k.startsWith('liger_mhc.')) meta[k] = v;
  const model = options.model ?? described?.model;
  const config = options.config ?? described?.config;
  if (model && config) {
    Object.assign(
      meta,
      checkpointMetadata({
        model,
        config,
        names: to,
        vocabulary: options.vocabulary ?? described?.vocabulary,
      }),
    );
  } else if (options.model || options.config)
    throw new ArgumentError(
      options.model ? 'config' : 'model',
      'both model and config to describe the output',
    );
  if (!meta[KEY.format]) return writeSafetensors(entries, meta);
  const plain = writeSafetensors(entries, meta);
  // The description must match the tensors: build the model and load them (CPU, then dropped).
  const check = await modelFromCheckpoint(plain, { backend: 'cpu' });
  check.model.dispose();
  meta[CHECKSUM_METADATA_KEY] = await checkpointDigest(plain, readSafetensors(plain));
  return writeSafetensors(entries, meta);
}
