// One declaration per addon op of its host parameters, in the order the op reads them. The C++
// header native/kernels/launch_params.h is generated from this table (scripts/gen-launch-params.mjs),
// so the TS writer (launch-params.ts) and the C++ reader share one source of names, types and
// positions. This module imports nothing so the generator can load it without a build.
//
// Types: i32 / i64 / f32 are numbers (int, int64_t, float in C++); bool travels as 0/1; i64[] is a
// variable-length tail (shapes and strides), always last, that the op reads itself from kTail on.

export type LaunchParamType = 'i32' | 'i64' | 'f32' | 'bool' | 'i64[]';
type Decl = Readonly<Record<string, LaunchParamType>>;

// Launches that share a layout share a declaration object; the header then aliases one struct.
const COEFFS_FWD = {
  tokens: 'i32',
  k: 'i32',
  hc: 'i32',
  tmax: 'i32',
  rmsEps: 'f32',
  preEps: 'f32',
  sinkhornEps: 'f32',
  postMult: 'f32',
  xDtype: 'i32',
  phiDtype: 'i32',
} as const;
const STREAMS = { tokens: 'i32', hc: 'i32', c: 'i32', dtype: 'i32' } as const;
const POST_RES = { ...STREAMS, deepseek: 'bool' } as const;
const HEAD_FWD = {
  tokens: 'i32',
  hc: 'i32',
  c: 'i32',
  xDtype: 'i32',
  paramDtype: 'i32',
  rmsEps: 'f32',
  eps: 'f32',
} as const;
const PRE_NORM = {
  tokens: 'i32',
  hc: 'i32',
  c: 'i32',
  xDtype: 'i32',
  weightDtype: 'i32',
  eps: 'f32',
} as const;
const STREAMS_X = { tokens: 'i32', hc: 'i32', c: 'i32', xDtype: 'i32' } as const;
const ROWS = { dtype: 'i32', rows: 'i64', d: 'i32' } as const;
const UNARY = { op: 'i32', dtype: 'i32', n: 'i64' } as const;
const EMBEDDING = { dtype: 'i32', tokens: 'i64', d: 'i32', vocab: 'i32' } as const;
const CROSS_ENTROPY = { dtype: 'i32', rows: 'i64', vocab: 'i32', ignoreIndex: 'i32' } as const;
const ATTENTION = {
  dtype: 'i32',
  batch: 'i64',
  tq: 'i32',
  tk: 'i32',
  d: 'i32',
  causal: 'bool',
  scale: 'f32',
} as const;

