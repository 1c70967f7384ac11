import { ArgumentError } from '@liger-mhc/core';

/**
 * Named kernel parameters: one declaration per kernel (field name -> WGSL type) from which both the
 * WGSL uniform struct the kernel reads (`params.tokens`) and the host writer that fills a dispatch's
 * parameter slot are generated, so the two sides cannot disagree about a field's place.
 *
 * Field types: the scalars u32, i32 and f32, and fixed arrays of them. The uniform address space
 * wants an array stride that is a multiple of 16 bytes, so an array of n scalars is stored as
 * array<vec4<T>, ceil(n / 4)> and read through a generated accessor `params_<name>(i)`.
 */
export type ParamScalar = 'u32' | 'i32' | 'f32';

export interface ParamArray {
  readonly array: ParamScalar;
  readonly length: number;
}

export type ParamType = ParamScalar | ParamArray;

export type ParamSchema = Readonly<Record<string, ParamType>>;

/** The host-side values of a schema: a number per scalar, up to `length` numbers per array. */
export type ParamValues<S extends ParamSchema> = {
  readonly [K in keyof S]: S[K] extends ParamArray ? readonly number[] : number;
};

export interface ParamField {
  readonly name: string;
  readonly type: ParamType;
  /** Byte offset in the struct (WGSL's uniform layout rules). */
  readonly offset: number;
  readonly size: number;
  readonly align: number;
}

/** A laid-out schema: the WGSL declaration and what the host writer needs. */
export interface ParamLayout<S extends ParamSchema = ParamSchema> {
  readonly schema: S;
  readonly fields: readonly ParamField[];
  /** SizeOf(Params): the end of the last field rounded up to the struct's alignment. */
  readonly size: number;
  readonly align: number;
  /** WGSL: `struct Params`, its uniform binding (group 0, binding 0) and the array accessors. */
  readonly wgsl: string;
}

const IDENT = /^[A-Za-z][A-Za-z0-9_]*$/;

/** Reserved by WGSL or used by the generated text, so not usable as field names. */
const RESERVED = new Set([
  'params',
  'Params',
  'array',
  'bool',
  'f16',
  'f32',
  'i32',
  'u32',
  'vec2',
  'vec3',
  'vec4',
  'struct',
  'var',
  'let',
  'const',
  'fn',
  'type',
  'target',
  'set',
  'shared',
  'filter',
  'layout',
  'patch',
  'pass',
  'of',
  'mod',
  'module',
  'self',
  'this',
  'null',
  'get',
  'in',
  'out',
  'uniform',
]);

const roundUp = (align: number, n: number) => Math.ceil(n / align) * align;

function fieldLayout(name: string, type: ParamType): { size: number; align: number; wgsl: string } {
  if (type === 'u32' || type === 'i32' || type === 'f32') return { size: 4, align: 4, wgsl: type };
  if (
    typeof type !== 'object' ||
    type === null ||
    (type.array !== 'u32' && type.array !== 'i32' && type.array !== 'f32')
  )
    throw new ArgumentError(`params.${name}`, `expected 'u32', 'i32', 'f32' or { array, length }`);
  if (!Number.isInteger(type.length) || type.length < 1)
    throw new ArgumentError(`params.${name}.length`, `expected a positive integer, got ${type.length}`);
  const vecs = Math.ceil(type.length / 4);
  return { size: 16 * vecs, align: 16, wgsl: `array<vec4<${type.array}>, ${vecs}>` };
}

/**
 * Lay out a kernel's parameters as a WGSL uniform struct (fields in declaration order, each at the
 * next offset its alignment allows; the struct's size rounded up to its largest alignment).
 */
