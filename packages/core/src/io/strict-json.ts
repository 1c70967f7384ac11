/**
 * A strict JSON parser for file headers we do not trust. JSON.parse keeps the last of duplicate
 * keys, builds objects whose `__proto__` key can replace their prototype, and recurses as deep as
 * the input asks; this parser rejects duplicates, returns objects as Maps (no prototype at all),
 * bounds the nesting depth, and keeps each number's source text so callers can insist on integers.
 */

/** A JSON number, with the exact text it was written as. */
export class JsonNumber {
  constructor(readonly text: string) {}

  /** The value as a safe integer, or null when the text is not a plain integer or is not safe. */
  safeInteger(): number | null {
    if (!/^-?(0|[1-9][0-9]*)$/.test(this.text)) return null;
    const v = Number(this.text);
    return Number.isSafeInteger(v) ? v : null;
  }
}

export type JsonValue = string | JsonNumber | boolean | null | JsonValue[] | JsonObject;
export type JsonObject = Map<string, JsonValue>;

/** Why parsing failed: a duplicate key is reported apart from syntax so callers can name it. */
export class JsonParseError extends Error {
  constructor(
    readonly kind: 'syntax' | 'duplicate-key' | 'too-deep',
    readonly detail: string,
    readonly key?: string,
    readonly path?: readonly string[],
  ) {
    super(detail);
  }
}

export function parseStrictJson(text: string, maxDepth: number): JsonValue {
  let i = 0;
  const n = text.length;
  const path: string[] = [];

  const fail = (what: string): never => {
    throw new JsonParseError('syntax', `${what} at character ${i}`);
  };
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else break;
    }
  };

  const parseString = (): string => {
    // i is at the opening quote.
    i++;
    let out = '';
    let start = i;
    while (true) {
      if (i >= n) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i++;
        return out;
      }
      if (c < 0x20) fail('control character in string');
      if (c >= 0xd800 && c <= 0xdfff) {
        // The text came from a fatal UTF-8 decode, so surrogates here are always paired.
        i += 2;
        continue;
      }
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += text.slice(start, i);
      i++;
      const e = text[i];
      i++;
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          const hi = hex4();
          if (hi >= 0xdc00 && hi <= 0xdfff) fail('lone low surrogate escape');
          if (hi >= 0xd800 && hi <= 0xdbff) {
            if (text[i] !== '\\' || text[i + 1] !== 'u') fail('lone high surrogate escape');
            i += 2;
            const lo = hex4();
            if (lo < 0xdc00 || lo > 0xdfff) fail('lone high surrogate escape');
            out += String.fromCharCode(hi, lo);
          } else out += String.fromCharCode(hi);
          break;
        }
        default:
          fail('invalid escape');
      }
      start = i;
    }
  };
  const hex4 = (): number => {
    const h = text.slice(i, i + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) fail('invalid \\u escape');
    i += 4;
    return Number.parseInt(h, 16);
  };

  const parseNumber = (): JsonNumber => {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m || m[0].length === 0 || m[0] === '-') fail('invalid number');
    // A number longer than 400 characters is legal JSON but never a valid offset or shape.
    if (m![0].length >= 400) fail('number too long');
    i += m![0].length;
    return new JsonNumber(m![0]);
  };

  const literal = (word: string, value: boolean | null): boolean | null => {
    if (text.startsWith(word, i)) {
      i += word.length;
      return value;
    }
    return fail('unexpected token');
  };

  const parseValue = (depth: number): JsonValue => {
    ws();
    if (i >= n) fail('unexpected end');
    const c = text[i];
    if (c === '{' || c === '[') {
      if (depth >= maxDepth)
        throw new JsonParseError('too-deep', `nesting deeper than ${maxDepth} levels`, undefined, [...path]);
      return c === '{' ? parseObject(depth + 1) : parseArray(depth + 1);
    }
    if (c === '"') return parseString();
    if (c === 't') return literal('true', true);
    if (c === 'f') return literal('false', false);
    if (c === 'n') return literal('null', null);
    return parseNumber();
  };

  const parseObject = (depth: number): JsonObject => {
    i++;
    const obj: JsonObject = new Map();
    ws();
    if (text[i] === '}') {
      i++;
      return obj;
    }
    while (true) {
      ws();
      if (text[i] !== '"') fail('expected a string key');
      const key = parseString();
      if (obj.has(key)) throw new JsonParseError('duplicate-key', `duplicate key '${key}'`, key, [...path]);
      ws();
      if (text[i] !== ':') fail("expected ':'");
      i++;
      path.push(key);
      obj.set(key, parseValue(depth));
      path.pop();
      ws();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '}') {
        i++;
        return obj;
      }
      fail("expected ',' or '}'");
    }
  };

  const parseArray = (depth: number): JsonValue[] => {
    i++;
    const arr: JsonValue[] = [];
    ws();
    if (text[i] === ']') {
      i++;
      return arr;
    }
    while (true) {
      arr.push(parseValue(depth));
      ws();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === ']') {
        i++;
        return arr;
      }
      fail("expected ',' or ']'");
    }
  };

  const value = parseValue(0);
  ws();
  if (i !== n) fail('trailing characters after the JSON value');
  return value;
}
