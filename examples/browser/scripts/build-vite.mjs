// Vite (production build, default settings): any warning fails the build.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, createLogger } from 'vite';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const logger = createLogger('info');
const warnings = [];
const warn = logger.warn;
logger.warn = (msg, options) => {
  warnings.push(msg);
  warn(msg, options);
};
logger.warnOnce = logger.warn;
await build({
  root,
  base: './',
  logLevel: 'warn',
  customLogger: logger,
  build: { outDir: join(root, 'dist-vite'), emptyOutDir: true },
  configFile: false,
});
if (warnings.length) {
  console.error(`vite: ${warnings.length} warning(s)`);
  process.exit(1);
}
console.log('vite: 0 warnings');
