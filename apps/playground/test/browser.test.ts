import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs helper without types
import { startServer } from '../scripts/server.mjs';

/**
 * The playground in headless Chromium (Debian's `chromium`; CI installs it): the page selects a
 * backend, computes coefficients, and runs golden fixtures through the same conformance code as
 * Node. WebGPU there is SwiftShader (Vulkan on the CPU).
 */
const executable = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(executable);
if (!haveChromium)
  console.warn(`playground browser test skipped: no Chromium at ${executable} (set CHROMIUM_PATH)`);

let browser: Browser;
let server: { url: string; close(): Promise<void> };

// Budgets, not assertions: Chromium's software WebGPU (SwiftShader) compiles every kernel on the
// CPU, and CI shares two cores with the other packages' tests, so one page run may take minutes.
// The page wait ends first, so a stuck page fails with the wait's message rather than a bare
// test timeout.
const PAGE_WAIT_MS = 540_000;
const TEST_TIMEOUT_MS = 600_000;

describe.skipIf(!haveChromium)('playground in headless Chromium', () => {
  beforeAll(async () => {
    server = await startServer(0);
    browser = await chromium.launch({
      executablePath: executable,
      // Quiet, sandbox-free Chromium for a root CI container; WebGPU behind its flag on Linux.
      args: [
        '--no-sandbox',
        '--enable-unsafe-webgpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  for (const backend of ['webgpu', 'cpu']) {
    it(`runs mHC and passes the golden self-check on ${backend}`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${server.url}?backend=${backend}&selfcheck=1`);
      await page.waitForFunction(() => document.body.dataset.selfcheck || document.body.dataset.error, null, {
        timeout: PAGE_WAIT_MS,
      });
      const data = await page.evaluate(() => ({ ...document.body.dataset }));
      expect(errors).toEqual([]);
      expect(data.error).toBeUndefined();
      expect(data.backend).toBe(backend);
      const report = (await page.textContent('#selfcheck')) ?? '';
      expect(report.trim().split('\n').at(-1)).toBe(`9 passed, 0 failed on ${backend}`);
      expect(data.selfcheck).toBe('pass');
      // The demo's own check: every hRes column sums to 1.
      const log = (await page.textContent('#log')) ?? '';
      const worst = Number(/largest \|column sum - 1\| = ([0-9.e+-]+)/.exec(log)?.[1]);
      expect(worst).toBeLessThan(1e-5);
      expect(await page.locator('.token canvas').count()).toBe(12);
      await page.close();
    });
  }
});
