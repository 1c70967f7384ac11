import type { DType } from '@liger-mhc/core';
import type { ParamLayout } from '../kernel-params.js';

/**
 * Shared WGSL text: dtype-aware load/store helpers and the bf16 rounding.
 *
 * Storage: f32 as array<f32>, i32 as array<i32>, bf16/f16 as array<u32> holding two values per word
 * (element 2w in the low half). Halves are converted in the shader (bf16 = the top 16 bits of an f32;
 * f16 through the core builtins unpack2x16float/pack2x16float), so no kernel needs the shader-f16
 * feature and all math is f32. A thread that writes halves owns whole words: two threads never write
 * the two halves of one u32, which WGSL could not do without atomics.
 */
export type Access = 'read' | 'rw';

export interface Buf {
  name: string;
  dtype: DType;
  access: Access;
  /** Element type override (e.g. 'vec4<f32>' for packed f32 data); such a binding gets no helpers. */
  wgsl?: string;
}

export const isHalf = (d: DType): boolean => d === 'bf16' || d === 'f16';

/** Words of storage for `size` elements (halves round an odd count up). */
export function storageWords(dtype: DType, size: number): number {
  return isHalf(dtype) ? Math.ceil(size / 2) : size;
}

function elemType(d: DType): string {
  return d === 'f32' ? 'f32' : d === 'i32' ? 'i32' : 'u32';
}

/** Helpers every kernel may call: bf16 rounding and packing, an overflow-free sigmoid. */
const LIB = /* wgsl */ `
// f32 -> bf16 bits, round to nearest even; a NaN stays a (quiet) NaN.
fn bf16_bits(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  if ((b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu) != 0u) { return (b >> 16u) | 0x40u; }
  return ((b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u) & 0xffffu;
}
fn pack_bf16(v: vec2<f32>) -> u32 { return bf16_bits(v.x) | (bf16_bits(v.y) << 16u); }
fn sigmoid_f(x: f32) -> f32 {
  // Two branches so exp never overflows: exp of a large positive argument is not required to be inf.
  if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); }
  let e = exp(x);
  return e / (1.0 + e);
}
`;

function helpers(b: Buf): string {
  const n = b.name;
  switch (b.dtype) {
    case 'f32':
    case 'i32': {
      const cv = b.dtype === 'i32' ? 'f32' : '';
      const back = b.dtype === 'i32' ? 'i32' : '';
      let s = `fn ld_${n}(i_: u32) -> f32 { return ${cv}(${n}[i_]); }
fn ld2_${n}(i_: u32) -> vec2<f32> { return vec2<f32>(${cv}(${n}[i_]), ${cv}(${n}[i_ + 1u])); }
`;
      if (b.access === 'rw')
        s += `fn st_${n}(i_: u32, v_: f32) { ${n}[i_] = ${back}(v_); }
fn st2_${n}(i_: u32, v_: vec2<f32>, second_: bool) { ${n}[i_] = ${back}(v_.x); if (second_) { ${n}[i_ + 1u] = ${back}(v_.y); } }
`;
      return s;
    }
    case 'bf16': {
      let s = `fn ld_${n}(i_: u32) -> f32 {
  let q_ = ${n}[i_ >> 1u];
  return bitcast<f32>(select(q_ << 16u, q_ & 0xffff0000u, (i_ & 1u) == 1u));
}
fn ld2_${n}(i_: u32) -> vec2<f32> { let q_ = ${n}[i_ >> 1u]; return vec2<f32>(bitcast<f32>(q_ << 16u), bitcast<f32>(q_ & 0xffff0000u)); }
fn ldw_${n}(w_: u32) -> vec2<f32> { let q_ = ${n}[w_]; return vec2<f32>(bitcast<f32>(q_ << 16u), bitcast<f32>(q_ & 0xffff0000u)); }
`;
      if (b.access === 'rw')
        s += `fn st2_${n}(i_: u32, v_: vec2<f32>, second_: bool) { ${n}[i_ >> 1u] = pack_bf16(v_); }
fn stw_${n}(w_: u32, v_: vec2<f32>) { ${n}[w_] = pack_bf16(v_); }
`;
      return s;
    }
    case 'f16': {
      let s = `fn ld_${n}(i_: u32) -> f32 { return unpack2x16float(${n}[i_ >> 1u])[i_ & 1u]; }
fn ld2_${n}(i_: u32) -> vec2<f32> { return unpack2x16float(${n}[i_ >> 1u]); }
fn ldw_${n}(w_: u32) -> vec2<f32> { return unpack2x16float(${n}[w_]); }
`;
      if (b.access === 'rw')
        s += `fn st2_${n}(i_: u32, v_: vec2<f32>, second_: bool) { ${n}[i_ >> 1u] = pack2x16float(v_); }
fn stw_${n}(w_: u32, v_: vec2<f32>) { ${n}[w_] = pack2x16float(v_); }
`;
      return s;
    }
  }
}

/**
 * A kernel's parameter struct (binding 0, see kernel-params.ts), storage bindings (1..n in order)
 * and the helpers for its buffers.
 */
export function header(params: ParamLayout, bufs: readonly Buf[]): string {
  let s = `\n${params.wgsl}${LIB}`;
  bufs.forEach((b, i) => {
    const acc = b.access === 'rw' ? 'read_write' : 'read';
    s += `@group(0) @binding(${i + 1}) var<storage, ${acc}> ${b.name}: array<${b.wgsl ?? elemType(b.dtype)}>;\n`;
  });
  for (const b of bufs) if (!b.wgsl) s += helpers(b);
  return s;
}

/** The linear workgroup index for grids folded into 2-D (65535 groups per dimension at most). */
export const LINEAR_WG = 'let wg_lin = wid.x + wid.y * nwg.x;';
export const ENTRY_ARGS =
  '@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32';
