export { sha256Hex, writeFileAtomic } from './atomic-file.js';
export {
  isSafetensorsDType,
  METADATA_KEY,
  readSafetensors,
  SAFETENSORS_DTYPES,
  SAFETENSORS_MAX_HEADER_BYTES,
  type SafetensorsDType,
  type SafetensorsEntry,
  SafetensorsError,
  type SafetensorsFile,
  type SafetensorsInput,
  type SafetensorsRule,
  safetensorsDataSection,
  safetensorsDTypeBits,
  writeSafetensors,
} from './safetensors.js';
export { canConvert, entryToStorage, naturalDType, safetensorsDTypeOf } from './safetensors-dtypes.js';
