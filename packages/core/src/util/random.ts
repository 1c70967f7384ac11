import { ArgumentError } from '../errors.js';

/** A generator's full state: four xoshiro words and the cached second normal, if any. */
export interface RandomState {
  s: [number, number, number, number];
  spare: number | null;
}

/**
 * A small seeded generator (xoshiro128**) so initialisation and tests are reproducible on every
 * backend: random values are drawn here, in JS, then uploaded.
 */
export class Random {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare: number | null = null;

  constructor(seed = 0x9e3779b9) {
    // splitmix32 to spread the seed over the state
    let z = seed >>> 0;
    const next = () => {
      z = (z + 0x9e3779b9) >>> 0;
      let t = z;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b) >>> 0;
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35) >>> 0;
      return (t ^ (t >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** The full state, to checkpoint (plain data: JSON round-trips it exactly). */
  getState(): RandomState {
    // The words are kept as int32 or uint32 depending on the last operation; only the bits matter.
    return { s: [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0], spare: this.spare };
  }

  /** Continue from a state taken with getState(), so a resumed run draws the same numbers. */
  setState(state: RandomState): this {
    const s = state?.s;
    if (
      !Array.isArray(s) ||
      s.length !== 4 ||
      !s.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff)
    )
      throw new ArgumentError('state.s', 'expected four unsigned 32-bit integers');
    if (s.every((w) => w === 0)) throw new ArgumentError('state.s', 'an all-zero state never leaves zero');
    const spare = state.spare;
    if (spare !== null && (typeof spare !== 'number' || !Number.isFinite(spare)))
      throw new ArgumentError('state.spare', 'expected a finite number or null');
    [this.s0, this.s1, this.s2, this.s3] = s;
    this.spare = spare;
    return this;
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Box-Muller, using both values). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
