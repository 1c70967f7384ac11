/**
 * @liger-mhc/models: small reference models built from core's ops and modules, usable for training
 * and inference on any backend (they call ops only, never a backend directly).
 */
export { type AttentionOptions, CausalSelfAttention } from './attention.js';
export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_FORMAT_VERSION,
  type CheckpointInfo,
  type ConvertOptions,
  checkpointBytes,
  checkpointMetadata,
  convertCheckpoint,
  type LoadCheckpointOptions,
  type LoadedCheckpoint,
  loadCheckpoint,
  modelFromCheckpoint,
  readCheckpointInfo,
  renameEntries,
  type SaveCheckpointOptions,
  saveCheckpoint,
} from './checkpoint.js';
export {
  resolveTinyV4Config,
  TinyDeepseekV4,
  type TinyDeepseekV4Config,
  V4Attention,
  V4Block,
  V4Expert,
} from './deepseek-v4.js';
export {
  type V4HcCoefficients,
  type V4HcConfig,
  type V4HcPreResult,
  v4Expand,
  v4HcCoeffs,
  v4HcHead,
  v4HcPost,
  v4HcPre,
  v4Mixes,
  v4WeightedSum,
} from './deepseek-v4-hc.js';
export { type CausalLM, type GenerateOptions, generate, sampleNext } from './generate.js';
export { GPT, GPTBlock, type GPTConfig, plainGPT, type ResidualKind } from './gpt.js';
export { MiniMhcLM, type MiniMhcLMConfig, ReferenceMiniMhcLM } from './mini-lm.js';
export { MLP, type MlpActivation, type MlpOptions } from './mlp.js';
export {
  buildModel,
  checkModelKind,
  type LanguageModel,
  MODEL_KINDS,
  type ModelKind,
  modelKindOf,
  serializableConfig,
} from './model-kinds.js';
export {
  checkConvention,
  detectLigerNesting,
  fromOurName,
  fromOurNames,
  type LigerNesting,
  NAME_CONVENTIONS,
  type NameConvention,
  toOurName,
  toOurNames,
} from './name-maps.js';
export { ReferenceMHC, type ReferenceMHCOptions } from './reference-mhc.js';
export { ExpandStreams, PreNorm, ReduceStreams, Residual } from './streams.js';
export { Tokenizer } from './tokenizer.js';
