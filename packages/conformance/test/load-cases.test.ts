import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArgumentError } from '@liger-mhc/core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  defaultFixturesDir,
  defaultV4FixturesDir,
  defaultXLayerFixturesDir,
  loadCases,
} from '../src/index.js';

const scratch = mkdtempSync(join(tmpdir(), 'lmhc-kit-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A case directory with the given index.json text, and a valid case one level above it. */
function caseDir(name: string, index: string): string {
  const dir = join(scratch, name, 'cases');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(scratch, name, 'outside.json'), JSON.stringify({ name: 'outside', op: 'apply' }));
  writeFileSync(join(dir, 'index.json'), index);
  return dir;
}

describe('loadCases', () => {
  it('reads the fixtures shipped with this package (golden, golden-v4, golden-xlayer)', async () => {
    const golden = await loadCases(defaultFixturesDir());
    const v4 = await loadCases(defaultV4FixturesDir());
    const xlayer = await loadCases(defaultXLayerFixturesDir());
    expect(golden.unknown).toEqual([]);
    expect(v4.unknown).toEqual([]);
    expect(xlayer.unknown).toEqual([]);
    // 13 coeffs, 7 apply, 3 layer and 2 mini-LM cases; the V4 and cross-layer folders' counts.
    expect(golden.cases.map((c) => c.op).sort()).toEqual([
      ...Array(7).fill('apply'),
      ...Array(13).fill('coeffs'),
      ...Array(3).fill('layer'),
      'miniLm',
      'miniLm',
    ]);
    expect(v4.cases).toHaveLength(9 + 8 + 9 + 3 + 9 + 2);
    expect(xlayer.cases.every((c) => c.op === 'postResCoeffsPre')).toBe(true);
    expect(xlayer.cases).toHaveLength(8);
  });

  it('refuses an index.json entry that names a file outside its directory', async () => {
    for (const file of ['../outside.json', '/etc/hostname', 'sub/x.json', '..json', 'a.txt', 7]) {
      const dir = caseDir(`bad-${String(file).replace(/\W/g, '_')}`, JSON.stringify([{ file }]));
      const err = await loadCases(dir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ArgumentError);
      expect((err as Error).message).toContain(`${dir}/index.json[0].file`);
      expect((err as Error).message).toContain('expected a file name ending in .json in the same directory');
    }
  });

  it('refuses an index.json that is not an array', async () => {
    const dir = caseDir('not-array', JSON.stringify({ file: 'outside.json' }));
    await expect(loadCases(dir)).rejects.toThrow(
      new ArgumentError(`${dir}/index.json`, 'expected an array of { file }'),
    );
  });

  it('without an index.json, reads the *.json files of the directory holding an op', async () => {
    const dir = join(scratch, 'plain');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ name: 'b', op: 'nope' }));
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ name: 'a', op: 'apply' }));
    writeFileSync(join(dir, 'notes.json'), JSON.stringify({ text: 'no op' }));
    const { cases, unknown } = await loadCases(dir);
    expect(cases.map((c) => c.name)).toEqual(['a']);
    expect(unknown).toEqual(["b.json (op 'nope')"]);
  });
});
