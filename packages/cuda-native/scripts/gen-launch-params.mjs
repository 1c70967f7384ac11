#!/usr/bin/env node
// Writes native/kernels/launch_params.h from src/launch-params-decl.ts, transpiled in memory so no
// build is needed. test/launch-params.test.ts fails when the committed header is stale.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const src = readFileSync(new URL('../src/launch-params-decl.ts', import.meta.url), 'utf8');
const js = ts.transpileModule(src, {
  compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
}).outputText;
const { renderLaunchParamsHeader } = await import(`data:text/javascript,${encodeURIComponent(js)}`);
const out = fileURLToPath(new URL('../native/kernels/launch_params.h', import.meta.url));
const fd = openSync(`${out}.tmp`, 'w');
try {
  writeSync(fd, renderLaunchParamsHeader());
  fsyncSync(fd);
} finally {
  closeSync(fd);
}
renameSync(`${out}.tmp`, out);
