// esbuild: one minified browser bundle, no externals; any warning fails the build.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const out = join(root, 'dist-esbuild');
mkdirSync(join(out, 'src'), { recursive: true });
const result = await build({
  entryPoints: [join(root, 'src', 'main.js')],
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  outfile: join(out, 'src', 'main.js'),
  logLevel: 'silent',
});
for (const w of result.warnings) console.error(`esbuild warning: ${w.text}`);
if (result.errors.length || result.warnings.length) process.exit(1);
copyFileSync(join(root, 'index.html'), join(out, 'index.html'));
const bytes = readFileSync(join(out, 'src', 'main.js'));
const size = { minified: bytes.length, gzipped: gzipSync(bytes, { level: 9 }).length };
writeFileSync(join(out, 'size.json'), JSON.stringify(size));
console.log(`esbuild: 0 warnings, bundle ${size.minified} bytes minified, ${size.gzipped} gzipped`);
