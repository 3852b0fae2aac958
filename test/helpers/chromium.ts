import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's chromium package; .ci/run installs it, so CI always runs the browser tests. */
export const chromiumPath = '/usr/bin/chromium';

/** Why browser tests cannot run here, or undefined when they can. */
export function chromiumMissing(): string | undefined {
  return fs.existsSync(chromiumPath) ? undefined : `chromium not installed: ${chromiumPath} is missing (apt-get install chromium)`;
}

export interface PageVisit {
  page: Page;
  /** Every URL the page requested, in order. */
  requests: string[];
  /** Console messages of type error, and uncaught page errors. */
  errors: string[];
  /** Messages of dialogs the page opened (each dismissed): user text that ran as script. */
  dialogs: string[];
}

/**
 * Opens a local HTML file in headless Chromium with a fresh profile and no network services, records
 * requests and console errors, runs `visit`, and closes the browser.
 */
export async function withPage<T>(file: string, visit: (v: PageVisit) => Promise<T>, viewport = { width: 1280, height: 900 }): Promise<T> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'moe-inspect-chromium-'));
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      viewport,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-default-apps', '--disable-dev-shm-usage'],
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    page.on('pageerror', (error) => errors.push(String(error)));
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    return await visit({ page, requests, errors, dialogs });
  } finally {
    await context?.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

/** Waits until every chart of a report page has rendered, then gives each chart's drawn size. */
export async function renderedCharts(page: Page): Promise<Array<{ chart: string | null; width: number; height: number }>> {
  // Expressions as strings: the tests compile without the DOM library.
  await page.waitForFunction("document.querySelectorAll('[data-chart]:not([data-rendered])').length === 0", null, { timeout: 60_000 });
  return page.$$eval('[data-chart]', (elements) =>
    elements.map((element) => {
      const box = element.querySelector('svg, canvas')?.getBoundingClientRect();
      return { chart: element.getAttribute('data-chart'), width: box?.width ?? 0, height: box?.height ?? 0 };
    }),
  );
}
