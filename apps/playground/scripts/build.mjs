// Bundles the page for browsers into dist/ (index.html, main.js, the self-check fixtures).
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dist = join(root, 'dist');
// The golden cases ship with the conformance kit's package (fixtures/golden).
const golden = join(
  dirname(createRequire(import.meta.url).resolve('@liger-mhc/conformance/package.json')),
  'fixtures',
  'golden',
);
const cases = [
  'coeffs-liger-shape-a',
  'coeffs-odd-hc3-c17',
  'apply-deepseek-orientation',
  'layer-hc2-c16-tmax4',
  'mini-lm-32-hc2-c16',
];

mkdirSync(join(dist, 'fixtures'), { recursive: true });
await build({
  entryPoints: [join(root, 'src', 'main.ts')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  outfile: join(dist, 'main.js'),
  // No externals: the packages' browser entries (the `default` export condition) hold no Node code.
  sourcemap: true,
  logLevel: 'warning',
});
copyFileSync(join(root, 'index.html'), join(dist, 'index.html'));
for (const c of cases) copyFileSync(join(golden, `${c}.json`), join(dist, 'fixtures', `${c}.json`));
writeFileSync(
  join(dist, 'fixtures', 'index.json'),
  JSON.stringify(cases.map((name) => ({ name, file: `${name}.json` }))),
);
console.log(`playground built in ${dist}`);
