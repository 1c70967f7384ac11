/**
 * @liger-mhc/models: small reference models built from core's ops and modules, usable for training
 * and inference on any backend (they call ops only, never a backend directly).
 */
export { type AttentionOptions, CausalSelfAttention } from './attention.js';
export { GPT, GPTBlock, type GPTConfig, pickMhcOptions, plainGPT, type ResidualKind } from './gpt.js';
export { MiniMhcLM, type MiniMhcLMConfig, ReferenceMiniMhcLM } from './mini-lm.js';
export { MLP, type MlpActivation, type MlpOptions } from './mlp.js';
export {
  type MhcParams,
  ReferenceMHC,
  type ReferenceMHCOptions,
  referenceMhcCoeffs,
  referenceMhcPostRes,
  referenceMhcPre,
  referenceSinkhorn,
} from './reference-mhc.js';
export { ExpandStreams, PreNorm, ReduceStreams, Residual } from './streams.js';