export const LAUNCH_PARAMS = {
  // mHC
  coeffs_fwd: COEFFS_FWD,
  coeffs_pre_fwd: COEFFS_FWD,
  coeffs_bwd: {
    tokens: 'i32',
    k: 'i32',
    hc: 'i32',
    tmax: 'i32',
    preEps: 'f32',
    sinkhornEps: 'f32',
    postMult: 'f32',
    xDtype: 'i32',
    phiDtype: 'i32',
    recompute: 'bool',
  },
  post_res_coeffs_pre_fwd: {
    tokens: 'i32',
    hc: 'i32',
    c: 'i32',
    tmax: 'i32',
    rmsEps: 'f32',
    preEps: 'f32',
    sinkhornEps: 'f32',
    postMult: 'f32',
    xDtype: 'i32',
    phiDtype: 'i32',
    deepseek: 'bool',
  },
  pre_fwd: STREAMS,
  pre_bwd: STREAMS,
  post_res_fwd: POST_RES,
  post_res_bwd: POST_RES,
  head_fwd: HEAD_FWD,
  head_bwd: { tokens: 'i32', hc: 'i32', c: 'i32', xDtype: 'i32', paramDtype: 'i32', eps: 'f32' },
  head_phi_grad: STREAMS_X,
  head_column_sum: { rows: 'i32', cols: 'i32' },
  pre_norm_fwd: PRE_NORM,
  pre_norm_bwd: PRE_NORM,
  pre_norm_weight_grad: STREAMS_X,
  expand_fwd: { tokens: 'i64', hc: 'i32', c: 'i32', dtype: 'i32' },
  expand_bwd: { tokens: 'i64', hc: 'i32', c: 'i32', gradDtype: 'i32', outDtype: 'i32' },
  // generic
  copy_d2d: { bytes: 'i64' },
  fill: { n: 'i64', dtype: 'i32', value: 'f32' },
  // Tail: nd, shape[nd], source strides[nd], destination strides[nd].
  copy_strided: { srcDtype: 'i32', dstDtype: 'i32', srcOffset: 'i64', dstOffset: 'i64', layout: 'i64[]' },
  // Tail: nd, shape[nd], a strides[nd], b strides[nd].
  binary: { op: 'i32', dtype: 'i32', contiguous: 'bool', layout: 'i64[]' },
  unary: UNARY,
  unary_bwd: UNARY,
  affine: { dtype: 'i32', n: 'i64', scale: 'f32', shift: 'f32' },
  // Tail: kept nd, kept shape, kept strides, reduced nd, reduced shape, reduced strides.
  sum: { dtype: 'i32', layout: 'i64[]' },
  matmul: {
    dtype: 'i32',
    batch: 'i32',
    m: 'i32',
    n: 'i32',
    k: 'i32',
    transA: 'bool',
    transB: 'bool',
    strideA: 'i64',
    strideB: 'i64',
  },
  softmax: { ...ROWS, queries: 'i32', causal: 'bool' },
  softmax_bwd: ROWS,
  rms_norm: { ...ROWS, eps: 'f32' },
  rms_norm_bwd: ROWS,
  embedding: EMBEDDING,
  embedding_bwd: EMBEDDING,
  cross_entropy: CROSS_ENTROPY,
  cross_entropy_bwd: CROSS_ENTROPY,
  attention: ATTENTION,
  attention_bwd: ATTENTION,
  adamw: {
    dtype: 'i32',
    n: 'i64',
    lr: 'f32',
    beta1: 'f32',
    beta2: 'f32',
    eps: 'f32',
    weightDecay: 'f32',
    biasCorrection1: 'f32',
    biasCorrection2: 'f32',
  },
  sgd: { dtype: 'i32', n: 'i64', lr: 'f32', momentum: 'f32', weightDecay: 'f32', nesterov: 'bool' },
} as const satisfies Record<string, Decl>;

const CPP_TYPE: Record<Exclude<LaunchParamType, 'i64[]'>, [string, string]> = {
  i32: ['int', 'a.i32(%)'],
  i64: ['int64_t', 'a.i64(%)'],
  f32: ['float', 'a.f32(%)'],
  bool: ['bool', 'a.i32(%) != 0'],
};

export function launchStructName(launch: string): string {
  return `${launch
    .split('_')
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join('')}Launch`;
}

// The C++ header: per launch a struct of its typed fields and a read() that takes them from the
// op's arguments, so kernel files say p.hc where they said a.i32(1).
export function renderLaunchParamsHeader(): string {
  const lines = [
    '// Generated from src/launch-params-decl.ts by scripts/gen-launch-params.mjs; do not edit.',
    '#pragma once',
    '#include <cstddef>',
    '#include <cstdint>',
    '',
    '#include "../runtime/ops.h"',
    '',
    'namespace lmhc {',
  ];
  const emitted = new Map<Decl, string>();
  for (const [launch, decl] of Object.entries(LAUNCH_PARAMS) as [string, Decl][]) {
    const name = launchStructName(launch);
    const first = emitted.get(decl);
    if (first) {
      lines.push('', `using ${name} = ${first};`);
      continue;
    }
    emitted.set(decl, name);
    const fields = Object.entries(decl);
    lines.push('', `struct ${name} {`);
    const reads: string[] = [];
    fields.forEach(([field, type], i) => {
      if (type === 'i64[]') {
        if (i !== fields.length - 1) throw new Error(`${launch}.${field}: a tail must be the last field`);
        lines.push(`  // ${field}: a variable-length tail the op reads from index kTail on.`);
        lines.push(`  static constexpr size_t kTail = ${i};`);
        return;
      }
      const [cpp, read] = CPP_TYPE[type];
      lines.push(`  ${cpp} ${field};`);
      reads.push(`    p.${field} = ${read.replace('%', String(i))};`);
    });
    lines.push(
      `  static ${name} read(const OpArgs& a) {`,
      `    ${name} p{};`,
      ...reads,
      '    return p;',
      '  }',
      '};',
    );
  }
  lines.push('', '}  // namespace lmhc', '');
  return lines.join('\n');
}
