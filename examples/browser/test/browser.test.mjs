// Each build (esbuild, Vite) in headless Chromium: the page runs the mHC layer forward and backward
// on WebGPU (software here: SwiftShader) and checks it against the CPU backend in the page.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const executable = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json' };

let server;
let browser;
let base;

// Budgets, not assertions: Chromium's software WebGPU (SwiftShader) compiles every kernel on the
// CPU, and CI shares two cores with the other packages' tests, so one page run may take minutes.
// The page wait ends first, so a stuck page fails with the wait's message.
const PAGE_WAIT_MS = 540_000;
const TEST_TIMEOUT_MS = 600_000;

before(async () => {
  server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(
      /^(\.\.[/\\])+/,
      '',
    );
    const file = join(root, path.endsWith('/') ? `${path}index.html` : path);
    if (!file.startsWith(root) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({
    executablePath: executable,
    args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--no-first-run'],
  });
});

after(async () => {
  await browser?.close();
  await new Promise((r) => server?.close(r) ?? r());
});

for (const build of ['dist-esbuild', 'dist-vite']) {
  test(`${build}: the layer's output and gradients match the CPU backend`, {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/${build}/`);
    await page.waitForFunction(() => document.body.dataset.ok || document.body.dataset.error, null, {
      timeout: PAGE_WAIT_MS,
    });
    const data = await page.evaluate(() => ({ ...document.body.dataset }));
    assert.deepEqual(errors, []);
    assert.equal(data.error, undefined);
    const report = JSON.parse(data.report);
    console.log(`${build}: ${data.report}`);
    assert.equal(report.ok, true);
    // Chromium here has WebGPU (SwiftShader): the fallback must not have been taken.
    assert.equal(report.backend, 'webgpu', `fell back to the CPU: ${report.fallback}`);
    assert.ok(report.loss > 0.5 && Math.abs(report.loss - report.cpuLoss) < 1e-4);
    await page.close();
  });
}
