import { afterEach, describe, expect, it } from 'vitest';
import {
  BACKEND_ENV_VAR,
  checkEnv,
  declaredEnv,
  declareEnv,
  EnvError,
  envFlag,
  parseFlag,
  requestedBackend,
} from '../src/index.js';

const touched: string[] = [];
function setEnv(name: string, value: string | undefined): void {
  touched.push(name);
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
const saved = { ...process.env };
afterEach(() => {
  for (const n of touched.splice(0)) {
    if (saved[n] === undefined) delete process.env[n];
    else process.env[n] = saved[n];
  }
});

describe('environment variable registry', () => {
  const flag = envFlag('LIGER_TEST_FLAG', 'a flag for this test');

  it('flags: 0/false/off/no are off, 1/true/on/yes are on, in any case and with spaces', () => {
    for (const v of ['0', 'false', 'FALSE', 'off', ' Off ', 'no']) {
      setEnv('LIGER_TEST_FLAG', v);
      expect(flag.get()).toBe(false);
    }
    for (const v of ['1', 'true', 'True', 'on', ' ON', 'yes']) {
      setEnv('LIGER_TEST_FLAG', v);
      expect(flag.get()).toBe(true);
    }
  });

  it('unset and empty mean the default', () => {
    const on = envFlag('LIGER_TEST_FLAG_ON', 'default on', true);
    setEnv('LIGER_TEST_FLAG_ON', undefined);
    expect(on.get()).toBe(true);
    setEnv('LIGER_TEST_FLAG_ON', '   ');
    expect(on.get()).toBe(true);
    setEnv('LIGER_TEST_FLAG_ON', '0');
    expect(on.get()).toBe(false);
  });

  it('garbage is an EnvError naming the variable and the value', () => {
    for (const v of ['2', 'enable', 'yes please', '-1', 'nope', 'tru']) {
      setEnv('LIGER_TEST_FLAG', v);
      let err: unknown;
      try {
        flag.get();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(EnvError);
      expect((err as EnvError).variable).toBe('LIGER_TEST_FLAG');
      expect((err as Error).message).toContain('LIGER_TEST_FLAG');
      expect((err as Error).message).toContain(JSON.stringify(v));
    }
    setEnv('LIGER_TEST_FLAG', 'maybe');
    expect(checkEnv().map((e) => e.variable)).toContain('LIGER_TEST_FLAG');
  });

  it('ints and enums are strict', () => {
    const n = declareEnv({ name: 'LIGER_TEST_INT', type: 'int', default: 3, min: 1, max: 8, meaning: 'n' });
    const e = declareEnv({
      name: 'LIGER_TEST_ENUM',
      type: 'enum',
      values: ['a', 'b'],
      default: null,
      meaning: 'e',
    });
    setEnv('LIGER_TEST_INT', '5');
    expect(n.get()).toBe(5);
    for (const v of ['5.5', '9', '0', '1e1', 'x', '0x4']) {
      setEnv('LIGER_TEST_INT', v);
      expect(() => n.get()).toThrow(EnvError);
    }
    setEnv('LIGER_TEST_ENUM', 'b');
    expect(e.get()).toBe('b');
    setEnv('LIGER_TEST_ENUM', 'c');
    expect(() => e.get()).toThrow(/LIGER_TEST_ENUM: expected one of a, b, got "c"/);
  });

  it('a variable is declared once: same spec returns the declaration, a conflict is an error', () => {
    expect(envFlag('LIGER_TEST_FLAG', 'again')).toBe(flag);
    expect(() => envFlag('LIGER_TEST_FLAG', 'conflict', true)).toThrow(/already declared/);
    expect(() => envFlag('lower_case', 'x')).toThrow(/upper-case/);
    const names = declaredEnv().map((s) => s.name);
    expect(names).toContain('LIGER_MHC_BACKEND');
    expect(names).toContain('LIGER_MHC_CONFIG');
    for (const s of declaredEnv()) expect(s.meaning.length).toBeGreaterThan(0);
  });

  it('LIGER_MHC_BACKEND is trimmed and empty means unset', () => {
    setEnv('LIGER_MHC_BACKEND', '  cpu \n');
    expect(BACKEND_ENV_VAR.get()).toBe('cpu');
    expect(requestedBackend()).toBe('cpu');
    setEnv('LIGER_MHC_BACKEND', ' ');
    expect(BACKEND_ENV_VAR.get()).toBe(null);
  });

  it('parseFlag is exported for flags taking the same words', () => {
    expect(parseFlag('--x', 'off')).toBe(false);
    expect(() => parseFlag('--x', 'sure')).toThrow(/--x: expected 1\/true/);
  });
});
