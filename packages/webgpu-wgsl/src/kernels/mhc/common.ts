import type { DType } from '@liger-mhc/core';
import { kernelParams } from '../../kernel-params.js';
import { isHalf } from '../wgsl-lib.js';

/**
 * WGSL snippets shared by the mHC kernels.
 *
 * Every mHC kernel walks the channel axis two elements at a time ("pairs"): for bf16/f16 a pair is
 * one u32 word, so a thread that computes a pair owns the word it writes. A pair starts on a word
 * boundary only when the row length is even ("aligned"); otherwise the kernel loads element by
 * element and writes f32 into a scratch tensor that a cast kernel packs afterwards.
 */

/** WGSL expression: elements idx and idx+1 of `name` as vec2<f32>; the second is 0 unless `second`. */
export function pair(name: string, dtype: DType, idx: string, second: string, aligned: boolean): string {
  if (aligned && isHalf(dtype)) return `ld2_${name}(${idx})`;
  return `vec2<f32>(ld_${name}(${idx}), select(0.0, ld_${name}((${idx}) + 1u), ${second}))`;
}

/** Output dtype of a kernel that writes `dtype` rows of `rowLen` elements two at a time. */
export function pairOutDtype(dtype: DType, rowLen: number): DType {
  return isHalf(dtype) && rowLen % 2 !== 0 ? 'f32' : dtype;
}

/**
 * Unrolled WGSL: `f(i)` for i in 0..n-1, one statement per line. Private arrays are only ever indexed
 * by constants: Mesa (lavapipe) lowers a dynamically indexed local array to a ladder of branches per
 * access, which made some kernels take tens of seconds to compile; constant indices keep them in
 * registers on every driver.
 */
export function U(n: number, f: (i: number) => string, sep = '\n  '): string {
  return Array.from({ length: n }, (_, i) => f(i)).join(sep);
}

/**
 * WGSL: the 8 halves of `w` (a vec4<u32> of bf16/f16 pairs, element 2i in the low half of word i) as
 * f32 expressions. bf16 is the top half of an f32, so each costs one shift or mask.
 */
export function halves8(dtype: DType, w: string): string[] {
  return Array.from({ length: 8 }, (_, j) => {
    const word = `${w}[${j >> 1}]`;
    if (dtype === 'bf16')
      return j % 2 === 0 ? `bitcast<f32>(${word} << 16u)` : `bitcast<f32>(${word} & 0xffff0000u)`;
    return `unpack2x16float(${word})[${j % 2}]`;
  });
}

/** WGSL: a vec4<u32> of 8 halves from 8 f32 expressions (bf16 rounds to nearest even). */
export function pack8(dtype: DType, v: readonly string[]): string {
  const pk = dtype === 'bf16' ? 'pack_bf16' : 'pack2x16float';
  return `vec4<u32>(${[0, 1, 2, 3].map((i) => `${pk}(vec2<f32>(${v[2 * i]}, ${v[2 * i + 1]}))`).join(', ')})`;
}

/**
 * Whether a row-wise kernel can take 16-byte pieces (8 halves) of its half tensors: every listed
 * dtype is bf16/f16 and rows of c elements start on 16-byte boundaries.
 */
export function wide(c: number, ...dtypes: DType[]): boolean {
  return c % 8 === 0 && dtypes.every(isHalf);
}

/**
 * Params of the row-wise forwards (pre, post_res): N tokens of c elements, `per` units (pairs or
 * 16-byte pieces) a row, total = N·per threads.
 */
export const ROW_PARAMS = kernelParams({ N: 'u32', c: 'u32', per: 'u32', total: 'u32' });

/** Params of the row-wise backwards (pre, post_res): N tokens of c elements, pairs = ceil(c/2). */
export const ROW_BACKWARD_PARAMS = kernelParams({ N: 'u32', c: 'u32', pairs: 'u32' });

/** Workgroup size of the row-wise forwards (pre, post_res); the host's `rowwise` sizes the grid. */
export const ROW_UNIT_WG = 256;

/**
 * WGSL: the thread of a row-wise forward, one per (token, unit of its row), units being pairs or
 * 16-byte pieces: defines t (flat index), per (units a row), n (token) and u (the unit), and
 * returns past the last. Reads ROW_PARAMS' per and total.
 */
export const ROW_UNIT = `let t = wg_lin * ${ROW_UNIT_WG}u + lid;
  if (t >= params.total) { return; }
  let per = params.per;
  let n = t / per;
  let u = t - n * per;`;