export function kernelParams<const S extends ParamSchema>(schema: S): ParamLayout<S> {
  const names = Object.keys(schema);
  // WGSL has no empty structs: a kernel without parameters declares no binding 0 (its slot is
  // still bound; an explicit layout may hold bindings the shader does not use).
  if (names.length === 0) return { schema, fields: [], size: 0, align: 4, wgsl: '' };
  const fields: ParamField[] = [];
  let end = 0;
  let align = 4;
  let members = '';
  let accessors = '';
  for (const name of names) {
    if (!IDENT.test(name) || RESERVED.has(name) || name.startsWith('params_'))
      throw new ArgumentError(`params.${name}`, 'expected a WGSL identifier that is not reserved');
    const type = schema[name]!;
    const f = fieldLayout(name, type);
    const offset = roundUp(f.align, end);
    fields.push({ name, type, offset, size: f.size, align: f.align });
    end = offset + f.size;
    align = Math.max(align, f.align);
    members += `  ${name}: ${f.wgsl},\n`;
    if (typeof type === 'object')
      accessors += `fn params_${name}(i: u32) -> ${type.array} { return params.${name}[i >> 2u][i & 3u]; }\n`;
  }
  const wgsl = `struct Params {\n${members}}\n@group(0) @binding(0) var<uniform> params: Params;\n${accessors}`;
  return { schema, fields, size: roundUp(align, end), align, wgsl };
}

/** The three views of a parameter slot's words (one ArrayBuffer). */
export interface ParamViews {
  readonly u: Uint32Array;
  readonly f: Float32Array;
  readonly i: Int32Array;
}

function scalar(kind: ParamScalar, v: unknown, where: string): number {
  if (typeof v !== 'number') throw new ArgumentError(where, `expected a number (${kind}), got ${typeof v}`);
  if (kind === 'u32' && !(Number.isInteger(v) && v >= 0 && v <= 0xffffffff))
    throw new ArgumentError(where, `expected an integer in [0, 2^32) (u32), got ${v}`);
  if (kind === 'i32' && !(Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff))
    throw new ArgumentError(where, `expected an integer in [-2^31, 2^31) (i32), got ${v}`);
  return v;
}

/**
 * Write `values` into the slot starting at word `base` of `views` (the slot's words are zero
 * already). Every field of the layout must be given with its type, and nothing else: a missing,
 * misspelt or mistyped parameter is an ArgumentError naming it, thrown before any word is written.
 */
export function writeParams<S extends ParamSchema>(
  layout: ParamLayout<S>,
  values: ParamValues<S>,
  views: ParamViews,
  base: number,
  kernel = 'kernel',
): void {
  const given = values as Readonly<Record<string, unknown>>;
  for (const key of Object.keys(given))
    if (!Object.hasOwn(layout.schema, key))
      throw new ArgumentError(
        `params.${key}`,
        `${kernel} has no parameter '${key}' (valid: ${layout.fields.map((f) => f.name).join(', ')})`,
      );
  for (const f of layout.fields) {
    const v = given[f.name];
    const where = `params.${f.name}`;
    if (v === undefined) throw new ArgumentError(where, `${kernel} needs parameter '${f.name}'`);
    if (typeof f.type === 'object') {
      const t = f.type;
      if (!Array.isArray(v) && !ArrayBuffer.isView(v))
        throw new ArgumentError(where, `expected an array of at most ${t.length} ${t.array}`);
      const a = v as ArrayLike<unknown>;
      if (a.length > t.length)
        throw new ArgumentError(where, `expected at most ${t.length} elements, got ${a.length}`);
      for (let k = 0; k < a.length; k++) scalar(t.array, a[k], `${where}[${k}]`);
    } else scalar(f.type, v, where);
  }
  for (const f of layout.fields) {
    const w = base + f.offset / 4;
    const v = given[f.name];
    const kind = typeof f.type === 'object' ? f.type.array : f.type;
    const view = kind === 'u32' ? views.u : kind === 'i32' ? views.i : views.f;
    if (typeof f.type === 'object') {
      const a = v as ArrayLike<number>;
      for (let k = 0; k < a.length; k++) view[w + k] = a[k]!;
    } else view[w] = v as number;
  }
}
